"""Registration of the client commands of ``ltrnn`` (everything but the serve commands)."""

from __future__ import annotations

from . import analyze, convert, jobs, report, simulate, sweep

MODULES = (sweep, jobs, report, analyze, convert, simulate)


def register(subparsers) -> None:
    """Add every client command to the ``ltrnn`` parser's ``subparsers``."""
    for module in MODULES:
        module.register(subparsers)
