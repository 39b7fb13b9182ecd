"""FitService end to end: a real gRPC server on loopback, real local Ray, SQLite and files."""

from __future__ import annotations

import hashlib
import os

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ltrnn.engine.result import FitResult
from ltrnn.server.app import create_server
from ltrnn.server.settings import MIB, Settings
from ltrnn.server.store import JobStore
from ltrnn.server.tensors import from_tensor
from ltrnn.v1 import common_pb2, fit_pb2, sweep_pb2

from server_helpers import (
    fit_stub, free_port, job_ended, kill_ray_worker, metric_value, random_npz, upload_requests,
    wait_for, watch_all, watch_until,
)

pytestmark = pytest.mark.timeout(180)

TINY_FIT = sweep_pb2.FitHyperparameters(iterations=30, eval_every=5)


def sweep_request(dataset_id, *, ranks=(1, 2), seeds=(0, 1), key="", num_cpus=1.0, **fit):
    hyperparameters = sweep_pb2.FitHyperparameters()
    hyperparameters.CopyFrom(TINY_FIT)
    for name, value in fit.items():
        setattr(hyperparameters, name, value)
    return fit_pb2.SubmitSweepRequest(
        sweep=sweep_pb2.SweepSpec(
            dataset_id=dataset_id, ranks=list(ranks), rnn_sizes=[10], seeds=list(seeds),
            hyperparameters=hyperparameters,
            cell_resources=common_pb2.Resources(num_cpus=num_cpus),
        ),
        idempotency_key=key,
    )


@pytest.fixture(scope="module")
def server(ray_runtime, tmp_path_factory):
    settings = Settings(
        port=0, metrics_port=free_port(), data_dir=str(tmp_path_factory.mktemp("data")),
        grace_seconds=0, max_cells=20, max_message_bytes=4 * MIB, max_dataset_bytes=64 * MIB,
    )
    server = create_server(settings)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(server):
    return fit_stub(server)


@pytest.fixture(scope="module")
def dataset_id(stub, tiny_dataset):
    return stub.UploadDataset(upload_requests(tiny_dataset)).dataset_id


@pytest.fixture(scope="module")
def finished_sweep(server, stub, dataset_id):
    """A 2 ranks x 2 seeds sweep watched to the end, with /metrics read before and after."""
    before = {
        "submitted": metric_value(server, "ltrnn_jobs_submitted_total", kind="sweep"),
        "cells": metric_value(server, "ltrnn_cells_finished_total", state="SUCCEEDED"),
        "iterations": metric_value(server, "ltrnn_training_iterations_total"),
    }
    response = stub.SubmitSweep(sweep_request(dataset_id, key="main-sweep"))
    job_id = response.job.job_id
    during = {"submitted": metric_value(server, "ltrnn_jobs_submitted_total", kind="sweep")}
    events = watch_until(stub, job_id, job_ended)
    after = {
        "cells": metric_value(server, "ltrnn_cells_finished_total", state="SUCCEEDED"),
        "iterations": metric_value(server, "ltrnn_training_iterations_total"),
        "rpc": metric_value(
            server, "ltrnn_rpc_handled_total", method="/ltrnn.v1.FitService/SubmitSweep",
            code="OK",
        ),
    }
    return {
        "response": response, "job_id": job_id, "events": events, "before": before,
        "during": during, "after": after,
    }


def test_sweep_runs_to_success(stub, finished_sweep):
    response = finished_sweep["response"]
    assert response.created
    assert response.job.cell_counts.total == 4
    events = finished_sweep["events"]
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert events[-1].job_state.state == common_pb2.JOB_STATE_SUCCEEDED
    finished = [event.cell_finished for event in events if event.HasField("cell_finished")]
    assert sorted(cell.cell_index for cell in finished) == [0, 1, 2, 3]
    progress = [event.cell_progress.progress for event in events if event.HasField("cell_progress")]
    assert any(report.iteration > 0 and report.train_loss > 0 for report in progress)

    job = stub.GetJob(fit_pb2.GetJobRequest(job_id=finished_sweep["job_id"]))
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED
    assert job.cell_counts.succeeded == 4
    assert [(cell.rank, cell.seed) for cell in job.cells] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert all(cell.attempts == 1 and cell.iterations_run == 30 for cell in job.cells)
    assert job.sweep.hyperparameters.learning_rate == pytest.approx(1e-3)


def test_sweep_result_table(stub, finished_sweep):
    result = stub.GetSweepResult(fit_pb2.GetSweepResultRequest(job_id=finished_sweep["job_id"]))
    assert len(result.cells) == 4
    assert all(np.isfinite(row.losses.validation) for row in result.cells)
    assert [summary.rank for summary in result.ranks] == [1, 2]
    assert result.chosen_rank in (1, 2)
    assert "one-standard-error" in result.rule
    chosen = [row for row in result.cells if row.model_id == result.chosen_model_id]
    assert chosen and chosen[0].rank == result.chosen_rank


def test_watch_resumes_after_sequence(stub, finished_sweep):
    events = finished_sweep["events"]
    middle = events[len(events) // 2].sequence
    rest = watch_all(stub, finished_sweep["job_id"], after=middle)
    assert [event.sequence for event in rest] == [event.sequence for event in events[len(events) // 2 + 1:]]
    quiet = watch_all(stub, finished_sweep["job_id"])
    stream = stub.WatchJob(fit_pb2.WatchJobRequest(job_id=finished_sweep["job_id"], exclude_progress=True))
    assert not any(event.HasField("cell_progress") for event in stream)
    assert len(quiet) == len(events)


def test_model_round_trip(server, stub, finished_sweep):
    result = stub.GetSweepResult(fit_pb2.GetSweepResultRequest(job_id=finished_sweep["job_id"]))
    model_id = result.chosen_model_id
    model = stub.GetModel(fit_pb2.GetModelRequest(model_id=model_id, include_latents=True))
    stored = FitResult.load(os.path.join(server.settings.data_dir, "models", f"{model_id}.npz"))
    np.testing.assert_array_equal(from_tensor(model.trial_factors), stored.trial_factors)
    np.testing.assert_array_equal(from_tensor(model.eigenvalues), stored.eigenvalues)
    assert from_tensor(model.latents).shape == stored.latents.shape
    assert model.rank == result.chosen_rank
    assert list(model.recording.shape) == [30, 12, 12]
    assert not model.HasField("predictions")

    simulated = stub.Simulate(
        fit_pb2.SimulateRequest(model_id=model_id, trials=[0, 5], conditions=["c1", "c0"], include_latents=True)
    )
    predictions, latents = stored.simulate(trials=[0, 5], conditions=["c1", "c0"])
    np.testing.assert_allclose(from_tensor(simulated.predictions), predictions, rtol=1e-6)
    np.testing.assert_allclose(from_tensor(simulated.latents), latents, rtol=1e-6, atol=1e-9)

    messages = list(stub.ExportModel(fit_pb2.ExportModelRequest(model_id=model_id, chunk_bytes=4096)))
    content = b"".join(message.chunk for message in messages[1:])
    assert messages[0].info.total_bytes == len(content)
    assert hashlib.sha256(content).hexdigest() == model_id == messages[0].info.sha256
    assert len(messages) > 2


def test_idempotent_submit(stub, dataset_id, finished_sweep):
    again = stub.SubmitSweep(sweep_request(dataset_id, key="main-sweep"))
    assert not again.created
    assert again.job.job_id == finished_sweep["job_id"]
    with pytest.raises(grpc.RpcError) as raised:
        stub.SubmitSweep(sweep_request(dataset_id, key="main-sweep", seeds=(7,)))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "different request" in raised.value.details()


def test_metrics_move_during_sweep(finished_sweep):
    before, during, after = (finished_sweep[name] for name in ("before", "during", "after"))
    assert during["submitted"] == before["submitted"] + 1
    assert after["cells"] == before["cells"] + 4
    assert after["iterations"] >= before["iterations"] + 4 * 30
    assert after["rpc"] >= 1


def test_health_and_reflection(server):
    channel = grpc.insecure_channel(server.address)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "ltrnn.v1.FitService", "ltrnn.v1.AnalysisService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {service.name for reply in replies for service in reply.list_services_response.service}
    assert {"ltrnn.v1.FitService", "ltrnn.v1.AnalysisService", "grpc.health.v1.Health"} <= names


def test_large_upload_is_content_addressed(server, stub):
    content = random_npz(20 * MIB)
    assert len(content) >= 20 * MIB
    uploaded = metric_value(server, "ltrnn_uploaded_bytes_total")
    first = stub.UploadDataset(upload_requests(content, name="big"))
    assert first.dataset_id == hashlib.sha256(content).hexdigest()
    assert not first.already_existed
    assert first.size_bytes == len(content)
    assert list(first.recording.shape) == [64, 64, len(content) // (64 * 64 * 8)]
    assert metric_value(server, "ltrnn_uploaded_bytes_total") == uploaded + len(content)

    second = stub.UploadDataset(upload_requests(content, name="again"))
    assert second.dataset_id == first.dataset_id
    assert second.already_existed
    assert second.name == "big"
    # The second upload returned before reading the chunks.
    assert metric_value(server, "ltrnn_uploaded_bytes_total") < uploaded + 2 * len(content)


def test_checksum_mismatch_stores_nothing(server, stub):
    content = random_npz(2 * MIB, seed=1)
    datasets = os.path.join(server.settings.data_dir, "datasets")
    before = sorted(os.listdir(datasets))
    with pytest.raises(grpc.RpcError) as raised:
        stub.UploadDataset(upload_requests(content, sha256="0" * 64))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nothing was stored" in raised.value.details()
    assert sorted(os.listdir(datasets)) == before
    assert os.listdir(os.path.join(server.settings.data_dir, "tmp")) == []


def test_cancel_stops_running_cells(server, stub, dataset_id):
    request = sweep_request(dataset_id, ranks=(1, 2), seeds=(0,), iterations=50000, patience=50000)
    job_id = stub.SubmitSweep(request).job.job_id
    watch_until(
        stub, job_id,
        lambda event: event.HasField("cell_progress") and event.cell_progress.progress.iteration > 0,
    )
    cancelled = stub.CancelJob(fit_pb2.CancelJobRequest(job_id=job_id))
    assert cancelled.state == common_pb2.JOB_STATE_CANCELLED
    assert all(cell.state == common_pb2.CELL_STATE_CANCELLED for cell in cancelled.cells)

    wait_for(lambda: server.runner.in_flight(job_id) == 0, timeout=30)
    job = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id))
    assert job.state == common_pb2.JOB_STATE_CANCELLED
    assert all(cell.progress.iteration < 50000 for cell in job.cells)
    again = stub.CancelJob(fit_pb2.CancelJobRequest(job_id=job_id))
    assert again.state == common_pb2.JOB_STATE_CANCELLED


def test_killed_worker_is_retried(stub, dataset_id):
    # 800 iterations keep the first attempt running well past the kill.
    request = sweep_request(dataset_id, ranks=(2,), seeds=(0,), iterations=800, patience=1000)
    job_id = stub.SubmitSweep(request).job.job_id
    started = watch_until(
        stub, job_id,
        lambda event: event.HasField("cell_progress") and event.cell_progress.progress.worker_pid > 0,
    )
    pid = started[-1].cell_progress.progress.worker_pid
    kill_ray_worker(pid)

    events = watch_until(stub, job_id, job_ended, after=started[-1].sequence)
    assert events[-1].job_state.state == common_pb2.JOB_STATE_SUCCEEDED
    restarts = [event.cell_state for event in events if event.HasField("cell_state") and "died" in event.cell_state.message]
    assert len(restarts) == 1
    assert restarts[0].attempt == 2
    job = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id))
    assert job.cells[0].attempts == 2
    assert job.cells[0].progress.worker_pid != pid


def test_listing_pages(stub, finished_sweep):
    seen, token = [], ""
    while True:
        page = stub.ListJobs(fit_pb2.ListJobsRequest(page_size=1, page_token=token))
        seen.extend(job.job_id for job in page.jobs)
        assert all(len(job.cells) == 0 for job in page.jobs)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 1
    assert finished_sweep["job_id"] in seen
    succeeded = stub.ListJobs(fit_pb2.ListJobsRequest(state=common_pb2.JOB_STATE_SUCCEEDED))
    assert all(job.state == common_pb2.JOB_STATE_SUCCEEDED for job in succeeded.jobs)


def _bad_sweeps(dataset_id):
    def sweep(**changes):
        request = sweep_request(dataset_id)
        for path, value in changes.items():
            target = request.sweep
            *parents, name = path.split(".")
            for parent in parents:
                target = getattr(target, parent)
            if isinstance(value, list):
                del getattr(target, name)[:]
                getattr(target, name).extend(value)
            else:
                setattr(target, name, value)
        return request

    return [
        (sweep(dataset_id="f" * 64), grpc.StatusCode.NOT_FOUND, "UploadDataset"),
        (sweep(dataset_id="../../etc"), grpc.StatusCode.INVALID_ARGUMENT, "never paths"),
        (sweep(ranks=[]), grpc.StatusCode.INVALID_ARGUMENT, "sweep.ranks is empty"),
        (sweep(ranks=[65]), grpc.StatusCode.INVALID_ARGUMENT, "max_rank=64"),
        (sweep(ranks=[1, 1]), grpc.StatusCode.INVALID_ARGUMENT, "duplicates"),
        (sweep(ranks=[11]), grpc.StatusCode.INVALID_ARGUMENT, "every rank must be <="),
        (sweep(rnn_sizes=[4096]), grpc.StatusCode.INVALID_ARGUMENT, "max_rnn_size=2048"),
        (sweep(ranks=[1, 2, 3, 4, 5], seeds=[0, 1, 2, 3, 4]), grpc.StatusCode.RESOURCE_EXHAUSTED,
         "25 cells, above the server limit max_cells=20"),
        (sweep(**{"hyperparameters.iterations": 200000}), grpc.StatusCode.INVALID_ARGUMENT,
         "max_iterations=100000"),
        (sweep(**{"hyperparameters.learning_rate": -1.0}), grpc.StatusCode.INVALID_ARGUMENT,
         "learning_rate must be > 0"),
        (sweep(**{"hyperparameters.loss": "poisson"}), grpc.StatusCode.INVALID_ARGUMENT,
         "'poisson' but the dataset's kind is 'rates'"),
        (sweep(**{"masks.inner": [1, 2]}), grpc.StatusCode.INVALID_ARGUMENT, "sweep.masks: inner"),
        (sweep(**{"cell_resources.num_cpus": 0.0}), grpc.StatusCode.INVALID_ARGUMENT, "num_cpus must be"),
        (sweep(**{"cell_resources.num_gpus": 1.5}), grpc.StatusCode.INVALID_ARGUMENT, "whole number"),
        (sweep(**{"cell_resources.num_gpus": 1.0}), grpc.StatusCode.FAILED_PRECONDITION,
         "local Ray runtime has 0 GPUs"),
        (sweep(**{"cell_resources.num_cpus": 64.0}), grpc.StatusCode.FAILED_PRECONDITION,
         "local Ray runtime has 2 CPUs"),
    ]


def test_bad_sweeps(stub, dataset_id):
    for request, code, match in _bad_sweeps(dataset_id):
        with pytest.raises(grpc.RpcError) as raised:
            stub.SubmitSweep(request)
        assert raised.value.code() == code, (match, raised.value.details())
        assert match in raised.value.details()
    bad_key = sweep_request(dataset_id, key="no spaces allowed")
    with pytest.raises(grpc.RpcError, match="idempotency_key") as raised:
        stub.SubmitSweep(bad_key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "method, request_, code, match",
    [
        ("GetJob", fit_pb2.GetJobRequest(job_id="../etc/passwd"), "INVALID_ARGUMENT", "never paths"),
        ("GetJob", fit_pb2.GetJobRequest(job_id=""), "INVALID_ARGUMENT", "job_id is missing"),
        ("GetJob", fit_pb2.GetJobRequest(job_id="0" * 32), "NOT_FOUND", "ListJobs"),
        ("CancelJob", fit_pb2.CancelJobRequest(job_id="0" * 32), "NOT_FOUND", "not found"),
        ("GetSweepResult", fit_pb2.GetSweepResultRequest(job_id="a\\b"), "INVALID_ARGUMENT", "not a valid id"),
        ("GetModel", fit_pb2.GetModelRequest(model_id="a/b"), "INVALID_ARGUMENT", "never paths"),
        ("GetModel", fit_pb2.GetModelRequest(model_id="f" * 64), "NOT_FOUND", "GetSweepResult"),
        ("Simulate", fit_pb2.SimulateRequest(model_id="f" * 64), "NOT_FOUND", "not found"),
        ("GetDataset", fit_pb2.GetDatasetRequest(dataset_id="f" * 64), "NOT_FOUND", "UploadDataset"),
        ("ListJobs", fit_pb2.ListJobsRequest(page_size=1000), "INVALID_ARGUMENT", "page_size"),
        ("ListJobs", fit_pb2.ListJobsRequest(page_token="garbage"), "INVALID_ARGUMENT", "page_token"),
    ],
)
def test_bad_requests(stub, method, request_, code, match):
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, method)(request_)
    assert raised.value.code() == getattr(grpc.StatusCode, code)
    assert match in raised.value.details()


@pytest.mark.parametrize(
    "request_, code, match",
    [
        (fit_pb2.WatchJobRequest(job_id="0" * 32), "NOT_FOUND", "not found"),
        (fit_pb2.WatchJobRequest(job_id="x/y"), "INVALID_ARGUMENT", "never paths"),
        (fit_pb2.ExportModelRequest(model_id="f" * 64), "NOT_FOUND", "not found"),
    ],
)
def test_bad_stream_requests(stub, request_, code, match):
    method = stub.WatchJob if isinstance(request_, fit_pb2.WatchJobRequest) else stub.ExportModel
    with pytest.raises(grpc.RpcError) as raised:
        list(method(request_))
    assert raised.value.code() == getattr(grpc.StatusCode, code)
    assert match in raised.value.details()


def test_bad_requests_on_existing_objects(stub, finished_sweep):
    job_id = finished_sweep["job_id"]
    result = stub.GetSweepResult(fit_pb2.GetSweepResultRequest(job_id=job_id))
    model_id = result.chosen_model_id
    cases = [
        (lambda: stub.CancelJob(fit_pb2.CancelJobRequest(job_id=job_id)),
         grpc.StatusCode.FAILED_PRECONDITION, "already ended with state SUCCEEDED"),
        (lambda: list(stub.WatchJob(fit_pb2.WatchJobRequest(job_id=job_id, after_sequence=-1))),
         grpc.StatusCode.INVALID_ARGUMENT, "after_sequence"),
        (lambda: stub.Simulate(fit_pb2.SimulateRequest(model_id=model_id, trials=[1000])),
         grpc.StatusCode.INVALID_ARGUMENT, "trials must be indices in [0, 29]"),
        (lambda: stub.Simulate(fit_pb2.SimulateRequest(model_id=model_id, trials=[0], conditions=["nope"])),
         grpc.StatusCode.INVALID_ARGUMENT, "unknown conditions ['nope']"),
        (lambda: stub.Simulate(fit_pb2.SimulateRequest(model_id=model_id, trials=[0] * 200000)),
         grpc.StatusCode.RESOURCE_EXHAUSTED, "max_message_bytes"),
        (lambda: list(stub.ExportModel(fit_pb2.ExportModelRequest(model_id=model_id, chunk_bytes=10)))[-1],
         grpc.StatusCode.INVALID_ARGUMENT, "chunk_bytes must be in"),
    ]
    for call, code, match in cases:
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == code, (match, raised.value.details())
        assert match in raised.value.details()


@pytest.mark.parametrize(
    "requests, code, match",
    [
        ([fit_pb2.UploadDatasetRequest(chunk=b"abc")], "INVALID_ARGUMENT", "must carry header"),
        ([], "INVALID_ARGUMENT", "must carry header"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256="xyz", total_bytes=3))],
         "INVALID_ARGUMENT", "64 hex digits"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256="a" * 64, total_bytes=10**12))],
         "RESOURCE_EXHAUSTED", "max_dataset_bytes=67108864"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256="a" * 64, total_bytes=3, format="csv"))],
         "INVALID_ARGUMENT", "header.format must be 'npz'"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256="a" * 64, total_bytes=3)),
          fit_pb2.UploadDatasetRequest(chunk=b"abcd")], "INVALID_ARGUMENT", "more bytes than header.total_bytes"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256="a" * 64, total_bytes=8)),
          fit_pb2.UploadDatasetRequest(chunk=b"abcd")], "INVALID_ARGUMENT", "ended after 4 of"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256=hashlib.sha256(b"abcd").hexdigest(), total_bytes=4)),
          fit_pb2.UploadDatasetRequest(chunk=b"abcd")], "INVALID_ARGUMENT", "not a valid recording"),
        ([fit_pb2.UploadDatasetRequest(header=fit_pb2.DatasetHeader(sha256="a" * 64, total_bytes=5 * MIB)),
          fit_pb2.UploadDatasetRequest(chunk=b"x" * (5 * MIB))], "RESOURCE_EXHAUSTED", ""),
    ],
)
def test_bad_uploads(server, stub, requests, code, match):
    with pytest.raises(grpc.RpcError) as raised:
        stub.UploadDataset(iter(requests))
    assert raised.value.code() == getattr(grpc.StatusCode, code)
    assert match in raised.value.details()
    assert os.listdir(os.path.join(server.settings.data_dir, "tmp")) == []


def test_restart_resumes_without_refitting(ray_runtime, tmp_path, tiny_dataset):
    settings = Settings(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), grace_seconds=0)
    first = create_server(settings)
    stub = fit_stub(first)
    dataset = stub.UploadDataset(upload_requests(tiny_dataset)).dataset_id
    # Each cell reserves 1.5 of the 2 CPUs, so the cells run one after another, each on one
    # torch thread.
    request = sweep_request(dataset, ranks=(1, 2, 3), seeds=(0,), num_cpus=1.5, iterations=200)
    job_id = stub.SubmitSweep(request).job.job_id
    watch_until(stub, job_id, lambda event: event.HasField("cell_finished"))
    first.stop(grace=0)

    store = JobStore(settings.database_path)
    cells = store.get_cells(job_id)
    done = {cell.index: cell for cell in cells if cell.state == common_pb2.CELL_STATE_SUCCEEDED}
    unfinished = [cell for cell in cells if cell.index not in done]
    assert done and unfinished
    assert all(cell.state == common_pb2.CELL_STATE_PENDING for cell in unfinished)
    # Leave one cell RUNNING, as a service killed without a shutdown would.
    store.start_cell(job_id, unfinished[0].index, unfinished[0].attempts + 1)
    store.close()

    second = create_server(settings)
    try:
        stub = fit_stub(second)
        events = watch_until(stub, job_id, job_ended)
        assert events[-1].job_state.state == common_pb2.JOB_STATE_SUCCEEDED
        assert any("lost when the service stopped" in event.cell_state.message
                   for event in events if event.HasField("cell_state"))
        job = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id))
        assert job.cell_counts.succeeded == 3
        for index, cell in done.items():
            assert job.cells[index].model_id == cell.model_id
            assert job.cells[index].attempts == cell.attempts == 1
        listed = stub.ListJobs(fit_pb2.ListJobsRequest())
        assert [listed_job.job_id for listed_job in listed.jobs] == [job_id]
    finally:
        second.stop(grace=0)


def test_failing_fit_fails_job(stub, dataset_id):
    # A time constant of 1e-3 bins makes the Euler steps explode at the first iteration.
    job_id = stub.SubmitSweep(sweep_request(dataset_id, ranks=(1,), seeds=(0,), tau=1e-3)).job.job_id
    events = watch_until(stub, job_id, job_ended)
    assert events[-1].job_state.state == common_pb2.JOB_STATE_FAILED
    cell = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id)).cells[0]
    assert cell.state == common_pb2.CELL_STATE_FAILED
    assert "FloatingPointError" in cell.error
    assert "lower learning_rate" in cell.error
    assert cell.attempts == 1


def test_worker_death_beyond_retries_fails_cell(ray_runtime, tmp_path, tiny_dataset):
    settings = Settings(
        port=0, metrics_port=0, data_dir=str(tmp_path / "data"), grace_seconds=0,
        cell_max_retries=0,
    )
    server = create_server(settings)
    try:
        stub = fit_stub(server)
        dataset = stub.UploadDataset(upload_requests(tiny_dataset)).dataset_id
        request = sweep_request(dataset, ranks=(1,), seeds=(0,), iterations=300, patience=1000)
        job_id = stub.SubmitSweep(request).job.job_id
        started = watch_until(
            stub, job_id,
            lambda event: event.HasField("cell_progress") and event.cell_progress.progress.worker_pid > 0,
        )
        kill_ray_worker(started[-1].cell_progress.progress.worker_pid)
        events = watch_until(stub, job_id, job_ended, after=started[-1].sequence)
        assert events[-1].job_state.state == common_pb2.JOB_STATE_FAILED
        cell = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id)).cells[0]
        assert "used up its retries" in cell.error
        assert "LTRNN_CELL_MAX_RETRIES=0" in cell.error
    finally:
        server.stop(grace=0)


def test_board_answers_cancelled(ray_runtime):
    from ltrnn.server.cell import ProgressBoard, _BoardClient

    board = ProgressBoard.remote()
    client = _BoardClient(board, ("job", 0))
    client.started(1234, "node")
    assert client.report({"iteration": 1}) is False
    ray_runtime.get(board.cancel.remote([("job", 0)]))
    assert wait_for(lambda: client.report({"iteration": 2}), timeout=10)
    starts, latest = ray_runtime.get(board.drain.remote())
    assert starts == [(("job", 0), 1234, "node")]
    assert latest[("job", 0)]["iteration"] == 2
    ray_runtime.kill(board)
