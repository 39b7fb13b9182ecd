"""Entry points that run the servers: ``serve`` (both services), ``serve-fit``, ``serve-analysis``."""

from __future__ import annotations

import argparse
import logging
import sys

from . import settings as settings_module

logger = logging.getLogger(__name__)

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
    try:
        return serve(settings_module.from_arguments(args), services)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the command line reports any failure in one line
        # A slow machine can make the local Ray runtime miss its start-up deadline; the
        # traceback helps only developers, so it goes to the debug log.
        logger.debug("ltrnn %s failed", command, exc_info=True)
        print(
            f"ltrnn {command}: error: failed to start or run the server: {error} "
            "(run again; with --log-level DEBUG the traceback is logged)",
            file=sys.stderr,
        )
        return 1


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
