"""The container health check script against a real gRPC server with the health service."""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from deploy_helpers import DEPLOY

HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"


@pytest.fixture
def health_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None)


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_serving_server_passes(health_server):
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    result = _run("--address", f"127.0.0.1:{port}")
    assert result.returncode == 0, result.stderr
    assert "SERVING" in result.stdout


def test_not_serving_server_fails(health_server):
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    result = _run("--address", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "NOT_SERVING" in result.stderr


def test_named_service_is_checked(health_server):
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("ltrnn.v1.FitService", health_pb2.HealthCheckResponse.NOT_SERVING)
    result = _run("--address", f"127.0.0.1:{port}", "--service", "ltrnn.v1.FitService")
    assert result.returncode == 1


def test_port_comes_from_settings_variable(health_server):
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    env = {"LTRNN_PORT": str(port), "PATH": "/usr/bin:/bin"}
    result = _run(env=env)
    assert result.returncode == 0, result.stderr


def test_no_server_fails_with_reason():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    result = _run("--address", f"127.0.0.1:{free_port}", "--timeout", "1")
    assert result.returncode == 1
    assert f"health check of 127.0.0.1:{free_port} failed: UNAVAILABLE" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--timeout", "0"], "--timeout must be a positive number of seconds, got 0.0"),
        (["--timeout", "soon"], "invalid float value: 'soon'"),
    ],
)
def test_bad_options_are_rejected(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr
