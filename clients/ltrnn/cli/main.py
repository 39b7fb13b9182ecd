"""``ltrnn`` command line: one argparse subcommand per action.

Each subcommand module registers itself with a ``register(subparsers)``-style function here
and sets ``handler`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import sys


def _add_serve_commands(subparsers) -> None:
    from ltrnn.server.main import COMMANDS, add_serve_arguments, run

    for command, (_services, description) in COMMANDS.items():
        parser = subparsers.add_parser(command, help=description, description=description)
        add_serve_arguments(parser)
        parser.set_defaults(handler=lambda args, command=command: run(command, args))


def _add_client_commands(subparsers) -> None:
    from .commands import register

    register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ltrnn",
        description="Fit low-tensor-rank RNNs to neural recordings and serve them over gRPC.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve_commands(subparsers)
    _add_client_commands(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the ``ltrnn`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
