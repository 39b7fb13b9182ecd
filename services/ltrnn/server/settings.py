"""Service settings: one dataclass, read from environment variables and command-line options.

Every setting has an environment variable (``LTRNN_*``) and a ``--`` option of
``ltrnn serve``, ``serve-fit`` and ``serve-analysis``. An option given on the command line
overrides the environment, which overrides the default. This module imports no gRPC or Ray,
so the command-line tool can build its parser cheaply.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Setting:
    """One setting: its field name, environment variable, parser and help text."""

    name: str
    env: str
    parse: type
    help: str
    metavar: str = ""


SETTINGS = (
    Setting("host", "LTRNN_HOST", str, "address the gRPC server binds (0.0.0.0 in containers)",
            "ADDRESS"),
    Setting("port", "LTRNN_PORT", int, "gRPC port; 0 picks a free port", "PORT"),
    Setting("metrics_port", "LTRNN_METRICS_PORT", int,
            "port of the Prometheus /metrics HTTP endpoint; 0 turns it off", "PORT"),
    Setting("data_dir", "LTRNN_DATA_DIR", str,
            "artifact directory for datasets, models and results", "DIR"),
    Setting("database", "LTRNN_DATABASE", str,
            "SQLite file of the job store (default: DATA_DIR/jobs.sqlite3)", "FILE"),
    Setting("ray_address", "LTRNN_RAY_ADDRESS", str,
            "Ray cluster to connect to, e.g. ray://head:10001 (also read from RAY_ADDRESS); "
            "empty starts a local Ray runtime", "ADDRESS"),
    Setting("ray_num_cpus", "LTRNN_RAY_NUM_CPUS", int,
            "CPUs of the local Ray runtime (default: all cores)", "N"),
    Setting("auth_token_file", "LTRNN_AUTH_TOKEN_FILE", str,
            "file with one accepted bearer token per line; empty turns authentication off",
            "FILE"),
    Setting("tls_cert", "LTRNN_TLS_CERT", str,
            "server certificate chain (PEM); with --tls-key turns TLS on", "FILE"),
    Setting("tls_key", "LTRNN_TLS_KEY", str, "server private key (PEM)", "FILE"),
    Setting("max_message_bytes", "LTRNN_MAX_MESSAGE_BYTES", int,
            "largest gRPC message the server sends or receives, in bytes", "BYTES"),
    Setting("max_dataset_bytes", "LTRNN_MAX_DATASET_BYTES", int,
            "largest dataset upload, in bytes", "BYTES"),
    Setting("max_cells", "LTRNN_MAX_CELLS", int, "most cells in one sweep", "N"),
    Setting("max_rank", "LTRNN_MAX_RANK", int, "largest tensor rank of a fit", "N"),
    Setting("max_rnn_size", "LTRNN_MAX_RNN_SIZE", int, "largest RNN size N of a fit", "N"),
    Setting("max_iterations", "LTRNN_MAX_ITERATIONS", int,
            "most training iterations of one cell", "N"),
    Setting("cell_max_retries", "LTRNN_CELL_MAX_RETRIES", int,
            "retries of a cell whose worker died", "N"),
    Setting("grace_seconds", "LTRNN_GRACE_SECONDS", float,
            "seconds that running RPCs and cells get to finish after SIGTERM", "SECONDS"),
    Setting("model_cache_size", "LTRNN_MODEL_CACHE_SIZE", int,
            "fitted models kept in memory for Simulate (least recently used are dropped)", "N"),
    Setting("max_workers", "LTRNN_MAX_WORKERS", int,
            "threads serving RPCs; each open WatchJob stream holds one", "N"),
    Setting("log_level", "LTRNN_LOG_LEVEL", str, "logging level, one of " + ", ".join(LOG_LEVELS),
            "LEVEL"),
)


@dataclass(frozen=True)
class Settings:
    """Configuration of an ltrnn server.

    Parameters
    ----------
    host : str, default="127.0.0.1"
    port : int, default=50051
        0 binds a free port; the server object reports the bound one.
    metrics_port : int, default=9464
        0 turns the metrics endpoint off.
    data_dir : str, default="./ltrnn-data"
    database : str, default=""
        Empty means ``<data_dir>/jobs.sqlite3``.
    ray_address : str, default=""
        Empty starts a local Ray runtime (or uses the one this process already started).
    ray_num_cpus : int, default=0
        0 means every core of the machine.
    auth_token_file, tls_cert, tls_key : str, default=""
    max_message_bytes : int, default=16 MiB
    max_dataset_bytes : int, default=2 GiB
    max_cells : int, default=1000
    max_rank : int, default=64
    max_rnn_size : int, default=2048
    max_iterations : int, default=100000
    cell_max_retries : int, default=3
    grace_seconds : float, default=30.0
    model_cache_size : int, default=8
    max_workers : int, default=32
    log_level : str, default="INFO"
    """

    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = 9464
    data_dir: str = "./ltrnn-data"
    database: str = ""
    ray_address: str = ""
    ray_num_cpus: int = 0
    auth_token_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    max_message_bytes: int = 16 * MIB
    max_dataset_bytes: int = 2 * GIB
    max_cells: int = 1000
    max_rank: int = 64
    max_rnn_size: int = 2048
    max_iterations: int = 100000
    cell_max_retries: int = 3
    grace_seconds: float = 30.0
    model_cache_size: int = 8
    max_workers: int = 32
    log_level: str = "INFO"

    def __post_init__(self):
        for name in ("port", "metrics_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ValueError(f"{name} must be a port number in [0, 65535], got {value}")
        minimums = {
            "ray_num_cpus": 0, "max_message_bytes": 64 * 1024, "max_dataset_bytes": 1,
            "max_cells": 1, "max_rank": 1, "max_rnn_size": 1, "max_iterations": 1,
            "cell_max_retries": 0, "model_cache_size": 1, "max_workers": 4,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {value}")
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be >= 0, got {self.grace_seconds}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {LOG_LEVELS}, got {self.log_level!r}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError(
                "tls_cert and tls_key must be given together (LTRNN_TLS_CERT and LTRNN_TLS_KEY); "
                f"got tls_cert={self.tls_cert!r}, tls_key={self.tls_key!r}"
            )
        if not self.data_dir:
            raise ValueError("data_dir must not be empty; give a directory such as ./ltrnn-data")

    @property
    def database_path(self) -> Path:
        """The SQLite file of the job store."""
        return Path(self.database) if self.database else Path(self.data_dir) / "jobs.sqlite3"

    @property
    def log_level_number(self) -> int:
        return logging.getLevelName(self.log_level.upper())

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Build settings from ``LTRNN_*`` environment variables, then ``overrides``.

        ``RAY_ADDRESS`` is read when ``LTRNN_RAY_ADDRESS`` is not set.

        Raises
        ------
        ValueError
            When a variable does not parse, naming the variable and its value.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is None and setting.name == "ray_address":
                raw = environ.get("RAY_ADDRESS")
            if raw is None or raw == "":
                continue
            values[setting.name] = _parse(setting, raw, source=setting.env)
        values.update(overrides)
        return cls(**values)


def _parse(setting: Setting, raw: str, source: str):
    try:
        return setting.parse(raw)
    except ValueError:
        kind = {int: "an integer", float: "a number"}.get(setting.parse, "text")
        raise ValueError(f"{source} must be {kind}, got {raw!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--option`` per setting to ``parser``; each defaults to "not given"."""
    defaults = Settings()
    group = parser.add_argument_group("server settings (each also read from its env variable)")
    for setting in SETTINGS:
        default = getattr(defaults, setting.name)
        shown = f"{default // MIB} MiB" if setting.name.endswith("_bytes") else repr(default)
        group.add_argument(
            "--" + setting.name.replace("_", "-"),
            dest=setting.name,
            type=setting.parse,
            default=None,
            metavar=setting.metavar or None,
            help=f"{setting.help} [{setting.env}, default {shown}]",
        )


def from_arguments(args: argparse.Namespace, environ=None) -> Settings:
    """Build settings from parsed options over the environment (options win)."""
    overrides = {
        setting.name: getattr(args, setting.name)
        for setting in SETTINGS
        if getattr(args, setting.name, None) is not None
    }
    return Settings.from_env(environ, **overrides)
