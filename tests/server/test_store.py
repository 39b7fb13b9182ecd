"""The SQLite job store: schema versions, the job state machine, events and persistence."""

from __future__ import annotations

import sqlite3

import pytest

from ltrnn.server.store import (
    CANCELLED, FAILED, PENDING, RUNNING, SCHEMA_VERSION, SUCCEEDED, JobStore, SchemaError,
)
from ltrnn.v1 import common_pb2, jobs_pb2

LOSSES = {"train": 0.1, "validation": 0.2, "test": 0.3}


@pytest.fixture
def store(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    yield store
    store.close()


def new_job(store, cells=((1, 10, 0), (2, 10, 0)), key=None):
    job, created = store.create_job(
        kind=common_pb2.JOB_KIND_SWEEP, spec=b"spec", cells=list(cells),
        request_digest="digest", idempotency_key=key,
    )
    return job, created


def event_kinds(store, job_id):
    return [event.WhichOneof("event") for event in store.events_after(job_id, 0)]


def test_new_file_gets_current_schema(store):
    assert store.schema_version == SCHEMA_VERSION == 1
    journal = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_newer_schema_is_rejected(tmp_path):
    path = tmp_path / "future.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(SchemaError, match="schema version 99, newer than the version 1"):
        JobStore(path)


def test_create_job_starts_pending(store):
    job, created = new_job(store)
    assert created
    assert job.state == PENDING
    assert [cell.state for cell in store.get_cells(job.job_id)] == [PENDING, PENDING]
    assert [(cell.rank, cell.rnn_size, cell.seed) for cell in store.get_cells(job.job_id)] == [
        (1, 10, 0), (2, 10, 0),
    ]
    events = store.events_after(job.job_id, 0)
    assert [event.sequence for event in events] == [1]
    assert events[0].job_state.state == common_pb2.JOB_STATE_PENDING


def test_idempotency_key_returns_first_job(store):
    first, _ = new_job(store, key="k1")
    again, created = new_job(store, cells=((5, 10, 0),), key="k1")
    assert not created
    assert again.job_id == first.job_id
    assert len(store.get_cells(first.job_id)) == 2
    other, created = new_job(store, key="k2")
    assert created and other.job_id != first.job_id


def test_cells_drive_job_to_success(store):
    job, _ = new_job(store)
    assert store.start_cell(job.job_id, 0, 1)
    assert store.get_job(job.job_id).state == RUNNING
    store.record_progress(job.job_id, 0, jobs_pb2.CellProgress(iteration=5, iterations=30))
    assert store.finish_cell(job.job_id, 0, model_id="m0", losses=LOSSES, iterations_run=30, seconds=1.5)
    assert store.get_job(job.job_id).state == RUNNING
    assert store.fail_cell(job.job_id, 1, "boom")
    job = store.get_job(job.job_id)
    assert job.state == SUCCEEDED
    assert job.ended is not None
    cell = store.get_cell(job.job_id, 0)
    assert (cell.model_id, cell.validation_loss, cell.iterations_run) == ("m0", 0.2, 30)
    assert store.get_cell(job.job_id, 1).error == "boom"
    events = store.events_after(job.job_id, 0)
    assert [event.sequence for event in events] == list(range(1, job.last_sequence + 1))
    assert event_kinds(store, job.job_id).count("cell_finished") == 1


def test_all_cells_failing_fails_job(store):
    job, _ = new_job(store)
    store.fail_cell(job.job_id, 0, "first")
    store.fail_cell(job.job_id, 1, "second")
    job = store.get_job(job.job_id)
    assert job.state == FAILED
    assert "every cell failed" in job.error


def test_cancel_marks_unfinished_cells(store):
    job, _ = new_job(store, cells=((1, 10, 0), (2, 10, 0), (3, 10, 0)))
    store.start_cell(job.job_id, 0, 1)
    store.finish_cell(job.job_id, 0, model_id="m0", losses=LOSSES, iterations_run=3, seconds=1.0)
    store.start_cell(job.job_id, 1, 1)
    assert store.cancel_job(job.job_id, "stop") == [1, 2]
    assert store.get_job(job.job_id).state == CANCELLED
    states = [cell.state for cell in store.get_cells(job.job_id)]
    assert states == [SUCCEEDED, CANCELLED, CANCELLED]
    # Late results of cancelled cells are ignored, and cancelling twice changes nothing.
    assert not store.finish_cell(job.job_id, 1, model_id="m1", losses=LOSSES, iterations_run=3, seconds=1.0)
    assert not store.start_cell(job.job_id, 2, 1)
    assert store.cancel_job(job.job_id, "stop") == []


def test_requeue_only_running_cells(store):
    job, _ = new_job(store)
    assert not store.requeue_cell(job.job_id, 0, "not running")
    store.start_cell(job.job_id, 0, 1)
    assert store.requeue_cell(job.job_id, 0, "lost")
    cell = store.get_cell(job.job_id, 0)
    assert cell.state == PENDING
    assert cell.attempts == 1
    assert store.events_after(job.job_id, 0)[-1].cell_state.message == "lost"


def test_progress_only_for_running_cells(store):
    job, _ = new_job(store)
    assert not store.record_progress(job.job_id, 0, jobs_pb2.CellProgress(iteration=1))
    store.start_cell(job.job_id, 0, 1)
    assert store.record_progress(job.job_id, 0, jobs_pb2.CellProgress(iteration=7))
    progress = jobs_pb2.CellProgress.FromString(store.get_cell(job.job_id, 0).progress)
    assert progress.iteration == 7


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    job, _ = new_job(store)
    store.start_cell(job.job_id, 0, 1)
    store.close()
    reopened = JobStore(path)
    assert [j.job_id for j in reopened.unfinished_jobs()] == [job.job_id]
    assert reopened.get_cell(job.job_id, 0).state == RUNNING
    assert reopened.get_job(job.job_id).last_sequence == len(reopened.events_after(job.job_id, 0))
    reopened.close()


def test_list_jobs_pages_newest_first(store):
    ids = [new_job(store)[0].job_id for _ in range(5)]
    first = store.list_jobs(limit=2)
    assert [job.job_id for job in first] == ids[::-1][:2]
    rest = store.list_jobs(limit=10, before=(first[-1].created, first[-1].job_id))
    assert [job.job_id for job in rest] == ids[::-1][2:]
    store.cancel_job(ids[0], "stop")
    assert [job.job_id for job in store.list_jobs(limit=10, state=CANCELLED)] == [ids[0]]
