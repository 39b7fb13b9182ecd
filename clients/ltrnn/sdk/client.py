"""The Python client of the ltrnn services: NumPy arrays in, NumPy arrays and small result
objects out."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltrnn.engine.masks import MaskConfig
from ltrnn.engine.recording import Recording
from ltrnn.server.tensors import from_tensor, to_tensor
from ltrnn.v1 import (
    analysis_pb2,
    analysis_pb2_grpc,
    common_pb2,
    fit_pb2,
    fit_pb2_grpc,
    sweep_pb2,
)

from .errors import InvalidArgument, LtrnnError, Unavailable, from_rpc_error
from .jobs import Job
from .progress import ByteProgress
from .results import (
    LearningRanksResult,
    Model,
    ModelAnalysisResult,
    SubspacesResult,
    SweepResult,
    TensorRankResult,
)
from .validation import check_integer, check_integers, check_number, describe

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 60.0
CHUNK_BYTES = 1024 * 1024
HYPERPARAMETERS = tuple(field.name for field in sweep_pb2.FitHyperparameters.DESCRIPTOR.fields)
SHA256 = re.compile(r"[0-9a-f]{64}")
JOB_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
JOB_KINDS = {"sweep": common_pb2.JOB_KIND_SWEEP, "tensor_rank": common_pb2.JOB_KIND_TENSOR_RANK}
MODEL_SPACES = {
    "auto": analysis_pb2.MODEL_SPACE_AUTO,
    "units": analysis_pb2.MODEL_SPACE_UNITS,
    "neurons": analysis_pb2.MODEL_SPACE_NEURONS,
}
# Marks "use the client's timeout" in _call, where None already means "no deadline".
_CLIENT_TIMEOUT = object()


class EpochSubspace:
    """The leading principal components of a fitted model's latent activity in one epoch.

    Pass it as either side of :meth:`Client.subspaces`.

    Parameters
    ----------
    model_id : str
    epoch : str
        An epoch label of the model's recording.
    dimension : int
        Number of principal components, >= 1.
    """

    def __init__(self, model_id: str, epoch: str, dimension: int):
        self.model_id = model_id
        self.epoch = epoch
        self.dimension = check_integer("dimension", dimension, minimum=1)

    def __repr__(self) -> str:
        return f"EpochSubspace({self.model_id!r}, {self.epoch!r}, {self.dimension})"


class RecordingEpoch:
    """The leading principal components of an uploaded recording's activity in one epoch.

    Pass it as either side of :meth:`Client.subspaces`; it lives in neuron space (M, d).

    Parameters
    ----------
    dataset_id : str
        Id returned by :meth:`Client.upload`.
    epoch : str
        An epoch label of the recording.
    dimension : int
        Number of principal components, >= 1.
    """

    def __init__(self, dataset_id: str, epoch: str, dimension: int):
        self.dataset_id = dataset_id
        self.epoch = epoch
        self.dimension = check_integer("dimension", dimension, minimum=1)

    def __repr__(self) -> str:
        return f"RecordingEpoch({self.dataset_id!r}, {self.epoch!r}, {self.dimension})"


class Client:
    """A connection to an ltrnn server (FitService and AnalysisService).

    Parameters
    ----------
    address : str, default="127.0.0.1:50051"
        ``host:port`` of the server.
    token : str, optional
        Bearer token sent as ``authorization: Bearer <token>``. Default: the LTRNN_TOKEN
        environment variable; empty sends none.
    tls_ca : str or os.PathLike, optional
        PEM file of the certificate authority that signed the server's certificate; turns TLS
        on. Give ``tls=True`` instead to use the system's trusted authorities.
    tls : bool, default=False
        Use TLS with the system's trusted authorities (implied by ``tls_ca``).
    timeout : float or None, default=60.0
        Deadline in seconds of each unary call; None waits for ever. Streams (uploads,
        watches, exports) have no deadline.

    Examples
    --------
    >>> from ltrnn.sdk import Client  # doctest: +SKIP
    >>> client = Client("127.0.0.1:50051")  # doctest: +SKIP
    >>> job = client.sweep("session.npz", ranks=[1, 2, 3], iterations=600)  # doctest: +SKIP
    >>> result = job.watch().result()  # doctest: +SKIP
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, token: str | None = None,
                 tls_ca=None, timeout: float | None = DEFAULT_TIMEOUT, tls: bool = False):
        if not isinstance(address, str) or not address.strip():
            raise InvalidArgument(f"address must be 'host:port', got {describe(address)}")
        if timeout is not None:
            timeout = check_number("timeout", timeout, minimum=0.0, strict=True)
        if token is None:
            token = os.environ.get("LTRNN_TOKEN", "")
        if not isinstance(token, str):
            raise InvalidArgument(f"token must be a string, got {type(token).__name__}")
        self.address = address.strip()
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token.strip()}"),) if token.strip() else ()
        # The server enforces its own limits (LTRNN_MAX_MESSAGE_BYTES); the client accepts
        # whatever the server sends, so large results are never cut by a client default.
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        if tls_ca is not None or tls:
            root = None
            if tls_ca is not None:
                path = Path(tls_ca)
                if not path.is_file():
                    raise FileNotFoundError(f"tls_ca file not found: {path}")
                root = path.read_bytes()
            credentials = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(self.address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(self.address, options=options)
        self._fit = fit_pb2_grpc.FitServiceStub(self._channel)
        self._analysis = analysis_pb2_grpc.AnalysisServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._channel.close()

    # -- calls ---------------------------------------------------------------------------

    def _call(self, method, request, timeout=_CLIENT_TIMEOUT):
        timeout = self.timeout if timeout is _CLIENT_TIMEOUT else timeout
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise self._error(error) from None

    def _error(self, error: grpc.RpcError) -> LtrnnError:
        converted = from_rpc_error(error)
        if isinstance(converted, Unavailable):
            converted = Unavailable(
                f"ltrnn server at {self.address} is unavailable: {converted.message}",
                converted.code,
            )
        return converted

    def _watch_stream(self, request):
        """Open a WatchJob stream; gRPC errors propagate so that Job.events can reconnect."""
        return self._fit.WatchJob(request, metadata=self._metadata)

    def wait_until_ready(self, timeout: float = 10.0) -> "Client":
        """Wait until the server reports SERVING on its health check; returns self.

        Raises
        ------
        Unavailable
            When the server does not report SERVING within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            try:
                reply = self._health.Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=max(remaining, 0.1),
                    wait_for_ready=True,
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return self
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as error:
                last = error.details() or error.code().name
            if time.monotonic() >= deadline:
                raise Unavailable(
                    f"ltrnn server at {self.address} is not ready after {timeout:g} s "
                    f"({last}); start it with 'ltrnn serve' or check the address"
                )
            time.sleep(0.2)

    # -- datasets ------------------------------------------------------------------------

    def upload(self, recording_or_path, name: str | None = None, progress=True,
               chunk_bytes: int = CHUNK_BYTES) -> str:
        """Upload a recording and return its dataset id (the sha256 of the file).

        The file goes up in chunks with its sha256, which the server checks. Uploading the
        same bytes again is a no-op that returns the same id.

        Parameters
        ----------
        recording_or_path : Recording or str or os.PathLike
            A Recording (written with ``save_npz`` first) or an ``.npz`` file in the layout
            of ``ltrnn.engine.io.save_npz``.
        name : str, optional
            Label shown in listings, at most 200 characters; default the file name.
        progress : bool or {"auto", "bar", "log", "none"}, default=True
        chunk_bytes : int, default=1 MiB
        """
        chunk_bytes = check_integer("chunk_bytes", chunk_bytes, minimum=1024)
        if isinstance(recording_or_path, Recording):
            from ltrnn.engine.io import save_npz

            with tempfile.TemporaryDirectory(prefix="ltrnn-upload-") as directory:
                path = save_npz(recording_or_path, Path(directory) / "recording.npz")
                return self._upload_file(path, name or "recording", progress, chunk_bytes)
        if isinstance(recording_or_path, (str, os.PathLike)):
            path = Path(recording_or_path)
            if not path.is_file():
                raise FileNotFoundError(f"recording file not found: {path}")
            return self._upload_file(path, name or path.name, progress, chunk_bytes)
        raise InvalidArgument(
            "recording_or_path must be a Recording or the path of an .npz file, got "
            f"{type(recording_or_path).__name__}"
        )

    def _upload_file(self, path: Path, name: str, progress, chunk_bytes: int) -> str:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
                digest.update(block)
        header = fit_pb2.DatasetHeader(
            name=name[:200], format="npz", sha256=digest.hexdigest(), total_bytes=size
        )
        display = ByteProgress(size, f"upload {name}", progress)

        def requests():
            yield fit_pb2.UploadDatasetRequest(header=header)
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(chunk_bytes), b""):
                    yield fit_pb2.UploadDatasetRequest(chunk=block)
                    display.update(len(block))

        try:
            dataset = self._call(self._fit.UploadDataset, requests(), timeout=None)
        except BaseException:
            display.close()
            raise
        display.close("already stored" if dataset.already_existed else "done")
        return dataset.dataset_id

    def dataset(self, dataset_id: str) -> dict:
        """Describe an uploaded dataset: name, size_bytes, shape, kind, conditions, epochs."""
        message = self._call(self._fit.GetDataset, fit_pb2.GetDatasetRequest(dataset_id=dataset_id))
        meta = message.recording
        return {
            "dataset_id": message.dataset_id, "name": message.name,
            "size_bytes": message.size_bytes, "shape": list(meta.shape), "kind": meta.kind,
            "conditions": list(meta.conditions), "epochs": list(meta.epochs),
        }

    def _dataset_id(self, dataset, progress) -> str:
        if isinstance(dataset, str) and SHA256.fullmatch(dataset):
            return dataset
        if isinstance(dataset, (Recording, str, os.PathLike)):
            return self.upload(dataset, progress=progress)
        raise InvalidArgument(
            "dataset must be a dataset id, a Recording or the path of an .npz file, got "
            f"{type(dataset).__name__}"
        )

    # -- sweeps and jobs -----------------------------------------------------------------

    def sweep(self, dataset, ranks, rnn_sizes=(50,), seeds=(0,), *, iterations=None,
              learning_rate=None, masks=None, mask_seed: int = 0, resources=None,
              name: str = "", idempotency_key: str | None = None, progress=True,
              **hyperparameters) -> Job:
        """Submit a rank sweep: one ltrRNN fit per (rank, rnn_size, seed) cell.

        Parameters
        ----------
        dataset : str or Recording or os.PathLike
            A dataset id from :meth:`upload`, or a Recording or ``.npz`` file to upload first.
        ranks : sequence of int
            Tensor ranks R, each >= 1 and <= every RNN size.
        rnn_sizes : sequence of int, default=(50,)
            Latent RNN sizes N.
        seeds : sequence of int, default=(0,)
            Initialisation seeds, each >= 0.
        iterations : int, optional
            Maximum Adam iterations per cell (server default 2000).
        learning_rate : float, optional
            Adam learning rate (server default 1e-3).
        masks : MaskConfig or dict, optional
            Cross-validation boxes: test_fraction, validation_fraction, inner, outer.
        mask_seed : int, default=0
            Seed of the held-out boxes, shared by every cell.
        resources : dict, optional
            Per cell: {"num_cpus": float, "num_gpus": float}. Default 1 CPU, no GPU.
        name : str, default=""
            Label shown in job listings.
        idempotency_key : str, optional
            Submitting the same request with the same key returns the first job.
        progress : bool or {"auto", "bar", "log", "none"}, default=True
            Display of the upload, when ``dataset`` is uploaded first.
        **hyperparameters
            Other fields of FitHyperparameters (tau, substeps, trial_dropout, patience,
            eval_every, ...), as in ``ltrnn.engine.config.FitConfig``.

        Returns
        -------
        Job
        """
        unknown = sorted(set(hyperparameters) - set(HYPERPARAMETERS))
        if unknown:
            raise InvalidArgument(
                f"unknown hyperparameters {unknown}; the known ones are {list(HYPERPARAMETERS)}"
            )
        if iterations is not None:
            hyperparameters["iterations"] = iterations
        if learning_rate is not None:
            hyperparameters["learning_rate"] = learning_rate
        spec = sweep_pb2.SweepSpec(
            ranks=check_integers("ranks", ranks, minimum=1),
            rnn_sizes=check_integers("rnn_sizes", rnn_sizes, minimum=1),
            seeds=check_integers("seeds", seeds, minimum=0),
            name=name,
        )
        try:
            spec.hyperparameters.CopyFrom(sweep_pb2.FitHyperparameters(**hyperparameters))
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"invalid hyperparameter value: {error}") from None
        spec.masks.CopyFrom(_mask_settings(masks, mask_seed))
        if resources is not None:
            spec.cell_resources.CopyFrom(_resources(resources))
        spec.dataset_id = self._dataset_id(dataset, progress)
        request = fit_pb2.SubmitSweepRequest(sweep=spec, idempotency_key=idempotency_key or "")
        response = self._call(self._fit.SubmitSweep, request)
        return Job(self, response.job)

    def _get_job_message(self, job_id: str):
        return self._call(self._fit.GetJob, fit_pb2.GetJobRequest(job_id=job_id))

    def _cancel_job_message(self, job_id: str):
        return self._call(self._fit.CancelJob, fit_pb2.CancelJobRequest(job_id=job_id))

    def job(self, job_id: str) -> Job:
        """Read one job with its cells."""
        return Job(self, self._get_job_message(job_id))

    def jobs(self, state: str | None = None, kind: str | None = None, limit: int = 50) -> list[Job]:
        """List jobs, newest first.

        Parameters
        ----------
        state : {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}, optional
        kind : {"sweep", "tensor_rank"}, optional
        limit : int, default=50
            Maximum number of jobs to return.
        """
        limit = check_integer("limit", limit, minimum=1)
        request = fit_pb2.ListJobsRequest(page_size=min(limit, 500))
        if state is not None:
            if state not in JOB_STATES:
                raise InvalidArgument(f"state must be one of {JOB_STATES}, got {state!r}")
            request.state = common_pb2.JobState.Value(f"JOB_STATE_{state}")
        if kind is not None:
            if kind not in JOB_KINDS:
                raise InvalidArgument(f"kind must be one of {list(JOB_KINDS)}, got {kind!r}")
            request.kind = JOB_KINDS[kind]
        jobs = []
        while len(jobs) < limit:
            response = self._call(self._fit.ListJobs, request)
            jobs.extend(Job(self, message) for message in response.jobs)
            if not response.next_page_token:
                break
            request.page_token = response.next_page_token
        return jobs[:limit]

    def cancel(self, job_id: str) -> Job:
        """Cancel a job; returns it as the server left it."""
        return Job(self, self._cancel_job_message(job_id))

    def sweep_result(self, job_id: str) -> SweepResult:
        """Read the table of a sweep and its chosen rank (also while it runs)."""
        message = self._call(self._fit.GetSweepResult, fit_pb2.GetSweepResultRequest(job_id=job_id))
        return SweepResult.from_message(message, client=self)

    # -- models --------------------------------------------------------------------------

    def model(self, model_id: str, latents: bool = False, predictions: bool = False) -> Model:
        """Fetch a fitted model's factors, losses and metadata.

        Parameters
        ----------
        model_id : str
        latents : bool, default=False
            Also fetch the latent trajectories (K, T, R).
        predictions : bool, default=False
            Also fetch the predicted activity (K, M, T); for large recordings this can pass
            the server's message limit, so export the file instead.
        """
        request = fit_pb2.GetModelRequest(
            model_id=model_id, include_latents=latents, include_predictions=predictions
        )
        return Model.from_message(self._call(self._fit.GetModel, request), client=self)

    def simulate(self, model_id: str, trials=None,
                 conditions=None) -> tuple[np.ndarray, np.ndarray]:
        """Run a fitted model; returns predictions (n, M, T) and latents (n, T, R).

        ``trials`` are indices of fitted trials whose trial factors are used (default all),
        ``conditions`` one condition label per simulated trial (default each trial's own).
        """
        request = fit_pb2.SimulateRequest(model_id=model_id, include_latents=True)
        if trials is not None:
            request.trials.extend(check_integers("trials", trials, minimum=0))
        if conditions is not None:
            if isinstance(conditions, str):
                raise InvalidArgument(
                    f"conditions must be a list of labels, one per trial, got the string "
                    f"{conditions!r}; write [{conditions!r}]"
                )
            request.conditions.extend(str(label) for label in conditions)
        response = self._call(self._fit.Simulate, request)
        return (
            from_tensor(response.predictions, "predictions"),
            from_tensor(response.latents, "latents"),
        )

    def export_model(self, model_id: str, path, chunk_bytes: int = 0) -> Path:
        """Download a model file (.npz) to ``path``; returns the path written.

        The sha256 of the bytes is checked against the server's, and the file is moved into
        place only when they match. A ``path`` that is a directory gets the server's file
        name.
        """
        path = Path(path)
        request = fit_pb2.ExportModelRequest(model_id=model_id, chunk_bytes=chunk_bytes)
        try:
            stream = self._fit.ExportModel(request, metadata=self._metadata)
            first = next(stream)
            info = first.info
            if path.is_dir():
                path = path / info.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            # os.open with mode 0o666 lets the umask set the file's permissions, as a plain
            # open() does. tempfile.mkstemp would make the file private to its owner.
            temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(handle, "wb") as output:
                    for message in stream:
                        digest.update(message.chunk)
                        output.write(message.chunk)
                if digest.hexdigest() != info.sha256:
                    raise LtrnnError(
                        f"the downloaded model {model_id} has sha256 {digest.hexdigest()}, not "
                        f"{info.sha256}; nothing was written, try again"
                    )
                os.replace(temporary, path)
            finally:
                Path(temporary).unlink(missing_ok=True)
        except grpc.RpcError as error:
            raise self._error(error) from None
        return path

    # -- analysis ------------------------------------------------------------------------

    def tensor_rank(self, tensor, ranks, replicates: int = 3, mask=None,
                    heldout_fraction: float = 0.0, seed: int = 0) -> TensorRankResult:
        """Fit CP decompositions of ``tensor`` over ``ranks`` and suggest its CP rank.

        Parameters
        ----------
        tensor : array-like of shape (I, J, K)
            E.g. weights across learning (K, N, N), float32 or float64.
        ranks : sequence of int
        replicates : int, default=3
            Fits per rank from different initialisations, >= 2 so that they can be compared.
        mask : array-like of bool, optional
            True where observed; default every finite entry.
        heldout_fraction : float, default=0.0
            Fraction of entries held out to score each rank, in [0, 0.5).
        seed : int, default=0
        """
        request = self._tensor_rank_request(tensor, ranks, replicates, mask, heldout_fraction, seed)
        message = self._call(self._analysis.TensorRank, request, timeout=None)
        return TensorRankResult.from_message(message)

    def submit_tensor_rank(self, tensor, ranks, replicates: int = 3, mask=None,
                           heldout_fraction: float = 0.0, seed: int = 0,
                           idempotency_key: str | None = None) -> Job:
        """Run :meth:`tensor_rank` as a job; follow it with ``Job.watch`` and ``Job.result``."""
        request = analysis_pb2.SubmitTensorRankRequest(
            request=self._tensor_rank_request(
                tensor, ranks, replicates, mask, heldout_fraction, seed
            ),
            idempotency_key=idempotency_key or "",
        )
        return Job(self, self._call(self._analysis.SubmitTensorRank, request))

    def _tensor_rank_request(self, tensor, ranks, replicates, mask, heldout_fraction, seed):
        array = _float_array("tensor", tensor, ndim=3)
        request = analysis_pb2.TensorRankRequest(
            tensor=to_tensor(array),
            ranks=check_integers("ranks", ranks, minimum=1),
            replicates=check_integer("replicates", replicates, minimum=2),
            heldout_fraction=check_number("heldout_fraction", heldout_fraction, minimum=0.0),
            seed=check_integer("seed", seed, minimum=0),
        )
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != array.shape:
                raise InvalidArgument(
                    f"mask must have the shape of tensor {array.shape}, got {mask.shape}"
                )
            request.mask.CopyFrom(to_tensor(mask.astype(bool)))
        return request

    def _tensor_rank_result(self, job_id: str) -> TensorRankResult:
        request = analysis_pb2.GetTensorRankResultRequest(job_id=job_id)
        message = self._call(self._analysis.GetTensorRankResult, request)
        return TensorRankResult.from_message(message)

    def learning_ranks(self, weights, d_in: int, d_out: int, reference=None,
                       tolerance: float = 0.0) -> LearningRanksResult:
        """Matrix, multilinear and CP ranks of the weight changes against the linear bound.

        Parameters
        ----------
        weights : array-like of shape (K, N, N)
            W at each of K learning steps.
        d_in, d_out : int
            Input and output dimensions of the task; the bound is d_in + d_out.
        reference : array-like of shape (N, N), optional
            Weights the changes are measured from; default ``weights[0]``.
        tolerance : float, default=0.0
            Relative singular value threshold in (0, 1); 0 means 1e-6.
        """
        request = analysis_pb2.LearningRanksRequest(
            weights=to_tensor(_float_array("weights", weights, ndim=3, dtype=np.float64)),
            tolerance=check_number("tolerance", tolerance, minimum=0.0),
            d_in=check_integer("d_in", d_in, minimum=1),
            d_out=check_integer("d_out", d_out, minimum=1),
        )
        if reference is not None:
            request.reference.CopyFrom(
                to_tensor(_float_array("reference", reference, ndim=2, dtype=np.float64))
            )
        message = self._call(self._analysis.LearningRanks, request, timeout=None)
        return LearningRanksResult.from_message(message)

    def subspaces(self, a, b, samples=None, space: str = "auto") -> SubspacesResult:
        """Principal angles between two subspaces.

        Parameters
        ----------
        a, b : array-like of shape (D, r), or str, or Model, or EpochSubspace, or RecordingEpoch
            A basis (columns, orthonormalised by the server), a model id or Model (its
            span{a_r}), an :class:`EpochSubspace` or a :class:`RecordingEpoch`. Both sides
            need the same ambient dimension D.
        samples : array-like of shape (S, D), optional
            Samples as rows; the result then reports the variance each subspace captures.
        space : {"auto", "units", "neurons"}, default="auto"
            Space of the model sides: the N RNN units, or the M neurons through the readout.
            "auto" lets the server match the other side.
        """
        if space not in MODEL_SPACES:
            raise InvalidArgument(f"space must be one of {list(MODEL_SPACES)}, got {space!r}")
        request = analysis_pb2.SubspacesRequest()
        request.a.CopyFrom(_subspace_source("a", a, MODEL_SPACES[space]))
        request.b.CopyFrom(_subspace_source("b", b, MODEL_SPACES[space]))
        if samples is not None:
            request.samples.CopyFrom(
                to_tensor(_float_array("samples", samples, ndim=2, dtype=np.float64))
            )
        message = self._call(self._analysis.Subspaces, request, timeout=None)
        return SubspacesResult.from_message(message)

    def model_analysis(self, model_id: str, boundary_window: int = 10) -> ModelAnalysisResult:
        """Epoch summaries, eigenvalues and latent summaries of a fitted model.

        ``boundary_window`` trials on each side of an epoch boundary are averaged for the
        change of the trial factors there.
        """
        request = analysis_pb2.ModelAnalysisRequest(
            model_id=_model_id(model_id),
            boundary_window=check_integer("boundary_window", boundary_window, minimum=1),
        )
        return ModelAnalysisResult.from_message(self._call(self._analysis.ModelAnalysis, request))


def connect(address: str = DEFAULT_ADDRESS, token: str | None = None, tls_ca=None,
            timeout: float | None = DEFAULT_TIMEOUT, ready_timeout: float = 60.0,
            tls: bool = False) -> Client:
    """Open a :class:`Client` and wait until the server reports SERVING on its health check.

    Raises
    ------
    Unavailable
        When the server is not ready within ``ready_timeout`` seconds.
    """
    client = Client(address, token=token, tls_ca=tls_ca, timeout=timeout, tls=tls)
    try:
        return client.wait_until_ready(ready_timeout)
    except BaseException:
        client.close()
        raise


def _float_array(name: str, value, ndim: int, dtype=None) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"{name} must be a numeric array: {error}") from None
    if array.dtype.kind not in "iufb":
        raise InvalidArgument(f"{name} must be a numeric array, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise InvalidArgument(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if dtype is None:
        dtype = array.dtype if array.dtype in (np.float32, np.float64) else np.float64
    return array.astype(dtype, copy=False)


def _model_id(value) -> str:
    if isinstance(value, Model):
        return value.model_id
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"model_id must be a model id string, got {describe(value)}")
    return value


def _subspace_source(name: str, value, space: int) -> analysis_pb2.SubspaceSource:
    if isinstance(value, EpochSubspace):
        return analysis_pb2.SubspaceSource(model_space=space, epoch=analysis_pb2.EpochSubspace(
            model_id=value.model_id, epoch=value.epoch, dimension=value.dimension,
        ))
    if isinstance(value, RecordingEpoch):
        return analysis_pb2.SubspaceSource(
            recording_epoch=analysis_pb2.RecordingEpochSubspace(
                dataset_id=value.dataset_id, epoch=value.epoch, dimension=value.dimension,
            )
        )
    if isinstance(value, (str, Model)):
        return analysis_pb2.SubspaceSource(model_space=space, model_id=_model_id(value))
    basis = _float_array(name, value, ndim=2, dtype=np.float64)
    return analysis_pb2.SubspaceSource(basis=to_tensor(basis))


def _mask_settings(masks, seed) -> sweep_pb2.MaskSettings:
    settings = sweep_pb2.MaskSettings(seed=check_integer("mask_seed", seed, minimum=0))
    if masks is None:
        return settings
    if isinstance(masks, MaskConfig):
        masks = {
            "test_fraction": masks.test_fraction,
            "validation_fraction": masks.validation_fraction,
            "inner": masks.inner, "outer": masks.outer,
        }
    if not isinstance(masks, dict):
        raise InvalidArgument(f"masks must be a MaskConfig or a dict, got {type(masks).__name__}")
    known = ("test_fraction", "validation_fraction", "inner", "outer")
    unknown = sorted(set(masks) - set(known))
    if unknown:
        raise InvalidArgument(f"unknown mask settings {unknown}; the known ones are {list(known)}")
    for key in ("test_fraction", "validation_fraction"):
        if key in masks:
            setattr(settings, key, check_number(f"masks['{key}']", masks[key], minimum=0.0))
    for key in ("inner", "outer"):
        if key in masks:
            values = check_integers(f"masks['{key}']", masks[key], minimum=0)
            if len(values) != 3:
                raise InvalidArgument(
                    f"masks['{key}'] must be three half-widths (trials, neurons, time), got "
                    f"{values}"
                )
            getattr(settings, key).extend(values)
    return settings


def _resources(resources) -> common_pb2.Resources:
    if not isinstance(resources, dict):
        raise InvalidArgument(
            f"resources must be a dict such as {{'num_cpus': 1, 'num_gpus': 0.25}}, got "
            f"{type(resources).__name__}"
        )
    unknown = sorted(set(resources) - {"num_cpus", "num_gpus"})
    if unknown:
        raise InvalidArgument(f"unknown resources {unknown}; the known ones are num_cpus, num_gpus")
    message = common_pb2.Resources()
    for key, value in resources.items():
        setattr(message, key, check_number(f"resources['{key}']", value, minimum=0.0))
    return message
