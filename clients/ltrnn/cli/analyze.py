"""``ltrnn analyze``: tensor rank, learning ranks, subspaces and model analyses on the server."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from . import _common
from ._common import (
    add_connection_options,
    add_json_option,
    add_progress_option,
    integer_list,
    positive_int,
    positive_integer_list,
)

# npz keys tried, in order, when --key is not given: the weights of a task-RNN experiment
# (ltrnn simulate task-rnn) come first.
DEFAULT_KEYS = ("weights", "tensor")


def register(subparsers) -> None:
    """Add ``analyze`` with its ``tensor-rank``, ``learning-ranks``, ``subspaces`` and
    ``model`` analyses."""
    parser = subparsers.add_parser(
        "analyze", help="tensor rank, learning ranks, subspaces and model analyses",
        description="Run an analysis on the AnalysisService of the server.",
    )
    analyses = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    _register_tensor_rank(analyses)
    _register_learning_ranks(analyses)
    _register_subspaces(analyses)
    _register_model(analyses)
    parser.set_defaults(handler=lambda args: _missing_analysis(parser))


def _missing_analysis(parser) -> int:
    parser.print_help()
    return 2


def _add_tensor_file(parser, what: str) -> None:
    parser.add_argument("file", metavar="FILE", help=f"{what}: an .npy file or an .npz archive")
    parser.add_argument(
        "--key", default=None, metavar="KEY",
        help="array of an .npz archive to read (default: 'weights', 'tensor', or the only "
        "array)",
    )


def _register_tensor_rank(analyses) -> None:
    parser = analyses.add_parser(
        "tensor-rank", help="estimate the CP rank of a 3-way tensor",
        description="Fit CP decompositions over a range of ranks with several random "
        "starts and suggest the smallest rank that fits as well as the best and whose "
        "solutions recur across starts. The fits run as a job on the server.",
    )
    _add_tensor_file(parser, "the tensor, 3 dimensions, e.g. weights across learning (K, N, N)")
    parser.add_argument(
        "--ranks", type=positive_integer_list, default=integer_list("1-6"), metavar="LIST",
        help="CP ranks to fit, e.g. 1-6 or 1,2,4 (default: 1-6)",
    )
    parser.add_argument("--replicates", type=positive_int, default=3, metavar="N",
                        help="fits per rank from different initialisations, >= 2 (default: 3)")
    parser.add_argument(
        "--heldout-fraction", type=float, default=0.0, metavar="FRACTION",
        help="fraction of entries held out to score each rank, in [0, 0.5) (default: 0, "
        "fit every entry)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="SEED",
                        help="seed of the initialisations and the held-out draw (default: 0)")
    parser.add_argument(
        "--changes", action="store_true",
        help="analyse the changes W[k] - W[0] instead of the tensor itself",
    )
    add_json_option(parser)
    add_progress_option(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("analyze tensor-rank")(run_tensor_rank))


def _register_learning_ranks(analyses) -> None:
    parser = analyses.add_parser(
        "learning-ranks", help="ranks of weight changes against the linear-RNN bound",
        description="Matrix ranks of W[k] - W[0], the multilinear and CP ranks of the change "
        "tensor, and the bound d_in + d_out that gradient descent on a linear RNN obeys.",
    )
    _add_tensor_file(parser, "weights across learning, shape (K, N, N)")
    parser.add_argument("--d-in", type=positive_int, required=True, metavar="D",
                        help="input dimension of the task")
    parser.add_argument("--d-out", type=positive_int, required=True, metavar="D",
                        help="output dimension of the task")
    parser.add_argument(
        "--tolerance", type=float, default=0.0, metavar="RATIO",
        help="singular values below RATIO times the largest count as zero, in (0, 1) "
        "(default: 0, meaning 1e-6)",
    )
    add_json_option(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("analyze learning-ranks")(run_learning_ranks))


def _register_subspaces(analyses) -> None:
    parser = analyses.add_parser(
        "subspaces", help="principal angles between two subspaces",
        description="Principal angles between subspaces A and B. Each is a basis file "
        "(.npy, or .npz with FILE.npz:KEY; columns are basis vectors), 'model:MODEL_ID' "
        "(span{a_r} of a fitted model), 'epoch:MODEL_ID:EPOCH:DIM' (the DIM leading "
        "principal components of a model's activity in one epoch) or "
        "'recording:DATASET_ID:EPOCH:DIM' (the same for an uploaded recording).",
    )
    parser.add_argument("a", metavar="A", help="first subspace")
    parser.add_argument("b", metavar="B", help="second subspace, of the same dimension D")
    parser.add_argument(
        "--samples", default=None, metavar="FILE",
        help="samples as rows, shape (S, D), .npy or .npz:KEY; adds the fraction of their "
        "variance each subspace captures",
    )
    parser.add_argument(
        "--space", choices=("auto", "units", "neurons"), default="auto",
        help="space of model subspaces: the N RNN units, or the M neurons through the "
        "readout (default: auto, the space that matches the other side)",
    )
    add_json_option(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("analyze subspaces")(run_subspaces))


def _register_model(analyses) -> None:
    parser = analyses.add_parser(
        "model", help="epoch summaries, eigenvalues and latents of a fitted model",
        description="Mean trial factors per epoch and their change at each boundary, "
        "eigenvalue moduli and the latent variance of each factor of a fitted model.",
    )
    parser.add_argument("model_id", metavar="MODEL", help="model id (from a sweep's table)")
    parser.add_argument(
        "--boundary-window", type=positive_int, default=10, metavar="TRIALS",
        help="trials on each side of an epoch boundary averaged for the change there "
        "(default: 10)",
    )
    add_json_option(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("analyze model")(run_model))


def read_array(spec: str, key: str | None = None) -> np.ndarray:
    """Read an array from FILE.npy, FILE.npz (with ``key``) or FILE.npz:KEY, without pickle."""
    if key is None and ".npz:" in spec:
        spec, key = spec.rsplit(":", 1)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"array file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{path} is not a readable .npy or .npz file: {error}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None:
            key = next((name for name in DEFAULT_KEYS if name in names), None)
            if key is None and len(names) == 1:
                key = names[0]
        if key is None or key not in names:
            raise ValueError(
                f"choose the array of {path} with --key (or FILE.npz:KEY); it contains {names}"
            )
        return loaded[key]


def run_tensor_rank(args: argparse.Namespace) -> int:
    if not args.ranks:
        raise ValueError("--ranks is empty; give at least one rank, e.g. --ranks 1-6")
    tensor = read_array(args.file, args.key)
    if args.changes:
        if tensor.ndim != 3:
            raise ValueError(f"--changes needs a 3-dimensional tensor, got shape {tensor.shape}")
        tensor = tensor[1:] - tensor[:1]
    with _common.stdout_for_results(args.json), _common.open_client(args) as client:
        job = client.submit_tensor_rank(
            tensor, args.ranks, replicates=args.replicates,
            heldout_fraction=args.heldout_fraction, seed=args.seed,
        )
        _common.note(f"job {job.id}: {len(job.cells)} CP fits")
        job.watch(progress=args.progress).raise_for_state()
        result = job.result()
    document = result.to_dict()
    if args.json:
        _common.print_json(document)
        return 0
    # The table's similarity is the mean over replicates of each one's similarity to the best
    # replicate. The rule compares only the two best replicates, so its numbers can be higher.
    print(f"{'rank':>4} {'best error':>10} {'mean similarity to best':>23}")
    for index, rank in enumerate(result.ranks):
        print(f"{rank:>4} {np.min(result.errors[index]):>10.4f} {result.similarity[index]:>23.3f}")
    print(f"suggested rank: {result.suggested_rank}")
    print(f"rule: {result.rule}")
    return 0


def run_learning_ranks(args: argparse.Namespace) -> int:
    weights = read_array(args.file, args.key)
    with _common.stdout_for_results(args.json), _common.open_client(args) as client:
        result = client.learning_ranks(weights, args.d_in, args.d_out, tolerance=args.tolerance)
    if args.json:
        _common.print_json(result.to_dict())
        return 0
    print(f"largest slice rank: {int(np.max(result.slice_ranks))} "
          f"(bound d_in + d_out = {result.matrix_rank_bound})")
    print(f"multilinear rank: {result.multilinear_rank}")
    print(f"CP rank estimate: {result.cp_rank_estimate} (bound {result.cp_rank_bound})")
    print(f"within bound: {'yes' if result.within_bound else 'no'}")
    if result.cp_rank_rule:
        print(f"CP rank rule: {result.cp_rank_rule}")
    return 0


def subspace_argument(spec: str):
    """Turn an A or B argument into what Client.subspaces takes."""
    from ltrnn.sdk import EpochSubspace, RecordingEpoch

    if spec.startswith("model:"):
        return spec.removeprefix("model:")
    for prefix, kind in (("epoch", EpochSubspace), ("recording", RecordingEpoch)):
        if not spec.startswith(prefix + ":"):
            continue
        parts = spec.split(":")
        if len(parts) != 4 or not parts[3].isdigit():
            owner = "MODEL_ID" if prefix == "epoch" else "DATASET_ID"
            raise ValueError(
                f"invalid subspace {spec!r}; write {prefix}:{owner}:EPOCH:DIM, e.g. "
                f"{prefix}:3fa2...:baseline:3"
            )
        return kind(parts[1], parts[2], int(parts[3]))
    return read_array(spec)


def run_subspaces(args: argparse.Namespace) -> int:
    first, second = subspace_argument(args.a), subspace_argument(args.b)
    samples = read_array(args.samples) if args.samples else None
    with _common.stdout_for_results(args.json), _common.open_client(args) as client:
        result = client.subspaces(first, second, samples=samples, space=args.space)
    if args.json:
        _common.print_json(result.to_dict())
        return 0
    print(f"A: {result.description_a}")
    print(f"B: {result.description_b}")
    angles = ", ".join(f"{value:.1f}" for value in result.degrees)
    print(f"principal angles (degrees): {angles}")
    if samples is not None:
        print(f"variance captured: A {result.variance_captured_a:.3f}, "
              f"B {result.variance_captured_b:.3f}")
    return 0


def run_model(args: argparse.Namespace) -> int:
    with _common.stdout_for_results(args.json), _common.open_client(args) as client:
        result = client.model_analysis(args.model_id, boundary_window=args.boundary_window)
    if args.json:
        _common.print_json(result.to_dict())
        return 0
    for epoch in result.epochs:
        means = ", ".join(f"{value:.3f}" for value in epoch.mean_trial_factors)
        last = epoch.first_trial + epoch.n_trials - 1
        line = f"{epoch.epoch:<14} trials {epoch.first_trial}-{last}: mean c = [{means}]"
        if epoch.change_at_start is not None:
            change = ", ".join(f"{value:+.3f}" for value in epoch.change_at_start)
            line += f", change at start = [{change}]"
        print(line)
    if result.latent_variance_fraction is not None:
        shares = ", ".join(f"{value:.2f}" for value in result.latent_variance_fraction)
        print(f"latent variance per factor: [{shares}]")
    return 0
