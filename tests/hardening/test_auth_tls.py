"""Bearer tokens and TLS on a real server with both services, over loopback.

Every RPC of FitService and AnalysisService, unary and streaming, is called without a token,
with unknown tokens and with a known one. The health service answers without a token. The
TLS server uses a self-signed certificate for localhost and 127.0.0.1 made here.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2

from ltrnn.sdk import Client
from ltrnn.sdk.errors import Unauthenticated, Unavailable
from ltrnn.server.app import LtrnnServer, create_server
from ltrnn.server.settings import Settings

from hardening_helpers import call_raw, every_rpc, health_status, self_signed_certificate

pytestmark = pytest.mark.timeout(180)

TOKENS = ("first-token-3f9a", "second-token-77c1")
RPCS = list(every_rpc())
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", params=["plaintext", "tls"])
def server(request, ray_runtime, certificate, tmp_path_factory):
    directory = tmp_path_factory.mktemp("auth")
    token_file = directory / "tokens"
    token_file.write_text("# accepted tokens\n" + "\n".join(TOKENS) + "\n")
    tls = {}
    if request.param == "tls":
        tls = {"tls_cert": str(certificate[0]), "tls_key": str(certificate[1])}
    running = create_server(Settings(
        port=0, metrics_port=0, data_dir=str(directory / "data"), grace_seconds=0,
        auth_token_file=str(token_file), **tls,
    ))
    running.tls = request.param == "tls"
    yield running
    running.stop(grace=0)


@pytest.fixture(scope="module")
def channel(server, certificate):
    if server.tls:
        credentials = grpc.ssl_channel_credentials(root_certificates=certificate[0].read_bytes())
        opened = grpc.secure_channel(f"localhost:{server.port}", credentials)
    else:
        opened = grpc.insecure_channel(server.address)
    with opened:
        yield opened


def rpc_status(channel, path, method, metadata=()) -> grpc.StatusCode:
    try:
        call_raw(channel, path, method, metadata=metadata)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_rpc_table_lists_streaming_rpcs():
    kinds = {(method.client_streaming, method.server_streaming) for _, method in RPCS}
    assert (False, False) in kinds
    assert (False, True) in kinds
    assert (True, False) in kinds
    assert len(RPCS) >= 15


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer wrong-token"),),
        (("authorization", f"Bearer {TOKENS[0][:-1]}"),),
        (("authorization", f"Bearer {TOKENS[0]}x"),),
        (("authorization", f"Basic {TOKENS[0]}"),),
        (("authorization", TOKENS[0]),),
        (("authorization", "Bearer "),),
        (("x-api-key", TOKENS[0]),),
    ],
    ids=["missing", "unknown", "prefix", "longer", "basic scheme", "no scheme", "empty",
         "other header"],
)
def test_bad_token_rejected_on_every_rpc(channel, metadata):
    for path, method in RPCS:
        try:
            call_raw(channel, path, method, metadata=metadata)
        except grpc.RpcError as error:
            assert error.code() == UNAUTHENTICATED, (path, error.code(), error.details())
            assert "bearer token" in error.details(), path
        else:
            raise AssertionError(f"{path} answered without a valid token")


@pytest.mark.parametrize("token", TOKENS)
def test_known_token_reaches_every_rpc(channel, token):
    metadata = (("authorization", f"Bearer {token}"),)
    for path, method in RPCS:
        status = rpc_status(channel, path, method, metadata)
        # Empty requests are invalid, so the services answer with their own checks.
        assert status != UNAUTHENTICATED, path
        assert status in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (path, status)


def test_bearer_scheme_is_case_insensitive(channel):
    path, method = next((path, method) for path, method in RPCS if path.endswith("/ListJobs"))
    assert rpc_status(channel, path, method, (("authorization", f"bearer {TOKENS[1]}"),)) == (
        grpc.StatusCode.OK
    )


def test_health_open_without_token(channel):
    assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(channel, "ltrnn.v1.FitService") == health_pb2.HealthCheckResponse.SERVING
    assert health_status(channel, "ltrnn.v1.AnalysisService") == (
        health_pb2.HealthCheckResponse.SERVING
    )


def sdk_client(server, certificate, **options) -> Client:
    if server.tls:
        return Client(f"localhost:{server.port}", tls_ca=certificate[0], timeout=20, **options)
    return Client(server.address, timeout=20, **options)


def test_sdk_sends_token(server, certificate):
    basis = np.eye(3)[:, :1]
    with sdk_client(server, certificate, token=TOKENS[0]) as client:
        client.wait_until_ready(timeout=10)
        result = client.subspaces(basis, basis)
    assert np.allclose(result.angles, [0.0])


def test_sdk_reads_token_from_environment(server, certificate, monkeypatch):
    monkeypatch.setenv("LTRNN_TOKEN", TOKENS[1])
    with sdk_client(server, certificate) as client:
        assert client.jobs() == []


def test_sdk_without_token_unauthenticated(server, certificate, monkeypatch):
    monkeypatch.delenv("LTRNN_TOKEN", raising=False)
    with sdk_client(server, certificate) as client:
        client.wait_until_ready(timeout=10)
        with pytest.raises(Unauthenticated, match="bearer token"):
            client.jobs()
    with sdk_client(server, certificate, token="not-a-token") as client:
        with pytest.raises(Unauthenticated):
            client.subspaces(np.eye(3)[:, :1], np.eye(3)[:, :1])


# -- TLS only -------------------------------------------------------------------------------


def test_plaintext_client_fails_on_tls(server):
    if not server.tls:
        pytest.skip("the plaintext server accepts plaintext clients")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as plain:
        with pytest.raises(grpc.RpcError) as raised:
            health_status(plain)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    with Client(f"127.0.0.1:{server.port}", token=TOKENS[0], timeout=5) as client:
        with pytest.raises(Unavailable):
            client.jobs()


def test_untrusted_certificate_fails(server, tmp_path):
    if not server.tls:
        pytest.skip("the plaintext server has no certificate")
    other_ca, _ = self_signed_certificate(tmp_path, "other")
    with Client(f"localhost:{server.port}", token=TOKENS[0], tls_ca=other_ca, timeout=5) as client:
        with pytest.raises(Unavailable):
            client.jobs()


def test_tls_address_by_ip(server, certificate):
    if not server.tls:
        pytest.skip("the plaintext server has no certificate")
    # The certificate names 127.0.0.1 as an IP subject alternative name.
    with Client(f"127.0.0.1:{server.port}", token=TOKENS[0], tls_ca=certificate[0],
                timeout=20) as client:
        assert client.jobs() == []


def test_missing_certificate_file_fails_start(tmp_path, certificate):
    settings = Settings(
        port=0, metrics_port=0, data_dir=str(tmp_path / "data"),
        tls_cert=str(tmp_path / "missing.crt"), tls_key=str(certificate[1]),
    )
    with pytest.raises(FileNotFoundError, match="missing.crt"):
        LtrnnServer(settings, services=("analysis",)).start()
