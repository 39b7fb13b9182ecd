"""``ltrnn sweep`` and ``ltrnn fit``: fit a grid of ltrRNNs, or one, and report the result."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from ltrnn.engine.config import FitConfig

from . import _common
from ._common import (
    add_connection_options,
    add_json_option,
    add_progress_option,
    integer_list,
    non_negative_int,
    note,
    positive_float,
    positive_int,
    positive_integer_list,
)

# Defaults of the command line, chosen so that a rank sweep of the shipped session (ranks
# 1-6, N = 50, 30 bins) finishes in minutes on two cores; docs/user-guide.md has the
# measurement. The engine's own defaults (2000 iterations at 1e-3) are the reference
# implementation's and take several times longer to converge.
DEFAULT_ITERATIONS = 1000
DEFAULT_LEARNING_RATE = 1e-2
SAVE_MODEL_CHOICES = ("chosen", "all", "none")


def _add_data_argument(parser) -> None:
    parser.add_argument(
        "data", metavar="DATA",
        help="recording to fit: an .npz file (layout of docs/data.md) or 'hennig2018', the "
        "shipped BCI session",
    )
    parser.add_argument(
        "--max-bins", type=positive_int, default=None, metavar="BINS",
        help="keep the first BINS time bins of every trial, preparatory bins included "
        f"(default: {_common.HENNIG2018_DEFAULT_BINS} for hennig2018, all bins for a file)",
    )


def _add_fit_options(parser, iterations_help: str) -> None:
    group = parser.add_argument_group("fitting")
    group.add_argument(
        "--iterations", type=positive_int, default=DEFAULT_ITERATIONS, metavar="N",
        help=iterations_help,
    )
    group.add_argument(
        "--learning-rate", type=positive_float, default=DEFAULT_LEARNING_RATE, metavar="RATE",
        help=f"Adam learning rate, per iteration (default: {DEFAULT_LEARNING_RATE:g})",
    )
    group.add_argument(
        "--patience", type=positive_int, default=None, metavar="N",
        help="stop a fit after N iterations without a lower validation loss (default: 200)",
    )
    group.add_argument(
        "--mask-seed", type=non_negative_int, default=0, metavar="SEED",
        help="seed of the held-out validation and test boxes, shared by every cell "
        "(default: 0)",
    )
    group.add_argument(
        "--threads", type=positive_int, default=1, metavar="N",
        help="CPUs reserved per fit and torch threads of each fit (default: 1, which was "
        "fastest per fit on two cores)",
    )
    group.add_argument(
        "--gpus", type=float, default=0.0, metavar="FRACTION",
        help="GPUs per fit; fractions below 1 share a GPU between fits (default: 0, CPU only)",
    )


def _add_output_options(parser) -> None:
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="directory for the results JSON, model files and plots (created when missing)",
    )
    parser.add_argument(
        "--save-models", choices=SAVE_MODEL_CHOICES, default="chosen",
        help="which fitted models --out receives as .npz files (default: chosen)",
    )
    add_json_option(parser)
    add_progress_option(parser)


def register(subparsers) -> None:
    """Add the ``sweep`` and ``fit`` commands."""
    description = (
        "Fit ltrRNNs over a grid of ranks, RNN sizes and seeds with block cross-validation, "
        "print the table and the rank chosen by the one-standard-error rule with a 5% "
        "plateau tolerance on the validation loss."
    )
    parser = subparsers.add_parser(
        "sweep", help="fit a grid of ranks, RNN sizes and seeds and choose the rank",
        description=description,
    )
    _add_data_argument(parser)
    grid = parser.add_argument_group("grid")
    grid.add_argument(
        "--ranks", type=positive_integer_list, default=integer_list("1-6"), metavar="LIST",
        help="tensor ranks R, e.g. 1-4 or 1,2,3 (default: 1-6)",
    )
    grid.add_argument(
        "--rnn-sizes", type=positive_integer_list, default=[50], metavar="LIST",
        help="latent RNN sizes N in units, e.g. 50 or 50,200 (default: 50)",
    )
    grid.add_argument(
        "--seeds", type=integer_list, default=[0], metavar="LIST",
        help="initialisation seeds, e.g. 0-2 (default: 0)",
    )
    _add_fit_options(
        parser, f"maximum Adam iterations per cell (default: {DEFAULT_ITERATIONS})"
    )
    _add_output_options(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("sweep")(run_sweep))

    parser = subparsers.add_parser(
        "fit", help="fit one ltrRNN of a given rank and size",
        description="Fit one ltrRNN with block cross-validation and print its losses.",
    )
    _add_data_argument(parser)
    parser.add_argument("--rank", type=positive_int, required=True, metavar="R",
                        help="tensor rank R of the recurrent weights")
    parser.add_argument("--rnn-size", type=positive_int, required=True, metavar="N",
                        help="latent RNN size N, in units")
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="SEED",
                        help="initialisation seed (default: 0)")
    _add_fit_options(parser, f"maximum Adam iterations (default: {DEFAULT_ITERATIONS})")
    _add_output_options(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("fit")(run_fit))


def run_sweep(args: argparse.Namespace) -> int:
    if not args.ranks:
        raise ValueError("--ranks is empty; give at least one rank, e.g. --ranks 1-4")
    return _run_grid(args, "sweep", args.ranks, args.rnn_sizes, args.seeds)


def run_fit(args: argparse.Namespace) -> int:
    return _run_grid(args, "fit", [args.rank], [args.rnn_size], [args.seed])


def _run_grid(args, command: str, ranks, rnn_sizes, seeds) -> int:
    _common.set_threads(args.threads)
    if args.gpus < 0 or not math.isfinite(args.gpus):
        raise ValueError(f"--gpus must be a number >= 0, got {args.gpus}")
    started = time.perf_counter()
    with _common.stdout_for_results(args.json):
        recording, max_bins = _common.load_data(args.data, args.max_bins)
        note(f"{args.data}: {recording.n_trials} trials x {recording.n_neurons} neurons x "
             f"{recording.n_times} bins ({recording.kind})")
        baselines = _baselines(recording, args.mask_seed)
        with _common.open_client(args) as client:
            job, result = _submit_and_watch(
                client, args, command, recording, max_bins, (ranks, rnn_sizes, seeds)
            )
            _require_success(job, result)
            document = _document(args, command, client, job, result, recording, max_bins)
            document["baselines"] = baselines
            document["seconds"] = time.perf_counter() - started
            if args.out:
                document["files"] = _write_outputs(
                    client, result, document, recording, Path(args.out), args.save_models,
                    command,
                )
    if args.json:
        _common.print_json(document)
    else:
        _print_summary(command, result, document, baselines)
    return 0


def _submit_and_watch(client, args, command: str, recording, max_bins, grid):
    """Upload the recording, submit the grid and follow the job; return it and its result."""
    hyperparameters = {}
    if args.patience is not None:
        hyperparameters["patience"] = args.patience
    with _common.recording_file(args.data, recording, max_bins) as path:
        dataset_id = client.upload(path, name=_dataset_name(args.data, max_bins),
                                   progress=args.progress)
    job = client.sweep(
        dataset_id, *grid, iterations=args.iterations, learning_rate=args.learning_rate,
        mask_seed=args.mask_seed, resources={"num_cpus": args.threads, "num_gpus": args.gpus},
        name=f"ltrnn {command} {args.data}", **hyperparameters,
    )
    note(f"job {job.id}: {len(job.cells)} cells")
    try:
        job.watch(progress=args.progress)
    except KeyboardInterrupt:
        _explain_interrupt(args, job.id)
        raise
    return job, job.result()


def _require_success(job, result) -> None:
    if any(cell.succeeded for cell in result.cells):
        return
    reason = next((cell.error for cell in result.cells if cell.error), job.error)
    raise ValueError(f"no fit succeeded (job {job.id} ended {job.state}): {reason}")


def _document(args, command: str, client, job, result, recording, max_bins) -> dict:
    """Build the results document that --json prints and --out writes."""
    cells = _cell_documents(client, result)
    document = {
        "job_id": job.id,
        "state": job.state,
        "dataset": args.data,
        "dataset_id": job.message.sweep.dataset_id,
        "shape": list(recording.shape),
        "max_bins": max_bins,
        "settings": {
            "iterations": args.iterations, "learning_rate": args.learning_rate,
            "patience": args.patience if args.patience is not None else FitConfig().patience,
            "mask_seed": args.mask_seed, "threads": args.threads,
        },
    }
    if command == "fit":
        document.update(cells[0])
    else:
        document.update(cells=cells, chosen_rank=result.chosen_rank, rule=result.rule,
                        chosen_model_id=result.chosen_model_id, notes=sweep_notes(result))
    return document


def _dataset_name(data: str, max_bins) -> str:
    name = Path(data).name
    return f"{name} ({max_bins} bins)" if max_bins else name


def _baselines(recording, mask_seed: int) -> dict:
    """Score the reference predictors on the held-out entries the server's fits use."""
    from ltrnn.engine.baselines import baseline_losses
    from ltrnn.engine.masks import MaskConfig, make_block_masks

    masks = make_block_masks(recording.shape, MaskConfig(), mask_seed)
    return baseline_losses(recording, masks)


def _cell_documents(client, result) -> list[dict]:
    """Build the JSON object of each cell, with seconds per iteration from its model."""
    documents = []
    for cell in result.cells:
        seconds_per_iteration = math.nan
        if cell.succeeded:
            seconds_per_iteration = client.model(cell.model_id).seconds_per_iteration
        documents.append({
            "rank": cell.rank, "rnn_size": cell.rnn_size, "seed": cell.seed,
            "state": cell.state, "iterations": cell.iterations_run,
            "seconds_per_iteration": seconds_per_iteration,
            "train_loss": cell.train_loss, "validation_loss": cell.validation_loss,
            "test_loss": cell.test_loss, "model_id": cell.model_id, "error": cell.error,
        })
    return documents


def _write_outputs(client, result, document, recording, out: Path, save_models: str,
                   command: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    model_ids = []
    if save_models == "all":
        model_ids = [cell.model_id for cell in result.cells if cell.succeeded]
    elif save_models == "chosen" and result.chosen_model_id:
        model_ids = [result.chosen_model_id]
    for model_id in model_ids:
        written.append(client.export_model(model_id, out / "models" / f"{model_id}.npz"))
    baselines = {
        "neuron x bin mean": document["baselines"]["neuron_bin_mean"],
        "condition mean (PSTH)": document["baselines"]["condition_mean"],
    }
    if command == "sweep":
        written += result.plot(out, baselines=baselines, recording=recording)
    elif result.chosen_model_id:
        model = client.model(result.chosen_model_id, latents=True)
        written += model.plot(out, recording=recording)
    results_path = out / f"{command}.json"
    document = dict(document, files=[str(path) for path in written] + [str(results_path)])
    from ltrnn.sdk.results import json_ready

    results_path.write_text(json.dumps(json_ready(document), indent=2, allow_nan=False) + "\n")
    return document["files"]


def _print_summary(command: str, result, document: dict, baselines: dict) -> None:
    print(result.format_table())
    print()
    for name, label in (("neuron_bin_mean", "neuron x bin mean"),
                        ("condition_mean", "condition mean (PSTH)")):
        scores = baselines[name]
        print(f"baseline {label:<22} validation {scores['validation']:.4f}  "
              f"test {scores['test']:.4f}")
    if command == "sweep":
        print(f"\nchosen rank: {result.chosen_rank}")
        print(f"rule: {result.rule}")
        for line in sweep_notes(result):
            print(f"note: {line}")
    print(f"\njob {document['job_id']}, {document['seconds']:.0f} s in all")
    if document.get("files"):
        print(f"wrote {len(document['files'])} files to {Path(document['files'][-1]).parent}")


def sweep_notes(result) -> list[str]:
    """Warnings about how far the chosen rank can be trusted, in words."""
    succeeded = [cell for cell in result.cells if cell.succeeded]
    ranks = sorted({cell.rank for cell in succeeded})
    notes = []
    if len(ranks) > 1 and result.chosen_rank == ranks[-1]:
        notes.append(
            "the chosen rank is the largest rank of the sweep, so held-out loss may still "
            "fall at higher ranks; add larger ranks to --ranks"
        )
    if succeeded and all(summary.n_fits == 1 for summary in result.ranks):
        notes.append(
            "each rank has one fit, so its standard error is 0 and only the 5% plateau "
            "tolerance separates ranks; more --seeds give the rule a spread to work with"
        )
    return notes


def _explain_interrupt(args, job_id: str) -> None:
    if args.address:
        note(f"job {job_id} keeps running on {args.address}; follow it with 'ltrnn watch "
             f"{job_id} --address {args.address}' or stop it with 'ltrnn cancel {job_id} "
             f"--address {args.address}'")
    else:
        note(f"the embedded server stops now; its unfinished cells resume with 'ltrnn watch "
             f"{job_id}' on the same --data-dir")

