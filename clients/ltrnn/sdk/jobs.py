"""Handles of server-side jobs: follow their events, wait for them, read results, cancel."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import grpc

from ltrnn.v1 import common_pb2, fit_pb2

from .errors import DeadlineExceeded, LtrnnError, from_rpc_error
from .progress import JobProgress
from .results import LOSS_NAMES, state_name

logger = logging.getLogger(__name__)

FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
KIND_NAMES = {
    common_pb2.JOB_KIND_SWEEP: "sweep",
    common_pb2.JOB_KIND_TENSOR_RANK: "tensor_rank",
}
# WatchJob streams that fail with UNAVAILABLE (server restart, network drop) are reopened
# from the last event received, waiting this long at first and doubling up to the maximum.
RECONNECT_FIRST_WAIT = 0.5
RECONNECT_MAX_WAIT = 5.0


@dataclass(frozen=True)
class CellStatus:
    """State of one cell of a job as the server last reported it."""

    index: int
    rank: int
    rnn_size: int
    seed: int
    state: str
    attempts: int
    iteration: int
    iterations: int
    losses: dict | None
    model_id: str
    error: str
    iterations_run: int
    seconds: float

    @classmethod
    def from_message(cls, cell) -> "CellStatus":
        losses = None
        if cell.HasField("losses"):
            losses = {name: getattr(cell.losses, name) for name in LOSS_NAMES}
        return cls(
            index=cell.index, rank=cell.rank, rnn_size=cell.rnn_size, seed=cell.seed,
            state=state_name(cell.state), attempts=cell.attempts,
            iteration=cell.progress.iteration, iterations=cell.progress.iterations,
            losses=losses, model_id=cell.model_id, error=cell.error,
            iterations_run=cell.iterations_run, seconds=cell.seconds,
        )


class Job:
    """A job on the server: a rank sweep or a tensor rank analysis.

    Get one from :meth:`Client.sweep`, :meth:`Client.job` or :meth:`Client.jobs`. The
    attributes describe the job as last read; :meth:`refresh` reads it again.

    Attributes
    ----------
    id : str
    kind : {"sweep", "tensor_rank"}
    state : {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}
    cells : list of CellStatus
        Empty for jobs read with :meth:`Client.jobs` until :meth:`refresh`.
    cell_counts : dict
        Cells per state ("pending", "running", "succeeded", "failed", "cancelled", "total").
    error : str
        Why the job failed; empty otherwise.
    message : ltrnn.v1.Job
        The message as received.
    """

    def __init__(self, client, message):
        self._client = client
        self._set(message)

    def _set(self, message) -> None:
        self.message = message
        self.id = message.job_id
        self.kind = KIND_NAMES.get(message.kind, "unknown")
        self.state = state_name(message.state)
        self.cells = [CellStatus.from_message(cell) for cell in message.cells]
        counts = message.cell_counts
        self.cell_counts = {
            name: getattr(counts, name)
            for name in ("pending", "running", "succeeded", "failed", "cancelled", "total")
        }
        self.error = message.error

    def __repr__(self) -> str:
        counts = self.cell_counts
        return (
            f"Job(id={self.id!r}, kind={self.kind!r}, state={self.state!r}, "
            f"cells={counts['succeeded']}/{counts['total']} succeeded)"
        )

    @property
    def done(self) -> bool:
        """True once the job is in a final state (as last read)."""
        return self.state in FINAL_STATES

    def refresh(self) -> "Job":
        """Read the job again from the server; returns self."""
        self._set(self._client._get_job_message(self.id))
        return self

    def events(self, after_sequence: int = 0, exclude_progress: bool = False,
               reconnect_seconds: float = 60.0):
        """Yield the job's events (ltrnn.v1.JobEvent) until the job has ended.

        A stream that fails with UNAVAILABLE is reopened after the last event received, so
        no event is lost or repeated across a server restart.

        Parameters
        ----------
        after_sequence : int, default=0
            Start after this event; 0 starts from the first event of the job.
        exclude_progress : bool, default=False
            Leave out the progress reports of running cells.
        reconnect_seconds : float, default=60.0
            How long to keep trying to reconnect before raising :class:`Unavailable`.
        """
        after = after_sequence
        failing_since = None
        wait = RECONNECT_FIRST_WAIT
        while True:
            request = fit_pb2.WatchJobRequest(
                job_id=self.id, after_sequence=after, exclude_progress=exclude_progress
            )
            stream = self._client._watch_stream(request)
            try:
                for event in stream:
                    after = event.sequence
                    failing_since, wait = None, RECONNECT_FIRST_WAIT
                    yield event
                return
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise from_rpc_error(error) from None
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since > reconnect_seconds:
                    raise from_rpc_error(error) from None
                logger.info(
                    "watch of job %s lost (%s); reconnecting after event %d in %.1f s",
                    self.id, error.details(), after, wait,
                )
                time.sleep(wait)
                wait = min(2 * wait, RECONNECT_MAX_WAIT)
            finally:
                # A caller that stops iterating early must not leave the stream open, because
                # each open stream occupies one RPC thread of the server.
                stream.cancel()

    def watch(self, progress=True, stream=None, reconnect_seconds: float = 60.0) -> "Job":
        """Follow the job until it ends, showing its progress; returns self, refreshed.

        Parameters
        ----------
        progress : bool or {"auto", "bar", "log", "none"}, default=True
            True shows a tqdm bar on terminals and in notebooks and plain log lines when the
            output is not a terminal.
        stream : file, optional
            Where the progress goes; default stderr.
        reconnect_seconds : float, default=60.0
            How long a lost stream is retried (see :meth:`events`).
        """
        if not self.cells:
            self.refresh()
        display = JobProgress(self.message, progress, stream)
        try:
            for event in self.events(
                exclude_progress=display_mode_excludes_progress(progress),
                reconnect_seconds=reconnect_seconds,
            ):
                display.update(event)
        finally:
            display.close()
        return self.refresh()

    def wait(self, timeout: float | None = None, poll_seconds: float = 0.5) -> "Job":
        """Block until the job ends, without a display; returns self, refreshed.

        Raises
        ------
        DeadlineExceeded
            When ``timeout`` seconds pass first.
        """
        if timeout is None:
            for _ in self.events(exclude_progress=True):
                pass
            return self.refresh()
        deadline = time.monotonic() + timeout
        while not self.refresh().done:
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(
                    f"job {self.id} is still {self.state} after {timeout:g} s; call wait again "
                    "or cancel it"
                )
            time.sleep(poll_seconds)
        return self

    def result(self, wait: bool = True):
        """Return the job's result: a SweepResult, or a TensorRankResult.

        Parameters
        ----------
        wait : bool, default=True
            Wait for the job to end first. With False a sweep returns the cells finished so
            far.
        """
        if wait and not self.done:
            self.wait()
        if self.kind == "tensor_rank":
            return self._client._tensor_rank_result(self.id)
        return self._client.sweep_result(self.id)

    def cancel(self) -> "Job":
        """Cancel the job; running cells stop at their next progress report. Returns self."""
        self._set(self._client._cancel_job_message(self.id))
        return self

    def raise_for_state(self) -> "Job":
        """Raise :class:`LtrnnError` unless the job succeeded; returns self otherwise."""
        if self.state != "SUCCEEDED":
            failed = [cell for cell in self.cells if cell.error]
            reason = self.error or (failed[0].error if failed else "")
            detail = f": {reason}" if reason else ""
            raise LtrnnError(f"job {self.id} ended {self.state}{detail}")
        return self


def display_mode_excludes_progress(progress) -> bool:
    """True when the display shows no per-iteration progress, so the stream can skip it."""
    return progress is False or progress is None or progress == "none"
