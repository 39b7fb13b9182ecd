"""Tensor rank jobs: stored in the job store, run one at a time on a service thread.

A job's cells are its (rank, replicate) fits in the order the engine runs them, stored with
``rnn_size`` 0 and the replicate index in ``seed``. The engine reports after each fit, so a
cell turns RUNNING when the previous fit ends and SUCCEEDED when its own fit ends, with
``losses.train`` the relative training error and ``losses.validation`` the held-out error
(NaN without held-out entries). The last cell succeeds only after the result is stored
under ``results/<job_id>.json``, so a SUCCEEDED job always has a result.

The fits run on a thread of the service process rather than on Ray: one CP sweep is one
engine call, and its tensor is already in the service's memory.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.protobuf import json_format

from ltrnn.engine.analysis import TensorRankCancelled, TensorRankProgress
from ltrnn.v1 import analysis_pb2, common_pb2, jobs_pb2

from .. import metrics
from ..artifacts import ArtifactStore, check_id
from ..errors import RequestError, exhausted, invalid, not_found, precondition
from ..store import STATE_NAMES, JobRecord, JobStore
from .limits import AnalysisLimits
from .tensor_rank import TensorRankTask, parse_tensor_rank, run_tensor_rank, tensor_rank_message

logger = logging.getLogger(__name__)

TENSOR_RANK = common_pb2.JOB_KIND_TENSOR_RANK
# The rules of SubmitSweepRequest.idempotency_key.
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._-]{1,128}")


class TensorRankJobs:
    """Accepts tensor rank jobs, runs them and returns their results.

    Parameters
    ----------
    store : JobStore
    artifacts : ArtifactStore
        Where results are written, as ``results/<job_id>.json``.
    limits : AnalysisLimits
    """

    def __init__(self, store: JobStore, artifacts: ArtifactStore, limits: AnalysisLimits):
        self._store = store
        self._artifacts = artifacts
        self._limits = limits
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltrnn-tensor-rank")
        # NOTE: unfinished jobs are failed at start instead of resumed, because
        # CellRunner.resume() submits every unfinished job of the store as a sweep.
        self._fail_unfinished(
            "the service stopped before this tensor rank job finished; submit it again"
        )

    def close(self) -> None:
        """Stop taking jobs and fail the unfinished ones, so that none is left RUNNING.

        A running sweep stops after its current (rank, replicate) fit.
        """
        self._stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._fail_unfinished("the service stopped before this job finished; submit it again")

    def _fail_unfinished(self, reason: str) -> None:
        for job in self._store.unfinished_jobs():
            if job.kind == TENSOR_RANK:
                self._store.fail_job(job.job_id, reason)
                metrics.JOBS_FINISHED.labels("FAILED").inc()
                logger.warning("job %s failed: %s", job.job_id, reason)

    # -- submission ----------------------------------------------------------------------

    def submit(self, request: analysis_pb2.SubmitTensorRankRequest) -> tuple[JobRecord, list]:
        """Validate and store a job, or return the job of a reused idempotency key.

        Returns
        -------
        job : JobRecord
        cells : list of CellRecord
        """
        if self._stopping.is_set():
            raise RequestError(
                grpc.StatusCode.UNAVAILABLE,
                "the server is shutting down; submit the job again later",
            )
        if not request.HasField("request"):
            raise invalid("request is missing; put the TensorRankRequest in it")
        task = parse_tensor_rank(request.request, self._limits, prefix="request.")
        key = request.idempotency_key
        if key and not IDEMPOTENCY_KEY.fullmatch(key):
            raise invalid(
                "idempotency_key must be 1 to 128 letters, digits, '.', '_' and '-', got "
                f"{key[:80]!r}"
            )
        spec = analysis_pb2.TensorRankRequest()
        spec.CopyFrom(request.request)
        spec.replicates = task.replicates
        content = spec.SerializeToString(deterministic=True)
        digest = "tensor_rank:" + hashlib.sha256(content).hexdigest()

        with self._lock:
            unfinished = self.unfinished_count()
            if unfinished >= self._limits.max_unfinished_jobs and not (
                key and self._find_by_key(key)
            ):
                raise exhausted(
                    f"{unfinished} tensor rank jobs are waiting or running, the server limit; "
                    "wait for one to finish or cancel one with CancelJob"
                )
            job, created = self._store.create_job(
                kind=TENSOR_RANK,
                spec=content,
                cells=[
                    (rank, 0, replicate)
                    for rank in task.ranks
                    for replicate in range(task.replicates)
                ],
                request_digest=digest,
                idempotency_key=key or None,
            )
        if not created:
            if job.request_digest != digest:
                raise RequestError(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"idempotency_key {key!r} was used for a different request (job "
                    f"{job.job_id}); use a new key for a new job",
                )
            return job, self._store.get_cells(job.job_id)
        metrics.JOBS_SUBMITTED.labels("tensor_rank").inc()
        logger.info(
            "job %s: tensor rank of a %s tensor, ranks %s x %d replicates (%.3g entry-rank "
            "fits)", job.job_id, "x".join(map(str, task.data.shape)), task.ranks,
            task.replicates, task.work,
        )
        self._executor.submit(self._run, job.job_id)
        return job, self._store.get_cells(job.job_id)

    def _find_by_key(self, key: str) -> JobRecord | None:
        # The store looks jobs up by key only inside create_job, so page through the jobs.
        before = None
        while True:
            page = self._store.list_jobs(limit=200, before=before)
            for job in page:
                if job.idempotency_key == key:
                    return job
            if len(page) < 200:
                return None
            before = (page[-1].created, page[-1].job_id)

    def unfinished_count(self) -> int:
        """Count the PENDING and RUNNING tensor rank jobs."""
        return sum(job.kind == TENSOR_RANK for job in self._store.unfinished_jobs())

    # -- results -------------------------------------------------------------------------

    def result(self, job_id: str) -> analysis_pb2.TensorRankResult:
        """Return the stored result of a SUCCEEDED tensor rank job."""
        check_id("job_id", job_id)
        job = self._store.get_job(job_id)
        if job is None:
            raise not_found(f"job_id {job_id!r} not found; list jobs with FitService.ListJobs")
        if job.kind != TENSOR_RANK:
            raise precondition(
                f"job {job_id} is not a tensor rank job; read sweeps with GetSweepResult"
            )
        if job.state != common_pb2.JOB_STATE_SUCCEEDED:
            state = STATE_NAMES[job.state]
            detail = f": {job.error}" if job.error else ""
            raise precondition(
                f"job {job_id} is {state}{detail}; a result exists once it is SUCCEEDED "
                "(follow it with FitService.WatchJob)"
            )
        stored = self._artifacts.read_result(job_id)
        if not stored:
            raise precondition(f"job {job_id} succeeded but its result file is missing")
        return json_format.ParseDict(stored, analysis_pb2.TensorRankResult())

    # -- running -------------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        try:
            self._run_job(job_id)
        except sqlite3.ProgrammingError as error:
            # The store was closed by a server stop while the fit was running.
            logger.warning("job %s: stopped with the job store closed (%s)", job_id, error)
        except Exception:  # noqa: BLE001 - a failed job must not kill the worker thread
            logger.exception("job %s: tensor rank failed inside the server", job_id)
            self._fail(job_id, "the tensor rank job failed inside the server; see its log")

    def _run_job(self, job_id: str) -> None:
        job = self._store.get_job(job_id)
        if self._stopping.is_set() or job is None or job.final:
            return
        request = analysis_pb2.TensorRankRequest.FromString(job.spec)
        try:
            task = parse_tensor_rank(request, self._limits, prefix="request.")
        except RequestError as error:
            self._fail(job_id, error.message)
            return
        run = _JobRun(self._store, job_id, task, self._limits, self._stopping)
        self._store.start_cell(job_id, 0, attempt=1)
        logger.info("job %s: started %d CP fits", job_id, task.n_fits)
        try:
            result = run_tensor_rank(task, self._limits, run.progress)
        except TensorRankCancelled:
            job = self._store.get_job(job_id)
            logger.info("job %s: stopped after %d fits (%s)", job_id, run.completed,
                        STATE_NAMES[job.state])
            return
        except (ValueError, FloatingPointError) as error:
            self._fail(job_id, f"the CP fits failed: {error}")
            return

        message = tensor_rank_message(result)
        self._artifacts.write_result(job_id, json_format.MessageToDict(message))
        run.finish_last()
        metrics.JOBS_FINISHED.labels("SUCCEEDED").inc()
        logger.info(
            "job %s succeeded in %.1f s: suggested rank %d", job_id, result.seconds,
            result.suggested_rank,
        )

    def _fail(self, job_id: str, message: str) -> None:
        job = self._store.get_job(job_id)
        if job is not None and not job.final:
            self._store.fail_job(job_id, message)
            metrics.JOBS_FINISHED.labels("FAILED").inc()
            logger.error("job %s failed: %s", job_id, message)


class _JobRun:
    """The progress callback of one job: moves its cells along and notices cancellation."""

    def __init__(self, store: JobStore, job_id: str, task: TensorRankTask,
                 limits: AnalysisLimits, stopping: threading.Event):
        self._store = store
        self._job_id = job_id
        self._task = task
        self._limits = limits
        self._stopping = stopping
        self._last: TensorRankProgress | None = None
        self._cell_start = time.perf_counter()
        self.completed = 0

    def progress(self, report: TensorRankProgress) -> bool:
        """Record a finished fit; return True to stop when the job has ended or must stop."""
        index = report.completed - 1
        self.completed = report.completed
        job = self._store.get_job(self._job_id)
        if self._stopping.is_set() or job is None or job.final:
            return True
        heldout = math.nan if report.heldout_error is None else report.heldout_error
        self._store.record_progress(self._job_id, index, jobs_pb2.CellProgress(
            iteration=report.iterations, iterations=self._limits.max_iterations,
            train_loss=report.error, validation_loss=heldout,
            elapsed_seconds=report.elapsed_seconds,
        ))
        if report.completed < report.total:
            self._finish(index, report)
            self._store.start_cell(self._job_id, index + 1, attempt=1)
        else:
            self._last = report
        return False

    def finish_last(self) -> None:
        """Mark the last fit SUCCEEDED, which ends the job; call after storing the result."""
        if self._last is not None:
            self._finish(self._last.completed - 1, self._last)

    def _finish(self, index: int, report: TensorRankProgress) -> None:
        now = time.perf_counter()
        heldout = math.nan if report.heldout_error is None else report.heldout_error
        self._store.finish_cell(
            self._job_id, index, model_id="",
            losses={"train": report.error, "validation": heldout, "test": math.nan},
            iterations_run=report.iterations, seconds=now - self._cell_start,
        )
        self._cell_start = now

