"""The FitService servicer: datasets, sweeps, jobs and fitted models over gRPC."""

from __future__ import annotations

import base64
import binascii
import errno
import functools
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict

import grpc
import numpy as np
from google.protobuf import json_format

from ltrnn.engine.io import load_npz
from ltrnn.engine.result import FitResult
from ltrnn.v1 import common_pb2, fit_pb2, fit_pb2_grpc

from . import messages, metrics
from .artifacts import SHA256_PATTERN, ArtifactStore, InvalidIdError, check_id
from .errors import RequestError, exhausted, invalid, not_found, precondition
from .runner import CellRunner
from .selection import FitRow, choose_rank
from .settings import Settings
from .store import JobStore
from .sweeps import cell_grid, normalise_sweep, request_digest
from .tensors import to_tensor

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._-]{1,128}")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DEFAULT_CHUNK_BYTES = 1024 * 1024
MIN_CHUNK_BYTES = 1024
# Room for the fields around the bytes of a chunk message.
ENVELOPE_BYTES = 1024
WATCH_WAIT_SECONDS = 1.0


def _handle_errors(method):
    """Turn RequestError and invalid ids into the matching gRPC status."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except RequestError as error:
            context.abort(error.code, error.message)
        except InvalidIdError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except OSError as error:
            _abort_storage_error(context, method.__name__, error)

    return wrapper


def _abort_storage_error(context, method: str, error: OSError):
    """Abort an RPC whose file access failed: RESOURCE_EXHAUSTED for a full disk or quota,
    INTERNAL otherwise, with the OS error in the message and the log."""
    logger.error("%s failed on the data directory: %s", method, error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the server's data directory is full ({error.strerror}); retry after the "
            "operator has freed space",
        )
    context.abort(
        grpc.StatusCode.INTERNAL,
        f"the server could not read or write its data directory ({error.strerror}); the "
        "server log has the details",
    )


def _handle_stream_errors(method):
    """Turn RequestError and invalid ids of a streaming RPC into the matching gRPC status."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            yield from method(self, request, context)
        except RequestError as error:
            context.abort(error.code, error.message)
        except InvalidIdError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except OSError as error:
            _abort_storage_error(context, method.__name__, error)

    return wrapper


class ModelCache:
    """A bounded least-recently-used cache of loaded models."""

    def __init__(self, size: int):
        self._size = size
        self._models: OrderedDict[str, FitResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str, load) -> FitResult:
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
        model = load()
        with self._lock:
            self._models[model_id] = model
            self._models.move_to_end(model_id)
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


class FitServicer(fit_pb2_grpc.FitServiceServicer):
    """Implements ltrnn.v1.FitService on a job store, an artifact store and a cell runner."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        artifacts: ArtifactStore,
        runner: CellRunner,
    ):
        self._settings = settings
        self._store = store
        self._artifacts = artifacts
        self._runner = runner
        self._models = ModelCache(settings.model_cache_size)
        self._closing = threading.Event()

    def close(self) -> None:
        """End open WatchJob streams, so a graceful stop need not wait for them."""
        self._closing.set()

    # -- helpers -------------------------------------------------------------------------

    def _require_job(self, job_id: str):
        check_id("job_id", job_id)
        job = self._store.get_job(job_id)
        if job is None:
            raise not_found(
                f"job_id {job_id!r} not found; list jobs with ListJobs ('ltrnn jobs' on the "
                "command line)"
            )
        return job

    def _require_model_path(self, model_id: str):
        path = self._artifacts.model_path(model_id)
        if not path.is_file():
            raise not_found(
                f"model_id {model_id!r} not found; take a model_id from GetSweepResult or GetJob"
            )
        return path

    def _load_model(self, model_id: str) -> FitResult:
        path = self._require_model_path(model_id)
        return self._models.get(model_id, lambda: FitResult.load(path))

    def write_sweep_result(self, job_id: str) -> None:
        """Store the result table of a finished sweep under results/<job_id>.json."""
        result = self._sweep_result(self._store.get_job(job_id))
        self._artifacts.write_result(job_id, json_format.MessageToDict(result))

    def _sweep_result(self, job) -> fit_pb2.SweepResult:
        cells = self._store.get_cells(job.job_id)
        rows = [
            FitRow(
                rank=cell.rank, rnn_size=cell.rnn_size, seed=cell.seed,
                train=cell.train_loss, validation=cell.validation_loss, test=cell.test_loss,
                model_id=cell.model_id,
            )
            for cell in cells
            if cell.state == common_pb2.CELL_STATE_SUCCEEDED
        ]
        return messages.sweep_result_message(job, cells, choose_rank(rows))

    # -- datasets ------------------------------------------------------------------------

    @_handle_errors
    def UploadDataset(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise invalid(
                "the first UploadDatasetRequest must carry header (name, format, sha256, "
                "total_bytes); send the file's chunks after it"
            )
        header = first.header
        sha256 = self._check_header(header)
        if self._artifacts.has_dataset(sha256):
            # Same bytes, same id: nothing to read or write.
            info = self._artifacts.dataset_info(sha256)
            logger.info("dataset %s already stored; upload skipped", sha256[:12])
            return messages.dataset_message(sha256, info, already_existed=True)

        temporary = self._artifacts.temporary_path(".npz")
        try:
            digest = hashlib.sha256()
            received = 0
            with open(temporary, "wb") as stream:
                for message in request_iterator:
                    if message.HasField("header"):
                        raise invalid("header may only be in the first UploadDatasetRequest")
                    chunk = message.chunk
                    received += len(chunk)
                    metrics.UPLOADED_BYTES.inc(len(chunk))
                    if received > header.total_bytes:
                        raise invalid(
                            f"the upload sent more bytes than header.total_bytes="
                            f"{header.total_bytes}; set total_bytes to the file size"
                        )
                    digest.update(chunk)
                    stream.write(chunk)
            if received != header.total_bytes:
                raise invalid(
                    f"the upload ended after {received} of header.total_bytes="
                    f"{header.total_bytes} bytes; send the whole file"
                )
            if digest.hexdigest() != sha256:
                raise invalid(
                    f"header.sha256 is {sha256} but the received bytes hash to "
                    f"{digest.hexdigest()}; nothing was stored. Check the file and resend it"
                )
            try:
                recording = load_npz(temporary)
            except ValueError as error:
                raise invalid(
                    f"the uploaded file is not a valid recording: {error}. Write it with "
                    "ltrnn.engine.io.save_npz"
                ) from None
            info = {
                "name": header.name,
                "size_bytes": received,
                "created": time.time(),
                "recording": messages.recording_meta_dict(recording),
            }
            created = self._artifacts.add_dataset(temporary, sha256, info)
        finally:
            temporary.unlink(missing_ok=True)
        if created:
            logger.info("stored dataset %s (%d bytes, shape %s)", sha256[:12], received, recording.shape)
        return messages.dataset_message(
            sha256, self._artifacts.dataset_info(sha256), already_existed=not created
        )

    def _check_header(self, header) -> str:
        if header.format not in ("", "npz"):
            raise invalid(f"header.format must be 'npz', got {header.format!r}")
        sha256 = header.sha256.lower()
        if not SHA256_PATTERN.fullmatch(sha256):
            raise invalid(
                f"header.sha256 must be 64 hex digits (the sha256 of the file), got "
                f"{header.sha256[:80]!r}"
            )
        if header.total_bytes <= 0:
            raise invalid(f"header.total_bytes must be the file size (> 0), got {header.total_bytes}")
        if header.total_bytes > self._settings.max_dataset_bytes:
            raise exhausted(
                f"header.total_bytes is {header.total_bytes}, above the server limit "
                f"max_dataset_bytes={self._settings.max_dataset_bytes} "
                "(LTRNN_MAX_DATASET_BYTES); upload a smaller dataset or raise the limit"
            )
        if len(header.name) > 200:
            raise invalid(f"header.name has {len(header.name)} characters; use at most 200")
        return sha256

    @_handle_errors
    def GetDataset(self, request, context):
        path = self._artifacts.dataset_path(request.dataset_id)
        if not path.is_file():
            raise not_found(
                f"dataset_id {request.dataset_id!r} not found; upload it with UploadDataset"
            )
        info = self._artifacts.dataset_info(request.dataset_id)
        return messages.dataset_message(request.dataset_id, info, already_existed=True)

    # -- jobs ----------------------------------------------------------------------------

    @_handle_errors
    def SubmitSweep(self, request, context):
        spec = normalise_sweep(request.sweep, self._settings)
        if not self._artifacts.has_dataset(spec.dataset_id):
            raise not_found(
                f"sweep.dataset_id {spec.dataset_id!r} not found; upload it with UploadDataset"
            )
        kind = self._artifacts.dataset_info(spec.dataset_id).get("recording", {}).get("kind")
        if spec.hyperparameters.loss == "poisson" and kind != "counts":
            raise invalid(
                f"sweep.hyperparameters.loss is 'poisson' but the dataset's kind is {kind!r}; "
                "use 'gaussian' or 'auto' for rates"
            )
        key = request.idempotency_key
        if key and not IDEMPOTENCY_KEY.fullmatch(key):
            raise invalid(
                "idempotency_key must be 1 to 128 letters, digits, '.', '_' and '-', got "
                f"{key[:80]!r}"
            )
        problem = self._runner.resource_problem(
            spec.cell_resources.num_cpus, spec.cell_resources.num_gpus
        )
        if problem:
            raise precondition(problem)

        digest = request_digest(spec)
        job, created = self._store.create_job(
            kind=common_pb2.JOB_KIND_SWEEP,
            spec=spec.SerializeToString(deterministic=True),
            cells=cell_grid(spec),
            request_digest=digest,
            idempotency_key=key or None,
        )
        if not created and job.request_digest != digest:
            raise RequestError(
                grpc.StatusCode.ALREADY_EXISTS,
                f"idempotency_key {key!r} was used for a different request (job "
                f"{job.job_id}); use a new key for a new sweep",
            )
        if created:
            metrics.JOBS_SUBMITTED.labels("sweep").inc()
            logger.info(
                "job %s: sweep of %d cells on dataset %s", job.job_id,
                len(cell_grid(spec)), spec.dataset_id[:12],
            )
            self._runner.submit_job(job.job_id)
            job = self._store.get_job(job.job_id)
        cells = self._store.get_cells(job.job_id)
        return fit_pb2.SubmitSweepResponse(job=messages.job_message(job, cells), created=created)

    @_handle_stream_errors
    def WatchJob(self, request, context):
        job = self._require_job(request.job_id)
        after = request.after_sequence
        if after < 0:
            raise invalid(f"after_sequence must be >= 0, got {after}")
        while context.is_active():
            if self._closing.is_set():
                raise RequestError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the server is shutting down; reconnect with after_sequence={after}",
                )
            events = self._store.events_after(job.job_id, after)
            for event in events:
                after = event.sequence
                if request.exclude_progress and event.HasField("cell_progress"):
                    continue
                yield event
            if events:
                continue
            job = self._store.get_job(job.job_id)
            if job.final and job.last_sequence <= after:
                return
            self._store.wait_for_change(WATCH_WAIT_SECONDS)

    @_handle_errors
    def GetJob(self, request, context):
        job = self._require_job(request.job_id)
        return messages.job_message(job, self._store.get_cells(job.job_id))

    @_handle_errors
    def ListJobs(self, request, context):
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(f"page_size must be in [1, {MAX_PAGE_SIZE}] (0 means {DEFAULT_PAGE_SIZE}), got {size}")
        before = _decode_page_token(request.page_token) if request.page_token else None
        jobs = self._store.list_jobs(
            limit=size + 1, state=request.state, kind=request.kind, before=before
        )
        response = fit_pb2.ListJobsResponse()
        for job in jobs[:size]:
            response.jobs.append(
                messages.job_message(job, self._store.get_cells(job.job_id), include_cells=False)
            )
        if len(jobs) > size:
            last = jobs[size - 1]
            response.next_page_token = _encode_page_token(last.created, last.job_id)
        return response

    @_handle_errors
    def CancelJob(self, request, context):
        job = self._require_job(request.job_id)
        if job.final and job.state != common_pb2.JOB_STATE_CANCELLED:
            state = common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
            raise precondition(
                f"job {job.job_id} already ended with state {state}; only PENDING or RUNNING "
                "jobs can be cancelled"
            )
        if not job.final:
            # An unfinished job has at least one unfinished cell, so an empty list means the
            # job ended between the two reads and there is nothing left to cancel.
            indices = self._store.cancel_job(job.job_id, "cancelled by CancelJob")
            if indices:
                self._runner.cancel_job(job.job_id, indices)
                logger.info("job %s cancelled (%d cells stopped)", job.job_id, len(indices))
        job = self._store.get_job(job.job_id)
        return messages.job_message(job, self._store.get_cells(job.job_id))

    @_handle_errors
    def GetSweepResult(self, request, context):
        job = self._require_job(request.job_id)
        if job.kind != common_pb2.JOB_KIND_SWEEP:
            raise precondition(f"job {job.job_id} is not a sweep; GetSweepResult reads sweeps only")
        return self._sweep_result(job)

    # -- models --------------------------------------------------------------------------

    @_handle_errors
    def GetModel(self, request, context):
        result = self._load_model(request.model_id)
        path = self._require_model_path(request.model_id)
        message = messages.model_message(
            request.model_id, result, self._artifacts.model_info(request.model_id),
            path.stat().st_size, request.include_latents, request.include_predictions,
        )
        size = message.ByteSize()
        if size > self._settings.max_message_bytes:
            raise exhausted(
                f"the Model message has {size} bytes, above max_message_bytes="
                f"{self._settings.max_message_bytes} (LTRNN_MAX_MESSAGE_BYTES); leave out "
                "include_predictions or include_latents, or download the file with ExportModel"
            )
        return message

    @_handle_errors
    def Simulate(self, request, context):
        result = self._load_model(request.model_id)
        n_trials = len(request.trials) or result.trial_factors.shape[0]
        n_neurons, n_times = result.readout.shape[0], result.predictions.shape[2]
        size = n_trials * n_neurons * n_times * 8 * (1 + request.include_latents)
        if size > self._settings.max_message_bytes:
            raise exhausted(
                f"simulating {n_trials} trials gives about {size} bytes, above "
                f"max_message_bytes={self._settings.max_message_bytes} "
                "(LTRNN_MAX_MESSAGE_BYTES); simulate fewer trials per request"
            )
        try:
            predictions, latents = result.simulate(
                trials=np.asarray(request.trials, dtype=np.int64) if request.trials else None,
                conditions=list(request.conditions) if request.conditions else None,
            )
        except ValueError as error:
            raise invalid(f"Simulate: {error}") from None
        response = fit_pb2.SimulateResponse(predictions=to_tensor(predictions))
        if request.include_latents:
            response.latents.CopyFrom(to_tensor(latents))
        return response

    @_handle_stream_errors
    def ExportModel(self, request, context):
        path = self._require_model_path(request.model_id)
        chunk = request.chunk_bytes or DEFAULT_CHUNK_BYTES
        largest = self._settings.max_message_bytes - ENVELOPE_BYTES
        if not MIN_CHUNK_BYTES <= chunk <= largest:
            raise invalid(
                f"chunk_bytes must be in [{MIN_CHUNK_BYTES}, {largest}] (0 means "
                f"{DEFAULT_CHUNK_BYTES}), got {request.chunk_bytes}"
            )
        content = path.read_bytes()
        yield fit_pb2.ExportModelResponse(
            info=fit_pb2.ModelFileInfo(
                model_id=request.model_id, format="npz",
                sha256=hashlib.sha256(content).hexdigest(), total_bytes=len(content),
                filename=f"ltrnn-model-{request.model_id[:12]}.npz",
            )
        )
        for offset in range(0, len(content), chunk):
            yield fit_pb2.ExportModelResponse(chunk=content[offset:offset + chunk])


def _encode_page_token(created: float, job_id: str) -> str:
    raw = json.dumps({"created": created, "job_id": job_id}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_page_token(token: str) -> tuple[float, str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
        created, job_id = float(values["created"]), str(values["job_id"])
        check_id("page_token", job_id)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid(
            "page_token is not a token returned by ListJobs; pass next_page_token unchanged, "
            "or leave it empty for the first page"
        ) from None
    return created, job_id
