"""The server process without Ray: command line, authentication and SIGTERM handling."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ltrnn.cli.main import build_parser, main
from ltrnn.server.app import LtrnnServer, create_server
from ltrnn.server.settings import Settings, from_arguments

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
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

        def list_services(metadata=()):
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            replies = reflection.ServerReflectionInfo(iter([request]), metadata=metadata)
            return [s.name for reply in replies for s in reply.list_services_response.service]

        with pytest.raises(grpc.RpcError) as raised:
            list_services()
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "bearer token" in raised.value.details()
        with pytest.raises(grpc.RpcError) as raised:
            list_services([("authorization", "Bearer wrong")])
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "ltrnn.v1.AnalysisService" in list_services([("authorization", "Bearer secret-two")])
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


def test_tls_server_accepts_trusting_client(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    server = create_server(
        Settings(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), grace_seconds=0,
                 tls_cert=str(cert), tls_key=str(key)),
        services=("analysis",),
    )
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        secure = grpc.secure_channel(f"localhost:{server.port}", credentials)
        reply = health_pb2_grpc.HealthStub(secure).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        plain = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        with pytest.raises(grpc.RpcError) as raised:
            health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert raised.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        server.stop(grace=0)


def test_port_clash_fails_start(tmp_path):
    blocker = create_server(
        Settings(port=0, metrics_port=0, data_dir=str(tmp_path / "one"), grace_seconds=0),
        services=("analysis",),
    )
    try:
        clash = LtrnnServer(
            Settings(port=blocker.port, metrics_port=0, data_dir=str(tmp_path / "two")),
            services=("analysis",),
        )
        with pytest.raises(Exception, match="bind|in use|Failed"):
            clash.start()
    finally:
        blocker.stop(grace=0)
