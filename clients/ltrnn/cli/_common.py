"""Options, argument types and helpers that several ``ltrnn`` commands share."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import sys
import tempfile
from pathlib import Path

# Exit statuses: 0 success, 1 a failed command (message on stderr), 2 a bad command line
# (argparse's own), 130 interrupted by Ctrl-C.
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
SHIPPED_DATASETS = ("hennig2018",)
# Bins per trial kept from the shipped session when --max-bins is not given: its 5 freeze
# bins and the first 25 bins of movement, which keeps a sweep short (see the README).
HENNIG2018_DEFAULT_BINS = 30
PROGRESS_CHOICES = ("auto", "bar", "log", "none")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def integer_list(text: str) -> list[int]:
    """Parse "1-4", "1,2,3" or "1-3,8" into a sorted list of distinct integers."""
    values = []
    for part in text.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise argparse.ArgumentTypeError(
                    f"invalid range {part!r}: the end is below the start; write e.g. 1-4"
                )
            values.extend(range(first, last + 1))
        elif part.isdigit():
            values.append(int(part))
        else:
            raise argparse.ArgumentTypeError(
                f"invalid list {text!r}: give non-negative integers and ranges such as "
                "1-4 or 1,2,3"
            )
    return sorted(set(values))


def positive_integer_list(text: str) -> list[int]:
    """Parse a list as :func:`integer_list` does and reject 0, for ranks and RNN sizes."""
    values = integer_list(text)
    if 0 in values:
        raise argparse.ArgumentTypeError(
            f"invalid list {text!r}: every value must be an integer >= 1, got 0"
        )
    return values


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the server: a remote address or an embedded one."""
    group = parser.add_argument_group(
        "server (without --address, an embedded server runs in this process)"
    )
    group.add_argument(
        "--address", default="", metavar="HOST:PORT",
        help="address of a running ltrnn server (ltrnn serve); empty starts an embedded "
        "server with local Ray for the duration of the command",
    )
    group.add_argument(
        "--token", default=None, metavar="TOKEN",
        help="bearer token sent to the server (default: the LTRNN_TOKEN environment variable)",
    )
    group.add_argument(
        "--tls-ca", default=None, metavar="FILE",
        help="PEM file of the certificate authority of the server's TLS certificate; "
        "turns TLS on",
    )
    group.add_argument(
        "--timeout", type=positive_float, default=60.0, metavar="SECONDS",
        help="deadline of each request to the server, in seconds (default: 60); waiting "
        "for a job has no deadline",
    )
    group.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help="artifact and job directory of the embedded server (default: LTRNN_DATA_DIR "
        "or ./ltrnn-data); later commands without --address find its jobs there",
    )
    group.add_argument(
        "--ray-num-cpus", type=positive_int, default=None, metavar="N",
        help="CPUs of the embedded server's local Ray runtime, which is how many cells fit "
        "at once (default: LTRNN_RAY_NUM_CPUS or all cores)",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true",
        help="print exactly one JSON document on stdout; progress and messages go to stderr",
    )


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", choices=PROGRESS_CHOICES, default="auto",
        help="progress display on stderr: a bar, log lines, or none (default: auto, a bar "
        "on a terminal and log lines otherwise)",
    )


def _embedded_settings(args) -> dict:
    data_dir = args.data_dir or os.environ.get("LTRNN_DATA_DIR") or "./ltrnn-data"
    cpus = args.ray_num_cpus
    if cpus is None and os.environ.get("LTRNN_RAY_NUM_CPUS"):
        raw = os.environ["LTRNN_RAY_NUM_CPUS"]
        try:
            cpus = int(raw)
        except ValueError:
            raise ValueError(f"LTRNN_RAY_NUM_CPUS must be an integer, got {raw!r}") from None
    return {"data_dir": data_dir, "ray_num_cpus": cpus or None}


@contextlib.contextmanager
def open_client(args):
    """Yield a Client of ``--address``, or of an embedded server that stops on exit."""
    from ltrnn.sdk import Client, embedded_server

    if args.address:
        with Client(args.address, token=args.token, tls_ca=args.tls_ca,
                    timeout=args.timeout) as client:
            yield client
        return
    settings = _embedded_settings(args)
    cpus = settings["ray_num_cpus"] or "all"
    note(f"starting an embedded server (data in {settings['data_dir']}, {cpus} CPUs for "
         "Ray); give --address to use a running server")
    with embedded_server(**settings) as server:
        with server.connect(timeout=args.timeout) as client:
            yield client


def note(text: str) -> None:
    """Write a message for the user to stderr, so that stdout keeps only results."""
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_for_results(json_mode: bool):
    """In JSON mode, send everything printed during the block to stderr.

    Ray prints the output of its workers to the driver's stdout, which would break the
    promise of one JSON document on stdout. The caller prints the document after the block.
    """
    if not json_mode:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def print_json(document) -> None:
    """Print one JSON document on stdout: NaN and infinities become null."""
    from ltrnn.sdk.results import json_ready

    print(json.dumps(json_ready(document), indent=2, allow_nan=False))


def load_data(data: str, max_bins: int | None):
    """Load DATA (an .npz path or a shipped session name) as a Recording.

    Returns
    -------
    recording : Recording
    max_bins : int or None
        The crop applied (the shipped session's default when not given).
    """
    from ltrnn.engine.convert import crop_bins
    from ltrnn.engine.io import load_npz

    if data == "hennig2018":
        from ltrnn.datasets import load_hennig2018

        max_bins = HENNIG2018_DEFAULT_BINS if max_bins is None else max_bins
        return load_hennig2018(max_bins=max_bins), max_bins
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(
            f"DATA {data!r} is neither a file nor a shipped session; give an .npz recording "
            f"or one of {list(SHIPPED_DATASETS)}"
        )
    return crop_bins(load_npz(path), max_bins), max_bins


@contextlib.contextmanager
def recording_file(data: str, recording, max_bins):
    """Yield the .npz file to upload for DATA: the file itself when it was not cropped,
    otherwise a temporary file with ``recording``."""
    from ltrnn.engine.io import save_npz

    if data not in SHIPPED_DATASETS and max_bins is None:
        yield Path(data)
        return
    with tempfile.TemporaryDirectory(prefix="ltrnn-cli-") as directory:
        yield save_npz(recording, Path(directory) / "recording.npz")


def user_errors(command: str):
    """Wrap a command handler: errors become one line on stderr and a non-zero status.

    Errors of the user's input or of the server (ValueError, LtrnnError, OSError) print
    without a traceback; Ctrl-C exits with 130.
    """
    from ltrnn.sdk.errors import LtrnnError

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(args):
            try:
                return handler(args)
            except KeyboardInterrupt:
                note(f"ltrnn {command}: interrupted")
                return EXIT_INTERRUPTED
            except (LtrnnError, ValueError, OSError) as error:
                note(f"ltrnn {command}: error: {error}")
                return EXIT_FAILED

        return wrapper

    return decorate


def set_threads(count: int) -> None:
    """Set torch's intra-op threads of this process (baselines and local checks)."""
    import torch

    torch.set_num_threads(count)
