"""``ltrnn convert``: turn published session files into ltrnn .npz recordings."""

from __future__ import annotations

import argparse

from . import _common
from ._common import positive_int


def register(subparsers) -> None:
    """Add the ``convert`` command and its ``hennig2018`` format."""
    parser = subparsers.add_parser(
        "convert", help="convert a published session file to an ltrnn .npz recording",
        description="Convert a published session file to the .npz layout of docs/data.md.",
    )
    formats = parser.add_subparsers(dest="format", metavar="FORMAT")
    hennig = formats.add_parser(
        "hennig2018", help="a BCI session .mat file of Hennig et al. (2018)",
        description="Convert data/sessions/<date>.mat of the repository "
        "mobeets/neural-redundancy-elife2018 into spike counts per trial.",
    )
    hennig.add_argument("mat", metavar="MAT", help="the session's .mat file")
    hennig.add_argument("--out", required=True, metavar="FILE",
                        help="the .npz file to write (its directory must exist)")
    hennig.add_argument(
        "--max-bins", type=positive_int, default=None, metavar="BINS",
        help="keep the first BINS time bins of every trial, the 5 freeze bins included "
        "(default: whole trials)",
    )
    hennig.set_defaults(handler=_common.user_errors("convert")(run_hennig2018))
    parser.set_defaults(handler=lambda args: _missing_format(parser))


def _missing_format(parser) -> int:
    parser.print_help()
    return 2


def run_hennig2018(args: argparse.Namespace) -> int:
    from ltrnn.engine.convert import convert_hennig2018
    from ltrnn.engine.io import save_npz

    recording = convert_hennig2018(args.mat, max_bins=args.max_bins)
    path = save_npz(recording, args.out)
    print(f"wrote {path}: {recording.n_trials} trials x {recording.n_neurons} neurons x "
          f"{recording.n_times} bins ({recording.kind}), epochs {recording.epochs}")
    return 0
