"""``--help`` of every ``ltrnn`` command, and help text on every option."""

from __future__ import annotations

import argparse

import pytest

from ltrnn.cli.main import build_parser

COMMANDS = [
    [], ["serve"], ["serve-fit"], ["serve-analysis"], ["sweep"], ["fit"], ["jobs"], ["watch"],
    ["cancel"], ["report"], ["analyze"], ["analyze", "tensor-rank"],
    ["analyze", "learning-ranks"], ["analyze", "subspaces"], ["analyze", "model"],
    ["convert"], ["convert", "hennig2018"], ["simulate"], ["simulate", "task-rnn"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "ltrnn")
def test_help_exits_zero(run, command):
    status, out, err = run(*command, "--help")
    assert status == 0
    assert out.startswith(f"usage: ltrnn {' '.join(command)}".rstrip())
    assert err == ""


def subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def all_parsers(parser, path=()):
    # A lazily filled parser adds its options on its first parse.
    if hasattr(parser, "_populate"):
        parser.parse_known_args(["--out", "x"])
    yield path, parser
    for name, child in subparsers(parser):
        yield from all_parsers(child, (*path, name))


def test_every_option_has_help():
    missing = []
    for path, parser in all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"ltrnn {' '.join(path)} {action.dest}")
    assert missing == []


def test_no_command_prints_help(run):
    status, out, err = run()
    assert status == 2
    assert "usage: ltrnn" in err
