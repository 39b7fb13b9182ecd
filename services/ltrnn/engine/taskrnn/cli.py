"""Command-line entry for generating the task-RNN experiment (``ltrnn simulate task-rnn``).

:func:`add_task_rnn_arguments` and :func:`run_task_rnn` let a parent parser mount the
command as a subcommand; :func:`simulate_task_rnn_cli` is the standalone ``main(argv)``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from .config import TaskRNNConfig
from .generate import generate_task_rnn

_HELP = {
    "n_units": "number of RNN units N",
    "n_targets": "number of reach targets on the circle",
    "target_distance": "radius of the target circle",
    "n_times": "time bins per trial",
    "n_before_go": "bins before the go cue",
    "dt": "bin width in seconds",
    "tau": "unit time constant in seconds (>= dt)",
    "movement_bins": "bins after the go cue before the hand must be at the target",
    "init_gain": "initial recurrent weight std times sqrt(N)",
    "curl_strength": "curl field constant k in 1/s",
    "baseline_trials": "recorded null-field trials before the curl field",
    "curl_trials": "recorded curl-field trials",
    "washout_trials": "recorded null-field trials after the curl field",
    "learning_rate": "SGD step size of the per-trial update of W",
    "pretrain_steps": "Adam steps of pre-training",
    "pretrain_learning_rate": "Adam learning rate of pre-training",
    "velocity_penalty": "loss weight of the squared final hand speed",
    "effort_penalty": "loss weight of the mean squared force",
    "rate_penalty": "loss weight of the mean squared rate",
    "seed": "seed of the initial weights and the target order",
}


def add_task_rnn_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--out`` and one option per :class:`TaskRNNConfig` field to ``parser``."""
    parser.add_argument(
        "--out", required=True, metavar="FILE",
        help="where to write the experiment (.npz; the suffix is added when missing)",
    )
    defaults = TaskRNNConfig()
    for field in fields(TaskRNNConfig):
        default = getattr(defaults, field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=type(default),
            default=default,
            metavar=type(default).__name__.upper(),
            help=f"{_HELP[field.name]} (default: {default})",
        )


def config_from_arguments(arguments: argparse.Namespace) -> TaskRNNConfig:
    """Build the config from parsed arguments; raises ValueError naming a bad field."""
    values = {field.name: getattr(arguments, field.name) for field in fields(TaskRNNConfig)}
    return TaskRNNConfig(**values)


def _format_summary(experiment) -> str:
    lines = [
        f"pre-training: {experiment.config.pretrain_steps} steps in "
        f"{experiment.pretrain_seconds:.1f} s, final loss {experiment.pretrain_loss[-1]:.4g}"
        if experiment.config.pretrain_steps else "pre-training: skipped",
        f"learning: {experiment.n_trials} trials in {experiment.learning_seconds:.1f} s",
        f"{'epoch':<9} {'trials':>6} {'endpoint first':>15} {'endpoint last':>14} "
        f"{'lateral first':>14} {'lateral last':>13}",
    ]
    for label, row in experiment.summary().items():
        lines.append(
            f"{label:<9} {row['trials']:>6} {row['endpoint_first']:>15.4f} "
            f"{row['endpoint_last']:>14.4f} {row['lateral_first']:>14.4f} "
            f"{row['lateral_last']:>13.4f}"
        )
    return "\n".join(lines)


def run_task_rnn(arguments: argparse.Namespace, progress_bar: bool = True) -> int:
    """Generate, save and summarise the experiment that ``arguments`` describe.

    Returns the exit status: 0 on success, 2 for an invalid setting (message on stderr).
    """
    try:
        config = config_from_arguments(arguments)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    bars = {}

    def show(report):
        if not progress_bar:
            return
        from tqdm import tqdm

        if report.stage not in bars:
            bars[report.stage] = tqdm(total=report.total, desc=report.stage, unit="step")
        bar = bars[report.stage]
        bar.update(1)
        bar.set_postfix(loss=f"{report.loss:.4g}", refresh=False)
        if report.step == report.total:
            bar.close()

    experiment = generate_task_rnn(config, progress=show)
    written = experiment.save(arguments.out)
    print(_format_summary(experiment))
    print(f"wrote {written}")
    return 0


def simulate_task_rnn_cli(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run :func:`run_task_rnn`."""
    parser = argparse.ArgumentParser(
        prog="ltrnn simulate task-rnn",
        description="Pre-train a tanh RNN on centre-out reaching and record its trial-by-trial "
        "learning through baseline, curl-field and washout epochs.",
    )
    add_task_rnn_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    arguments = parser.parse_args(argv)
    return run_task_rnn(arguments, progress_bar=not arguments.no_progress)


if __name__ == "__main__":
    sys.exit(simulate_task_rnn_cli())
