"""Service settings from the environment and from command-line options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ltrnn.server.settings import SETTINGS, Settings, add_arguments, from_arguments


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_follow_the_agreed_table():
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.metrics_port) == ("127.0.0.1", 50051, 9464)
    assert settings.max_message_bytes == 16 * 1024 * 1024
    assert settings.max_dataset_bytes == 2 * 1024**3
    assert (settings.max_cells, settings.max_rank, settings.max_rnn_size) == (1000, 64, 2048)
    assert (settings.max_iterations, settings.cell_max_retries) == (100000, 3)
    assert settings.grace_seconds == 30.0
    assert settings.database_path == Path("./ltrnn-data") / "jobs.sqlite3"


def test_every_setting_has_env_and_option():
    names = {setting.name for setting in SETTINGS}
    assert names == set(Settings.__dataclass_fields__)
    assert all(setting.env == "LTRNN_" + setting.name.upper() for setting in SETTINGS)


def test_environment_is_read():
    settings = Settings.from_env(
        {"LTRNN_PORT": "6000", "LTRNN_GRACE_SECONDS": "2.5", "LTRNN_DATABASE": "/tmp/x.db",
         "LTRNN_MAX_CELLS": "", "RAY_ADDRESS": "ray://head:10001"}
    )
    assert settings.port == 6000
    assert settings.grace_seconds == 2.5
    assert settings.database_path == Path("/tmp/x.db")
    assert settings.max_cells == 1000
    assert settings.ray_address == "ray://head:10001"
    both = Settings.from_env({"RAY_ADDRESS": "ray://a:1", "LTRNN_RAY_ADDRESS": "ray://b:2"})
    assert both.ray_address == "ray://b:2"


def test_options_override_environment():
    args = parse(["--port", "7000", "--max-cells", "5", "--log-level", "debug"])
    settings = from_arguments(args, {"LTRNN_PORT": "6000", "LTRNN_MAX_RANK": "8"})
    assert (settings.port, settings.max_cells, settings.max_rank) == (7000, 5, 8)
    assert settings.log_level_number == 10


@pytest.mark.parametrize(
    "environ, match",
    [
        ({"LTRNN_PORT": "abc"}, "LTRNN_PORT must be an integer, got 'abc'"),
        ({"LTRNN_GRACE_SECONDS": "soon"}, "LTRNN_GRACE_SECONDS must be a number"),
        ({"LTRNN_PORT": "70000"}, "port must be a port number"),
        ({"LTRNN_MAX_CELLS": "0"}, "max_cells must be >= 1"),
        ({"LTRNN_MAX_MESSAGE_BYTES": "100"}, "max_message_bytes must be >= 65536"),
        ({"LTRNN_GRACE_SECONDS": "-1"}, "grace_seconds must be >= 0"),
        ({"LTRNN_LOG_LEVEL": "LOUD"}, "log_level must be one of"),
        ({"LTRNN_TLS_CERT": "cert.pem"}, "tls_cert and tls_key must be given together"),
    ],
)
def test_invalid_settings_raise(environ, match):
    with pytest.raises(ValueError, match=match):
        Settings.from_env(environ)
