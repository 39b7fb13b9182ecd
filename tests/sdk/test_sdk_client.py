"""The SDK against a real embedded server (loopback gRPC, local Ray of 2 CPUs)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import socket
import subprocess
import threading

import numpy as np
import pytest

from ltrnn.engine.result import FitResult
from ltrnn.sdk import (
    AlreadyExists,
    Client,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    LtrnnError,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    connect,
    embedded_server,
)

TINY = {"rnn_sizes": [10], "iterations": 40, "learning_rate": 1e-2}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dataset_id(client, recording_path):
    return client.upload(recording_path, progress=False)


@pytest.fixture(scope="module")
def finished(client, dataset_id):
    """A finished two-rank sweep, watched with log lines into a buffer."""
    job = client.sweep(dataset_id, ranks=[1, 2], **TINY)
    log = io.StringIO()
    job.watch(progress="log", stream=log)
    return job, log.getvalue()


def test_upload_content_addressed(client, recording, recording_path, dataset_id):
    assert dataset_id == hashlib.sha256(recording_path.read_bytes()).hexdigest()
    assert client.upload(recording_path, progress=False) == dataset_id
    described = client.dataset(dataset_id)
    assert described["shape"] == [30, 12, 12]
    assert described["conditions"] == recording.conditions
    from_memory = client.upload(recording, progress=False)
    assert client.dataset(from_memory)["shape"] == [30, 12, 12]


def test_sweep_watch_and_result(finished):
    job, log = finished
    assert job.state == "SUCCEEDED"
    assert job.cell_counts["succeeded"] == 2
    assert "cell 0 (rank 1, N=10, seed 0) succeeded" in log
    assert "SUCCEEDED" in log

    result = job.result()
    assert [cell.rank for cell in result.cells] == [1, 2]
    assert result.chosen_rank in (1, 2)
    assert "one-standard-error" in result.rule
    assert result.chosen_model_id in {cell.model_id for cell in result.cells}
    for cell in result.cells:
        assert cell.state == "SUCCEEDED"
        assert 0 < cell.iterations_run <= 40
        for loss in (cell.train_loss, cell.validation_loss, cell.test_loss):
            assert math.isfinite(loss)
    assert [row["rank"] for row in result.table()] == [1, 2]
    assert result.columns()["rank"].tolist() == [1, 2]
    json.dumps(result.to_dict(), allow_nan=False)
    assert "chosen" in result.format_table()


def test_model_arrays_and_simulate(client, finished):
    job, _ = finished
    model = client.model(job.result().chosen_model_id, latents=True, predictions=True)
    rank = model.rank
    assert model.column_factors.shape == (10, rank)
    assert model.trial_factors.shape == (30, rank)
    assert model.readout.shape == (12, 10)
    assert model.latents.shape == (30, 12, rank)
    assert model.eigenvalues.dtype == np.complex128
    assert model.recording["epochs"] == ["epoch1", "epoch2"]

    predictions, latents = model.simulate(trials=[0, 7])
    assert predictions.shape == (2, 12, 12)
    assert latents.shape == (2, 12, rank)
    # Simulating fitted trials with their own conditions reproduces the fitted predictions.
    np.testing.assert_allclose(predictions, model.predictions[[0, 7]], atol=1e-5)
    np.testing.assert_allclose(latents, model.latents[[0, 7]], atol=1e-5)
    again, _ = model.simulate(trials=[0, 7])
    np.testing.assert_array_equal(again, predictions)

    first, second = model.recording["conditions"]
    swapped, _ = model.simulate(trials=[0, 0], conditions=[first, second])
    assert not np.allclose(swapped[0], swapped[1])


def test_model_export_loads(client, finished, tmp_path):
    job, _ = finished
    model = client.model(job.result().chosen_model_id)
    path = model.export(tmp_path / "model.npz")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model.model_id
    loaded = FitResult.load(path)
    np.testing.assert_array_equal(loaded.trial_factors, model.trial_factors)
    assert loaded.config.rank == model.rank


def test_jobs_lists_sweeps(client, finished):
    job, _ = finished
    listed = [item.id for item in client.jobs(state="SUCCEEDED")]
    assert job.id in listed
    assert len(client.jobs(limit=1)) == 1
    assert client.job(job.id).cells[0].state == "SUCCEEDED"


def test_cancel_stops_running_job(client, dataset_id):
    job = client.sweep(dataset_id, ranks=[1, 2, 3], rnn_sizes=[10], iterations=50000,
                       patience=50000)
    for event in job.events():
        if event.HasField("cell_progress"):
            break
    job.cancel()
    assert job.state == "CANCELLED"
    job.wait(timeout=60)
    assert {cell.state for cell in job.cells} == {"CANCELLED"}
    assert client.cancel(job.id).state == "CANCELLED"


def test_cancel_finished_job_rejected(client, finished):
    job, _ = finished
    with pytest.raises(FailedPrecondition, match="already ended with state SUCCEEDED"):
        job.cancel()


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"ranks": [0]}, InvalidArgument, r"ranks must contain integers >= 1, got 0"),
        ({"ranks": [1.5]}, InvalidArgument, r"ranks must contain integers, got 1.5"),
        ({"ranks": []}, InvalidArgument, r"ranks must contain at least one integer"),
        ({"ranks": [65]}, InvalidArgument, r"max_rank=64"),
        ({"ranks": [4], "rnn_sizes": [3]}, InvalidArgument, r"larger than the RNN size 3"),
        ({"ranks": [1], "learning_rate": -1.0}, InvalidArgument, r"learning_rate must be > 0"),
        ({"ranks": [1], "colour": 1}, InvalidArgument, r"unknown hyperparameters \['colour'\]"),
        ({"ranks": [1], "resources": {"num_cpus": 64}}, FailedPrecondition, r"has 2 CPUs"),
        ({"ranks": [1, 2, 3, 4, 5], "seeds": range(5)}, ResourceExhausted, r"max_cells=20"),
        ({"ranks": [1], "masks": {"inner": [1, 2]}}, InvalidArgument, r"three half-widths"),
    ],
)
def test_sweep_bad_input(client, dataset_id, arguments, error, message):
    with pytest.raises(error, match=message):
        client.sweep(dataset_id, **arguments)


def test_sweep_unknown_dataset(client):
    with pytest.raises(NotFound, match="not found; upload it with UploadDataset"):
        client.sweep("0" * 64, ranks=[1])


def test_idempotency_key_reuse(client, dataset_id):
    first = client.sweep(dataset_id, ranks=[1], rnn_sizes=[10], iterations=10,
                         idempotency_key="sdk-test-key")
    again = client.sweep(dataset_id, ranks=[1], rnn_sizes=[10], iterations=10,
                         idempotency_key="sdk-test-key")
    assert again.id == first.id
    with pytest.raises(AlreadyExists, match="sdk-test-key"):
        client.sweep(dataset_id, ranks=[2], rnn_sizes=[10], iterations=10,
                     idempotency_key="sdk-test-key")
    first.wait(timeout=60)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: c.job("0" * 32), NotFound, r"job_id '0{32}' not found"),
        (lambda c: c.cancel("0" * 32), NotFound, r"not found"),
        (lambda c: c.sweep_result("f" * 32), NotFound, r"not found"),
        (lambda c: c.model("0" * 64), NotFound, r"model_id '0{64}' not found"),
        (lambda c: c.simulate("0" * 64), NotFound, r"not found"),
        (lambda c: c.dataset("a" * 64), NotFound, r"not found"),
        (lambda c: c.job("../etc"), InvalidArgument, r"not a valid id"),
        (lambda c: c.jobs(state="DONE"), InvalidArgument, r"state must be one of"),
        (lambda c: c.upload(42), InvalidArgument, r"Recording or the path"),
        (lambda c: c.upload("no-such-file.npz"), FileNotFoundError, r"no-such-file.npz"),
    ],
)
def test_unknown_ids_and_bad_calls(client, call, error, message):
    with pytest.raises(error, match=message):
        call(client)


def test_simulate_bad_arguments(client, finished):
    model = client.model(finished[0].result().chosen_model_id)
    with pytest.raises(InvalidArgument, match=r"trials must be indices in \[0, 29\], got 30"):
        model.simulate(trials=[30])
    with pytest.raises(InvalidArgument, match=r"unknown conditions \['nowhere'\]"):
        model.simulate(trials=[0], conditions=["nowhere"])
    with pytest.raises(InvalidArgument, match="list of labels"):
        model.simulate(trials=[0], conditions="nowhere")


def test_upload_invalid_file(client, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, data=np.ones((2, 3)))
    with pytest.raises(InvalidArgument, match="not a valid recording"):
        client.upload(path, progress=False)


def test_unreachable_server():
    address = f"127.0.0.1:{free_port()}"
    with Client(address, timeout=2.0) as client, pytest.raises(Unavailable, match=address):
        client.jobs()
    with pytest.raises(Unavailable, match="not ready after 1 s"):
        connect(address, ready_timeout=1.0)


def test_invalid_client_arguments():
    with pytest.raises(InvalidArgument, match="address must be 'host:port'"):
        Client("")
    with pytest.raises(InvalidArgument, match="timeout must be > 0"):
        Client("127.0.0.1:1", timeout=0)
    with pytest.raises(FileNotFoundError, match="tls_ca file not found"):
        Client("127.0.0.1:1", tls_ca="missing-ca.pem")


def test_deadline_exceeded(server):
    # A CP rank sweep of this size takes far longer than 50 ms on the server, so the deadline
    # passes first. Fast calls are no use: gRPC shares connected subchannels between
    # channels, so even a new client can answer within a microsecond deadline. The public
    # tensor_rank waits without a deadline, so the request goes through the client's call
    # path with an explicit one.
    rng = np.random.default_rng(0)
    tensor = np.einsum("ir,jr,kr->ijk", *(rng.normal(size=(size, 4)) for size in (40, 35, 30)))
    with Client(server.address) as hurried, pytest.raises(DeadlineExceeded):
        request = hurried._tensor_rank_request(tensor, [1, 2, 3, 4, 5], 3, None, 0.0, 0)
        hurried._call(hurried._analysis.TensorRank, request, timeout=0.05)


def test_tls_with_ca_file(tmp_path):
    from ltrnn.server.app import create_server
    from ltrnn.server.settings import Settings

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    secured = create_server(Settings(
        port=0, metrics_port=0, data_dir=str(tmp_path / "data"), grace_seconds=0.0,
        tls_cert=str(cert), tls_key=str(key),
    ), services=("analysis",))
    try:
        with connect(f"localhost:{secured.port}", tls_ca=cert) as trusted:
            result = trusted.subspaces(np.eye(3)[:, :1], np.eye(3)[:, :1])
            np.testing.assert_allclose(result.angles, [0.0], atol=1e-8)
        with pytest.raises(Unavailable):
            connect(f"127.0.0.1:{secured.port}", ready_timeout=2.0)
    finally:
        secured.stop(0.0)


def test_bearer_token(server, tmp_path, monkeypatch):
    from ltrnn.server.app import create_server
    from ltrnn.server.settings import Settings

    tokens = tmp_path / "tokens"
    tokens.write_text("secret-token\n")
    secured = create_server(Settings(
        port=0, metrics_port=0, data_dir=str(tmp_path / "data"), auth_token_file=str(tokens),
        grace_seconds=0.0,
    ), services=("fit",))
    try:
        monkeypatch.delenv("LTRNN_TOKEN", raising=False)
        with Client(secured.address) as anonymous, pytest.raises(
            Unauthenticated, match="missing or unknown bearer token"
        ):
            anonymous.jobs()
        with Client(secured.address, token="wrong") as wrong, pytest.raises(Unauthenticated):
            wrong.jobs()
        with Client(secured.address, token="secret-token") as right:
            assert right.jobs() == []
        monkeypatch.setenv("LTRNN_TOKEN", "secret-token")
        with connect(secured.address) as from_environment:
            assert from_environment.jobs() == []
    finally:
        secured.stop(0.0)


def test_watch_reconnects_across_restart(client, recording_path, tmp_path):
    """A watch survives a server restart on the same port and data and misses no event."""
    port = free_port()
    data_dir = tmp_path / "restart"
    events = []
    errors = []
    # Two seconds of grace let the first server end the stream with UNAVAILABLE, while the
    # cell of 1000 iterations (about 10 s) is still running and so must resume.
    with embedded_server(data_dir=data_dir, port=port, grace_seconds=2.0) as first:
        remote = first.connect()
        job = remote.sweep(recording_path, ranks=[1], rnn_sizes=[10], iterations=1000,
                           patience=1000, eval_every=5, progress=False)
        started = threading.Event()

        def follow():
            try:
                for event in job.events(reconnect_seconds=60.0):
                    events.append(event)
                    if event.HasField("cell_progress"):
                        started.set()
            except LtrnnError as error:
                errors.append(error)

        watcher = threading.Thread(target=follow)
        watcher.start()
        assert started.wait(60), "the cell never reported progress"
    # The first server is gone, so the watcher retries until the second one accepts it.
    with embedded_server(data_dir=data_dir, port=port, grace_seconds=0.0):
        watcher.join(120)
        assert not watcher.is_alive()
        assert errors == []
        final = remote.job(job.id)
    remote.close()

    sequences = [event.sequence for event in events]
    assert sequences == list(range(1, len(sequences) + 1))
    assert final.state == "SUCCEEDED"
    messages = [event.cell_state.message for event in events if event.HasField("cell_state")]
    assert any("resume" in message or "lost" in message for message in messages)
