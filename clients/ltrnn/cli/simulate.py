"""``ltrnn simulate``: generate data with a known ground truth."""

from __future__ import annotations

import argparse

from . import _common


class _LazyParser(argparse.ArgumentParser):
    """A parser that adds its arguments on first use.

    The task-RNN options come from a module that imports torch, which takes seconds. Adding
    them only when ``simulate task-rnn`` is parsed keeps every other command's start fast.
    """

    def __init__(self, *args, populate=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._populate = populate

    def parse_known_args(self, args=None, namespace=None):
        if self._populate is not None:
            populate, self._populate = self._populate, None
            populate(self)
        return super().parse_known_args(args, namespace)


def _add_task_rnn_arguments(parser) -> None:
    from ltrnn.engine.taskrnn.cli import add_task_rnn_arguments

    add_task_rnn_arguments(parser)
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bars on stderr")


def register(subparsers) -> None:
    """Add the ``simulate`` command and its ``task-rnn`` generator."""
    parser = subparsers.add_parser(
        "simulate", help="generate data with a known ground truth",
        description="Generate data whose learning tensor is known.",
    )
    generators = parser.add_subparsers(dest="generator", metavar="GENERATOR",
                                       parser_class=_LazyParser)
    task = generators.add_parser(
        "task-rnn", help="record the learning of an RNN trained on curl-field reaching",
        description="Pre-train a tanh RNN on centre-out reaching and record its "
        "trial-by-trial learning through baseline, curl-field and washout epochs: weights, "
        "rates and hand paths.",
        populate=_add_task_rnn_arguments,
    )
    task.set_defaults(handler=_common.user_errors("simulate")(run_task_rnn))
    parser.set_defaults(handler=lambda args: _missing_generator(parser))


def _missing_generator(parser) -> int:
    parser.print_help()
    return 2


def run_task_rnn(args: argparse.Namespace) -> int:
    from ltrnn.engine.taskrnn.cli import run_task_rnn as generate

    return generate(args, progress_bar=not args.no_progress)
