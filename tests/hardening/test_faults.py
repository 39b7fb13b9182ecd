"""Faults of the machine under a real server: unwritable data directory, full disk, dying workers.

Tests run as root here, where ``chmod 0500`` does not stop writes, so an unwritable data
directory is made by putting it under a regular file. A full disk is made by pointing the
artifact store's partial files at ``/dev/full`` through a symlink, so every write of a
dataset, model or result fails with the kernel's own ENOSPC. The SQLite job store is not
covered by that: a real full file system cannot be mounted in this sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from ltrnn.server.app import LtrnnServer, create_server
from ltrnn.server.artifacts import ArtifactStore
from ltrnn.server.settings import Settings
from ltrnn.v1 import common_pb2, fit_pb2, sweep_pb2

from hardening_helpers import health_status
from server_helpers import (
    fit_stub, job_ended, kill_ray_worker, upload_requests, wait_for, watch_until,
)

pytestmark = pytest.mark.timeout(180)


def sweep_request(dataset_id, iterations=40, ranks=(1,)):
    return fit_pb2.SubmitSweepRequest(sweep=sweep_pb2.SweepSpec(
        dataset_id=dataset_id, ranks=list(ranks), rnn_sizes=[10], seeds=[0],
        hyperparameters=sweep_pb2.FitHyperparameters(
            iterations=iterations, eval_every=5, patience=iterations
        ),
    ))


# -- unwritable data directory ------------------------------------------------------------


@pytest.fixture
def data_dir_under_file(tmp_path) -> Path:
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a directory")
    return blocker / "data"


def test_data_dir_under_file_fails_start(data_dir_under_file):
    server = LtrnnServer(
        Settings(port=0, metrics_port=0, data_dir=str(data_dir_under_file)), services=("analysis",)
    )
    with pytest.raises(OSError, match="is not a writable directory") as raised:
        server.start()
    assert str(data_dir_under_file) in str(raised.value)
    assert "LTRNN_DATA_DIR" in str(raised.value)


def test_serve_command_reports_unwritable_data_dir(data_dir_under_file):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LTRNN_", "RAY_"))}
    finished = subprocess.run(
        [sys.executable, "-m", "ltrnn.cli.main", "serve-analysis", "--port", "0",
         "--metrics-port", "0", "--data-dir", str(data_dir_under_file)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert finished.returncode != 0
    last_line = finished.stderr.strip().splitlines()[-1]
    assert f"the data directory {data_dir_under_file} is not a writable directory" in last_line


# -- full disk ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(ray_runtime, tmp_path_factory):
    running = create_server(Settings(
        port=0, metrics_port=0, data_dir=str(tmp_path_factory.mktemp("data")), grace_seconds=0,
        cell_max_retries=1,
    ))
    yield running
    running.stop(grace=0)


@pytest.fixture(scope="module")
def stub(server):
    return fit_stub(server)


def route_writes_to_dev_full(store: ArtifactStore, monkeypatch) -> None:
    """Make every new partial file of ``store`` a symlink to /dev/full, so writes get ENOSPC.

    Removing such a partial file removes the symlink only.
    """
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is needed to simulate a full disk")

    def temporary_path(suffix=""):
        path = store.root / "tmp" / f"{uuid.uuid4().hex}{suffix}"
        path.symlink_to("/dev/full")
        return path

    monkeypatch.setattr(store, "temporary_path", temporary_path)


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_full_disk_upload_fails_cleanly(server, stub, tiny_dataset, monkeypatch):
    store = server.fit_servicer._artifacts
    datasets_before = listing(store.root / "datasets")
    route_writes_to_dev_full(store, monkeypatch)
    with pytest.raises(grpc.RpcError) as raised:
        stub.UploadDataset(upload_requests(tiny_dataset), timeout=30)
    monkeypatch.undo()

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, raised.value.details()
    assert "data directory is full (No space left on device)" in raised.value.details()
    assert listing(store.root / "datasets") == datasets_before
    assert listing(store.root / "tmp") == []
    with grpc.insecure_channel(server.address) as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING


def test_full_disk_fails_cell_clearly(server, stub, tiny_dataset, monkeypatch):
    dataset_id = stub.UploadDataset(upload_requests(tiny_dataset), timeout=30).dataset_id
    store = server.fit_servicer._artifacts
    models_before = listing(store.root / "models")
    route_writes_to_dev_full(store, monkeypatch)
    job_id = stub.SubmitSweep(sweep_request(dataset_id), timeout=30).job.job_id
    events = watch_until(stub, job_id, job_ended)
    monkeypatch.undo()

    assert events[-1].job_state.state == common_pb2.JOB_STATE_FAILED
    cell = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id), timeout=10).cells[0]
    assert cell.state == common_pb2.CELL_STATE_FAILED
    assert "could not record the cell's result" in cell.error
    assert "No space left on device" in cell.error
    assert listing(store.root / "models") == models_before
    wait_for(lambda: listing(store.root / "tmp") == [], timeout=10)
    # With space again, a sweep on the same server runs to the end.
    again = stub.SubmitSweep(sweep_request(dataset_id, iterations=41), timeout=30).job.job_id
    events = watch_until(stub, again, job_ended)
    assert events[-1].job_state.state == common_pb2.JOB_STATE_SUCCEEDED


# -- dying workers --------------------------------------------------------------------------


def test_repeated_worker_deaths_bounded(stub, tiny_dataset):
    """Kill the worker of each attempt. With cell_max_retries=1 the second death is final."""
    dataset_id = stub.UploadDataset(upload_requests(tiny_dataset), timeout=30).dataset_id
    job_id = stub.SubmitSweep(
        sweep_request(dataset_id, iterations=5000, ranks=(2,)), timeout=30
    ).job.job_id
    killed, after = [], 0
    for _ in range(2):
        events = watch_until(
            stub, job_id,
            lambda event: event.HasField("cell_progress")
            and event.cell_progress.progress.worker_pid not in (0, *killed),
            after=after,
        )
        pid = events[-1].cell_progress.progress.worker_pid
        after = events[-1].sequence
        kill_ray_worker(pid)
        killed.append(pid)

    events = watch_until(stub, job_id, job_ended, after=after)
    assert events[-1].job_state.state == common_pb2.JOB_STATE_FAILED
    cell = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id), timeout=10).cells[0]
    assert cell.state == common_pb2.CELL_STATE_FAILED
    assert cell.attempts == 2
    assert "used up its retries (2 attempts; LTRNN_CELL_MAX_RETRIES=1)" in cell.error
    assert len(set(killed)) == 2
