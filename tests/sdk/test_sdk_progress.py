"""Progress display of jobs and transfers: tqdm bars and plain log lines."""

from __future__ import annotations

import io

import pytest

from ltrnn.sdk.progress import ByteProgress, JobProgress, resolve_mode
from ltrnn.v1 import common_pb2, jobs_pb2, sweep_pb2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def sweep_job(n_cells: int = 2, iterations: int = 100) -> jobs_pb2.Job:
    job = jobs_pb2.Job(job_id="ab" * 16, kind=common_pb2.JOB_KIND_SWEEP,
                       state=common_pb2.JOB_STATE_PENDING)
    job.sweep.CopyFrom(sweep_pb2.SweepSpec(
        ranks=list(range(1, n_cells + 1)), rnn_sizes=[50], seeds=[0],
        hyperparameters=sweep_pb2.FitHyperparameters(iterations=iterations),
    ))
    for index in range(n_cells):
        job.cells.append(jobs_pb2.Cell(index=index, rank=index + 1, rnn_size=50, seed=0,
                                       state=common_pb2.CELL_STATE_PENDING))
    return job


def events():
    """A two-cell sweep: both start, cell 0 reports progress and both finish."""
    log = [
        jobs_pb2.JobEvent(job_state=jobs_pb2.JobStateChanged(state=common_pb2.JOB_STATE_RUNNING)),
        jobs_pb2.JobEvent(cell_state=jobs_pb2.CellStateChanged(
            cell_index=0, state=common_pb2.CELL_STATE_RUNNING, attempt=1)),
        jobs_pb2.JobEvent(cell_state=jobs_pb2.CellStateChanged(
            cell_index=1, state=common_pb2.CELL_STATE_RUNNING, attempt=1)),
        jobs_pb2.JobEvent(cell_progress=jobs_pb2.CellProgressed(
            cell_index=0, progress=jobs_pb2.CellProgress(iteration=40, iterations=100))),
        jobs_pb2.JobEvent(cell_finished=jobs_pb2.CellFinished(
            cell_index=0, losses=sweep_pb2.FitLosses(train=0.7, validation=0.75, test=0.76),
            iterations_run=100, seconds=12.0)),
        jobs_pb2.JobEvent(cell_state=jobs_pb2.CellStateChanged(
            cell_index=1, state=common_pb2.CELL_STATE_FAILED, attempt=1,
            message="the loss became nan")),
        jobs_pb2.JobEvent(job_state=jobs_pb2.JobStateChanged(
            state=common_pb2.JOB_STATE_SUCCEEDED, message="1 of 2 cells succeeded")),
    ]
    for sequence, event in enumerate(log, start=1):
        event.sequence = sequence
    return log


def test_log_lines_name_cells_and_losses():
    stream = io.StringIO()
    display = JobProgress(sweep_job(), progress="log", stream=stream, log_interval=0.0)
    for event in events():
        display.update(event)
    display.close()
    text = stream.getvalue()
    assert "watching 2 cells of 100 iterations each" in text
    assert "cell 0 (rank 1, N=50, seed 0) started (attempt 1)" in text
    assert ("cell 0 (rank 1, N=50, seed 0) succeeded: validation loss 0.7500, test loss "
            "0.7600, 100 iterations in 12 s") in text
    assert "cell 1 (rank 2, N=50, seed 0) failed: the loss became nan" in text
    assert "SUCCEEDED: 1 of 2 cells succeeded" in text
    assert "20% of iterations, 0/2 cells done, 2 running" in text
    assert "100% of iterations, 2/2 cells done, 0 running, best validation loss 0.7500" in text


def test_bar_counts_iterations_of_all_cells():
    stream = Terminal()
    display = JobProgress(sweep_job(), progress=True, stream=stream)
    checkpoints = []
    for event in events():
        display.update(event)
        checkpoints.append(display._bar.n)
    assert display._bar.total == 200
    display.close()
    # Progress of cell 0 (40), its end (100), then the failure of cell 1 (200).
    assert checkpoints == [0, 0, 0, 40, 100, 200, 200]
    assert "job abababab" in stream.getvalue()


def test_requeued_cell_restarts_count():
    display = JobProgress(sweep_job(n_cells=1), progress="bar", stream=Terminal())
    display.update(events()[3])
    assert display._bar.n == 40
    display.update(jobs_pb2.JobEvent(cell_state=jobs_pb2.CellStateChanged(
        cell_index=0, state=common_pb2.CELL_STATE_PENDING, message="worker died; retrying")))
    assert display._bar.n == 0
    display.close()


@pytest.mark.parametrize(
    ("progress", "stream", "mode"),
    [
        (True, Terminal(), "bar"),
        (True, io.StringIO(), "log"),
        ("auto", io.StringIO(), "log"),
        (False, Terminal(), "none"),
        (None, Terminal(), "none"),
        ("log", Terminal(), "log"),
        ("bar", io.StringIO(), "bar"),
    ],
)
def test_mode_follows_terminal(progress, stream, mode):
    assert resolve_mode(progress, stream) == mode


def test_bad_mode_rejected():
    with pytest.raises(ValueError, match=r"progress must be True, False or one of"):
        resolve_mode("loud", io.StringIO())


def test_byte_progress_log_lines():
    stream = io.StringIO()
    display = ByteProgress(3 * 1024 * 1024, "upload session.npz", "log", stream)
    display.update(1024)
    display.close("done")
    assert stream.getvalue().splitlines() == [
        "upload session.npz: 3.0 MiB", "upload session.npz: done",
    ]
