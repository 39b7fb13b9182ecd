"""``ltrnn report``: plots and a JSON summary of a finished sweep or of one fitted model."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from . import _common
from ._common import add_connection_options, positive_int

JOB_ID = re.compile(r"[0-9a-f]{32}")


def register(subparsers) -> None:
    """Add the ``report`` command."""
    parser = subparsers.add_parser(
        "report", help="write plots and a JSON summary of a sweep or a model",
        description="Write the loss-against-rank figure and the chosen model's figures of a "
        "sweep job, or the figures of one model, with a JSON summary, into --out.",
    )
    parser.add_argument("target", metavar="JOB_OR_MODEL",
                        help="a sweep job id (32 hex digits) or a model id (64 hex digits)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory for report.json and the figures (created when missing)")
    parser.add_argument(
        "--data", default=None, metavar="DATA",
        help="the recording that was fitted (an .npz file or 'hennig2018'), for the "
        "observed-against-predicted figure; the server does not send datasets back",
    )
    parser.add_argument(
        "--max-bins", type=positive_int, default=None, metavar="BINS",
        help="bins per trial kept from DATA, as given to the fit (default: 30 for "
        "hennig2018, all bins for a file)",
    )
    parser.add_argument("--formats", default="png,pdf", metavar="LIST",
                        help="figure formats, comma-separated: png, pdf, svg (default: png,pdf)")
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("report")(run_report))


def run_report(args: argparse.Namespace) -> int:
    from ltrnn.sdk.errors import NotFound
    from ltrnn.sdk.results import json_ready

    formats = [value.strip() for value in args.formats.split(",") if value.strip()]
    recording = None
    if args.data:
        recording, _ = _common.load_data(args.data, args.max_bins)
    out = Path(args.out)
    with _common.open_client(args) as client:
        if JOB_ID.fullmatch(args.target):
            result = client.sweep_result(args.target)
            _check_recording(recording, client, result.chosen_model_id)
            document = result.to_dict()
            written = result.plot(out, formats=formats, recording=recording)
        else:
            try:
                model = client.model(args.target, latents=True)
            except NotFound:
                raise NotFound(
                    f"{args.target!r} is neither a job nor a model on this server; list jobs "
                    "with 'ltrnn jobs'"
                ) from None
            _check_recording(recording, client, model.model_id)
            document = model.summary()
            written = model.plot(out, formats=formats, recording=recording)
    path = out / "report.json"
    document["files"] = [str(item) for item in written] + [str(path)]
    path.write_text(json.dumps(json_ready(document), indent=2, allow_nan=False) + "\n")
    print(f"wrote {len(document['files'])} files to {out}")
    return 0


def _check_recording(recording, client, model_id: str) -> None:
    """Reject --data whose shape differs from the model's recording."""
    if recording is None or not model_id:
        return
    shape = client.model(model_id).recording["shape"]
    if list(recording.shape) != list(shape):
        raise ValueError(
            f"--data has shape {list(recording.shape)} but the model was fitted to shape "
            f"{list(shape)}; give the same file and --max-bins as the fit"
        )
