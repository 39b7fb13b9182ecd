"""Runs sweep cells as Ray tasks and records their starts, progress and results in the job store.

Each cell is one Ray task that reserves the cell's CPUs and GPUs. Workers send starts and
progress to a :class:`~ltrnn.server.cell.ProgressBoard` actor. A thread of the service
drains the board and collects finished tasks a few times per second, then writes every
change to the job store, which stays the one source of truth. Ray retries a task whose
worker died (``max_retries``), but an error raised by the fit itself is final.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import ray
import ray.exceptions

from ltrnn.engine.fitting import FitCancelled
from ltrnn.v1 import common_pb2, jobs_pb2, sweep_pb2

from . import metrics
from .artifacts import ArtifactStore
from .cell import ProgressBoard, run_cell
from .settings import Settings
from .store import RUNNING, STATE_NAMES, JobStore
from .sweeps import fit_config, mask_settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
# Seconds that a running cell of a cancelled job gets to stop by itself before its worker
# process is killed. The cell learns of the cancellation at its next progress report.
CANCEL_SECONDS = 10.0
# Seconds between two stored progress events of one cell, which keeps the event log of a long
# sweep small. The final report of a cell is always stored.
PROGRESS_EVENT_SECONDS = 1.0


def connect_ray(settings: Settings) -> bool:
    """Start a local Ray runtime or connect to ``settings.ray_address``.

    A runtime this process started before (e.g. by a test fixture) is used as it is.

    Returns
    -------
    bool
        True when this call started or connected Ray, so the caller shuts it down later.
    """
    if ray.is_initialized():
        return False
    if settings.ray_address:
        logger.info("connecting to the Ray cluster at %s", settings.ray_address)
        ray.init(address=settings.ray_address, logging_level=logging.WARNING)
    else:
        logger.info(
            "starting a local Ray runtime with %s CPUs", settings.ray_num_cpus or "all"
        )
        ray.init(
            address="local",
            num_cpus=settings.ray_num_cpus or None,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    return True


@dataclass
class _Flight:
    """A cell submitted to Ray by this runner and not yet finished."""

    ref: ray.ObjectRef
    job_id: str
    index: int
    started: bool = False
    cancel_deadline: float = math.inf
    killed: bool = False
    pid: int = 0
    last_iteration: int = 0
    last_event: float = -math.inf
    iterations_per_second: float = 0.0


class CellRunner:
    """Submits the cells of jobs to Ray and records their fate in the job store.

    Parameters
    ----------
    settings : Settings
    store : JobStore
    artifacts : ArtifactStore
    on_job_finished : callable, optional
        Called with a job id once the job reaches a final state through its cells.
    """

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        artifacts: ArtifactStore,
        on_job_finished: Callable[[str], None] | None = None,
    ):
        self._settings = settings
        self._store = store
        self._artifacts = artifacts
        self._on_job_finished = on_job_finished
        self._owns_ray = connect_ray(settings)
        self._board = ProgressBoard.remote()
        self._lock = threading.RLock()
        self._flights: dict[tuple[str, int], _Flight] = {}
        self._datasets: dict[str, ray.ObjectRef] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ltrnn-cell-runner", daemon=True)

    def set_job_finished_callback(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(job_id)`` whenever a job reaches a final state through its cells."""
        self._on_job_finished = callback

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Resume the unfinished jobs of the store, then start polling."""
        self.resume()
        self._thread.start()

    def resume(self) -> None:
        """Resubmit the unfinished cells of every unfinished job.

        Cells that were RUNNING when the previous service stopped are lost work: they go
        back to PENDING with an event saying so and run again from the start. Finished
        cells keep their models and are not fitted again.
        """
        for job in self._store.unfinished_jobs():
            if job.kind != common_pb2.JOB_KIND_SWEEP:
                # Other kinds of job (tensor-rank analyses) belong to the AnalysisService.
                continue
            lost = 0
            for cell in self._store.get_cells(job.job_id):
                if cell.state == RUNNING:
                    self._store.requeue_cell(
                        job.job_id, cell.index,
                        "lost when the service stopped; resubmitted from the start",
                    )
                    metrics.CELL_RETRIES.labels("service_restart").inc()
                    lost += 1
            logger.info("resuming job %s (%d lost cells resubmitted)", job.job_id, lost)
            self.submit_job(job.job_id)

    def shutdown(self, grace: float) -> None:
        """Stop the runner, leaving every unfinished cell resumable.

        Cells that have not started are withdrawn from Ray. Running cells get ``grace``
        seconds to finish. The cells still running then are cancelled and put back to
        PENDING, so the next service on the same job store runs them again.
        """
        self._stopping.set()
        with self._lock:
            waiting = [flight for flight in self._flights.values() if not flight.started]
        for flight in waiting:
            self._kill(flight)
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        deadline = time.monotonic() + grace
        self._poll()
        while time.monotonic() < deadline and self._running_count():
            time.sleep(POLL_SECONDS)
            self._poll()
        with self._lock:
            remaining = list(self._flights.values())
            self._flights.clear()
        for flight in remaining:
            self._kill(flight)
            if self._store.requeue_cell(
                flight.job_id, flight.index,
                "interrupted by a service shutdown; resumes when the service restarts",
            ):
                logger.info(
                    "cell %d of job %s interrupted by shutdown", flight.index, flight.job_id
                )
        metrics.RUNNING_CELLS.set(0)
        metrics.QUEUE_DEPTH.set(0)
        metrics.ITERATIONS_PER_SECOND.set(0)
        ray.kill(self._board)
        if self._owns_ray:
            ray.shutdown()

    def _running_count(self) -> int:
        with self._lock:
            return sum(flight.started for flight in self._flights.values())

    # -- submission and cancellation -----------------------------------------------------

    def submit_job(self, job_id: str) -> None:
        """Submit every PENDING cell of a job to Ray. A job that cannot run is marked FAILED.

        During shutdown nothing is submitted; the cells stay PENDING for the next start.
        """
        if self._stopping.is_set():
            return
        job = self._store.get_job(job_id)
        spec = sweep_pb2.SweepSpec.FromString(job.spec)
        try:
            dataset = self._dataset_ref(job_id, spec.dataset_id)
        except OSError as error:
            message = f"cannot read dataset {spec.dataset_id}: {error}"
            logger.error("job %s failed: %s", job_id, message)
            self._store.fail_job(job_id, message)
            metrics.JOBS_FINISHED.labels("FAILED").inc()
            self._job_finished(job_id)
            return
        mask_config, mask_seed = mask_settings(spec)
        resources = spec.cell_resources
        pending = [
            cell for cell in self._store.get_cells(job_id)
            if cell.state == common_pb2.CELL_STATE_PENDING
        ]
        with self._lock:
            for cell in pending:
                key = (job_id, cell.index)
                if key in self._flights:
                    continue
                task = {
                    "key": key,
                    "config": fit_config(spec, cell.rank, cell.rnn_size, cell.seed).to_dict(),
                    "mask_config": mask_config,
                    "mask_seed": mask_seed,
                    "num_cpus": resources.num_cpus,
                    "num_gpus": resources.num_gpus,
                }
                ref = run_cell.options(
                    num_cpus=resources.num_cpus,
                    num_gpus=resources.num_gpus,
                    max_retries=self._settings.cell_max_retries,
                    retry_exceptions=False,
                    name=f"ltrnn-cell-{job_id[:8]}-{cell.index}",
                ).remote(task, dataset, self._board)
                self._flights[key] = _Flight(ref=ref, job_id=job_id, index=cell.index)
        logger.info("job %s: submitted %d cells to Ray", job_id, len(pending))

    def _dataset_ref(self, job_id: str, dataset_id: str) -> ray.ObjectRef:
        with self._lock:
            if job_id not in self._datasets:
                content = self._artifacts.dataset_path(dataset_id).read_bytes()
                self._datasets[job_id] = ray.put(content)
            return self._datasets[job_id]

    def cancel_job(self, job_id: str, indices: list[int]) -> None:
        """Stop the given cells of a job, which the store already marked CANCELLED.

        Tasks that have not reported a start are withdrawn from Ray, and their worker is
        killed if one had just picked them up. Running fits stop by themselves at their next
        progress report, when the progress callback returns True. A fit still running
        :data:`CANCEL_SECONDS` later has its worker killed.
        """
        keys = [(job_id, index) for index in indices]
        self._board.cancel.remote(keys)
        deadline = time.monotonic() + CANCEL_SECONDS
        with self._lock:
            flights = [self._flights[key] for key in keys if key in self._flights]
        for flight in flights:
            if flight.started:
                flight.cancel_deadline = deadline
            else:
                self._kill(flight)
        logger.info("job %s: cancelled %d cells", job_id, len(flights))
        metrics.JOBS_FINISHED.labels("CANCELLED").inc()

    @staticmethod
    def _kill(flight: _Flight) -> None:
        # force=True withdraws a queued task and kills the worker of a running one. A
        # KeyboardInterrupt (force=False) could land inside an import and leave a broken
        # worker that Ray would reuse for later cells.
        flight.killed = True
        ray.cancel(flight.ref, force=True)

    def in_flight(self, job_id: str | None = None) -> int:
        """Count this runner's cells that Ray has not finished, for one job or all."""
        with self._lock:
            return sum(job_id is None or flight.job_id == job_id for flight in self._flights.values())

    def resource_problem(self, num_cpus: float, num_gpus: float) -> str:
        """Describe why a local runtime can never run a cell of these resources, or return ''.

        Only checked for the local runtime, because a Ray cluster may add nodes on demand.
        """
        if self._settings.ray_address:
            return ""
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        best_cpus = max((node.get("CPU", 0.0) for node in nodes), default=0.0)
        best_gpus = max((node.get("GPU", 0.0) for node in nodes), default=0.0)
        if num_gpus > best_gpus:
            return (
                f"sweep.cell_resources.num_gpus is {num_gpus:g} but the local Ray runtime has "
                f"{best_gpus:g} GPUs; set num_gpus to 0 to fit on the CPU, or connect the "
                "service to a Ray cluster with GPUs (LTRNN_RAY_ADDRESS)"
            )
        if num_cpus > best_cpus:
            return (
                f"sweep.cell_resources.num_cpus is {num_cpus:g} but the local Ray runtime has "
                f"{best_cpus:g} CPUs; ask for at most {best_cpus:g} or raise LTRNN_RAY_NUM_CPUS"
            )
        return ""

    # -- polling -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._poll()
            except Exception:  # noqa: BLE001 - the loop must survive to record later cells
                logger.exception("cell runner poll failed; retrying")
            self._stopping.wait(POLL_SECONDS)

    def _poll(self) -> None:
        with self._lock:
            refs = [flight.ref for flight in self._flights.values()]
        done = []
        if refs:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        # Drain after ray.wait, so that the start of a finished task is normally in this
        # drain; _record_result covers a start message that is still on its way.
        starts, latest = ray.get(self._board.drain.remote())
        for key, pid, node in starts:
            self._record_start(tuple(key), pid, node)
        for key, values in latest.items():
            self._record_progress(tuple(key), values)
        done_set = set(done)
        now = time.monotonic()
        with self._lock:
            finished = [flight for flight in self._flights.values() if flight.ref in done_set]
            overdue = [
                flight for flight in self._flights.values()
                if flight.cancel_deadline < now and not flight.killed and flight.ref not in done_set
            ]
        for flight in overdue:
            logger.warning(
                "job %s cell %d did not stop within %.0f s of its cancellation; killing its worker",
                flight.job_id, flight.index, CANCEL_SECONDS,
            )
            self._kill(flight)
        for flight in finished:
            try:
                self._record_result(flight)
            except Exception as error:  # noqa: BLE001 - one bad result must not stall the rest
                logger.exception("job %s cell %d: recording the result failed", flight.job_id, flight.index)
                self._fail(flight, f"the service could not record the cell's result: {error}")
        self._update_gauges()

    def _update_gauges(self) -> None:
        with self._lock:
            flights = list(self._flights.values())
        running = [flight for flight in flights if flight.started]
        metrics.RUNNING_CELLS.set(len(running))
        metrics.QUEUE_DEPTH.set(len(flights) - len(running))
        metrics.ITERATIONS_PER_SECOND.set(sum(flight.iterations_per_second for flight in running))

    def _record_start(self, key, pid: int, node: str) -> None:
        with self._lock:
            flight = self._flights.get(key)
        if flight is not None:
            self._mark_started(flight, pid, node)

    def _mark_started(self, flight: _Flight, pid: int, node: str) -> None:
        key = (flight.job_id, flight.index)
        cell = self._store.get_cell(*key)
        attempt = cell.attempts + 1
        message = ""
        if flight.started:
            retry = attempt - 1
            message = (
                f"the worker running this cell died (pid {flight.pid}); retry {retry} "
                f"of at most {self._settings.cell_max_retries} on pid {pid}"
            )
            metrics.CELL_RETRIES.labels("worker_died").inc()
            logger.warning("job %s cell %d: %s", key[0], key[1], message)
        flight.started, flight.pid, flight.last_iteration = True, pid, 0
        if self._store.start_cell(key[0], key[1], attempt, message):
            progress = jobs_pb2.CellProgress(worker_pid=pid, worker_node=node)
            self._store.record_progress(key[0], key[1], progress)

    def _record_progress(self, key, values: dict) -> None:
        with self._lock:
            flight = self._flights.get(key)
        if flight is None:
            return
        iteration = int(values["iteration"])
        gained = iteration - flight.last_iteration if iteration >= flight.last_iteration else iteration
        metrics.TRAINING_ITERATIONS.inc(gained)
        flight.last_iteration = iteration
        elapsed = float(values["elapsed_seconds"])
        flight.iterations_per_second = iteration / elapsed if elapsed > 0 else 0.0
        now = time.monotonic()
        final = iteration >= int(values["iterations"])
        if now - flight.last_event < PROGRESS_EVENT_SECONDS and not final:
            return
        flight.last_event = now
        progress = jobs_pb2.CellProgress(
            iteration=iteration, iterations=int(values["iterations"]),
            train_loss=float(values["train_loss"]),
            validation_loss=float(values["validation_loss"]),
            elapsed_seconds=elapsed, iterations_per_second=flight.iterations_per_second,
            worker_pid=int(values["pid"]), worker_node=str(values["node"]),
        )
        self._store.record_progress(key[0], key[1], progress)

    def _record_result(self, flight: _Flight) -> None:
        job_id, index = flight.job_id, flight.index
        with self._lock:
            self._flights.pop((job_id, index), None)
        try:
            value = ray.get(flight.ref)
        except ray.exceptions.TaskCancelledError:
            self._record_stop(flight, "the Ray task was cancelled")
            return
        except ray.exceptions.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, (FitCancelled, KeyboardInterrupt)):
                self._record_stop(flight, str(cause))
                return
            message = f"the fit raised {type(cause).__name__}: {cause}"
            self._fail(flight, message)
            return
        except ray.exceptions.RayError as error:
            if flight.killed:
                self._record_stop(flight, f"its worker was killed ({type(error).__name__})")
                return
            cell = self._store.get_cell(job_id, index)
            message = (
                f"the Ray worker running this cell died and the cell used up its retries "
                f"({cell.attempts} attempts; LTRNN_CELL_MAX_RETRIES="
                f"{self._settings.cell_max_retries}); last error: "
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            )
            self._fail(flight, message)
            return

        if not flight.started:
            # The task finished before its start message was drained from the board.
            self._mark_started(flight, value["pid"], "")
        model_id = self._artifacts.add_model(
            value["model"], {"job_id": job_id, "cell_index": index, "created": time.time()}
        )
        if self._store.finish_cell(
            job_id, index, model_id=model_id, losses=value["losses"],
            iterations_run=value["iterations_run"], seconds=value["seconds"],
        ):
            metrics.CELLS_FINISHED.labels("SUCCEEDED").inc()
            metrics.CELL_DURATION.observe(value["seconds"])
            logger.info(
                "job %s cell %d succeeded in %.1f s (model %s)", job_id, index,
                value["seconds"], model_id[:12],
            )
        self._after_cell(job_id)

    def _record_stop(self, flight: _Flight, reason: str) -> None:
        cell = self._store.get_cell(flight.job_id, flight.index)
        if cell is not None and cell.final:
            if cell.state == common_pb2.CELL_STATE_CANCELLED:
                metrics.CELLS_FINISHED.labels("CANCELLED").inc()
            logger.info("job %s cell %d stopped: %s", flight.job_id, flight.index, reason)
        elif self._stopping.is_set():
            self._store.requeue_cell(
                flight.job_id, flight.index,
                "interrupted by a service shutdown; resumes when the service restarts",
            )
        else:
            # The service did not cancel it, so someone else did (e.g. `ray stop`).
            self._fail(flight, f"the cell stopped without being cancelled: {reason}")
            return
        self._after_cell(flight.job_id)

    def _fail(self, flight: _Flight, message: str) -> None:
        if self._store.fail_cell(flight.job_id, flight.index, message):
            metrics.CELLS_FINISHED.labels("FAILED").inc()
            logger.error("job %s cell %d failed: %s", flight.job_id, flight.index, message)
        self._after_cell(flight.job_id)

    def _after_cell(self, job_id: str) -> None:
        job = self._store.get_job(job_id)
        if job is None or not job.final or self.in_flight(job_id):
            return
        with self._lock:
            if self._datasets.pop(job_id, None) is None:
                return
        if job.state != common_pb2.JOB_STATE_CANCELLED:
            metrics.JOBS_FINISHED.labels(STATE_NAMES[job.state]).inc()
        self._job_finished(job_id)

    def _job_finished(self, job_id: str) -> None:
        logger.info("job %s finished", job_id)
        if self._on_job_finished is not None:
            try:
                self._on_job_finished(job_id)
            except Exception:  # noqa: BLE001 - a failed summary must not stop the runner
                logger.exception("writing the summary of job %s failed", job_id)
