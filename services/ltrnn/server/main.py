"""Entry points that run the servers: ``serve`` (both services), ``serve-fit``, ``serve-analysis``."""

from __future__ import annotations

import argparse

from . import settings as settings_module

COMMANDS = {
    "serve": (("fit", "analysis"), "run the fit and analysis services on one port"),
    "serve-fit": (("fit",), "run the fit service only (with its Ray runner and job store)"),
    "serve-analysis": (("analysis",), "run the analysis service only"),
}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the settings options that every serve command takes."""
    settings_module.add_arguments(parser)


def run(command: str, args: argparse.Namespace) -> int:
    """Run the server of ``command`` with settings from ``args`` over the environment."""
    from .app import serve

    services, _ = COMMANDS[command]
    return serve(settings_module.from_arguments(args), services)


def main(argv=None, command: str = "serve") -> int:
    """Parse serve options from ``argv`` and run the server of ``command``."""
    parser = argparse.ArgumentParser(prog=f"ltrnn {command}", description=COMMANDS[command][1])
    add_serve_arguments(parser)
    return run(command, parser.parse_args(argv))


def serve(argv=None) -> int:
    return main(argv, "serve")


def serve_fit(argv=None) -> int:
    return main(argv, "serve-fit")


def serve_analysis(argv=None) -> int:
    return main(argv, "serve-analysis")
