"""The server process without Ray: command line, authentication and SIGTERM handling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltrnn.cli.main import build_parser, main
from ltrnn.server.app import LtrnnServer, create_server
from ltrnn.server.settings import Settings, from_arguments
from ltrnn.v1 import analysis_pb2, analysis_pb2_grpc

from server_helpers import free_port, wait_for


def test_cli_lists_serve_commands(capsys):
    assert main([]) == 2
    assert "serve-analysis" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        main(["serve-fit", "--help"])
    assert raised.value.code == 0
    assert "--max-cells" in capsys.readouterr().out


def test_cli_options_become_settings():
    args = build_parser().parse_args(["serve-fit", "--port", "0", "--max-cells", "5"])
    assert args.command == "serve-fit"
    settings = from_arguments(args, {"LTRNN_MAX_RANK": "7"})
    assert (settings.port, settings.max_cells, settings.max_rank) == (0, 5, 7)


def test_unknown_service_raises():
    with pytest.raises(ValueError, match="services must be a non-empty subset"):
        LtrnnServer(Settings(), services=("fit", "tensor"))


def test_bearer_token_is_required(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# comment\nsecret-one\n\nsecret-two\n")
    server = create_server(
        Settings(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), grace_seconds=0,
                 auth_token_file=str(tokens)),
        services=("analysis",),
    )
    try:
        channel = grpc.insecure_channel(server.address)
        stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.TensorRank(analysis_pb2.TensorRankRequest())
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "bearer token" in raised.value.details()
        with pytest.raises(grpc.RpcError) as raised:
            stub.TensorRank(analysis_pb2.TensorRankRequest(), metadata=[("authorization", "Bearer wrong")])
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as raised:
            stub.TensorRank(analysis_pb2.TensorRankRequest(), metadata=[("authorization", "Bearer secret-two")])
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service="ltrnn.v1.AnalysisService"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(grace=0)


def test_empty_token_file_raises(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("\n# nothing\n")
    server = LtrnnServer(
        Settings(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), auth_token_file=str(tokens)),
        services=("analysis",),
    )
    with pytest.raises(ValueError, match="contains no token"):
        server.start()


def test_sigterm_stops_server(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LTRNN_", "RAY_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "ltrnn.cli.main", "serve-analysis", "--port", str(port),
         "--metrics-port", "0", "--data-dir", str(tmp_path / "data"), "--grace-seconds", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        health = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

        def serving():
            if process.poll() is not None:
                raise AssertionError(f"server exited early: {process.stdout.read()}")
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        wait_for(serving, timeout=60, interval=0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 15
        output = process.stdout.read()
        assert "received SIGTERM" in output
        assert "stopped" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
