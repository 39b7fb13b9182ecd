"""The AnalysisService servicer: tensor rank, learning ranks, subspaces and model analysis.

The request checks and the maths adapters live in :mod:`ltrnn.server.analysis`. Direct
TensorRank and LearningRanks calls run on the RPC thread and stop between two CP fits
once the client has gone or its deadline has passed. A TensorRank request whose work is
above :attr:`~ltrnn.server.analysis.limits.AnalysisLimits.direct_work` fails with
FAILED_PRECONDITION, and the caller submits it with SubmitTensorRank instead.
"""

from __future__ import annotations

import logging

import grpc

from ltrnn.engine.analysis import TensorRankCancelled
from ltrnn.v1 import analysis_pb2_grpc

from . import messages
from .analysis.jobs import TensorRankJobs
from .analysis.learning import learning_ranks_message
from .analysis.limits import AnalysisLimits
from .analysis.model_analysis import model_analysis_message
from .analysis.rejections import RejectionLog, handle_request_errors
from .analysis.sources import ArtifactReader
from .analysis.subspaces import subspaces_message
from .analysis.tensor_rank import parse_tensor_rank, run_tensor_rank, tensor_rank_message
from .artifacts import ArtifactStore
from .errors import RequestError, invalid, precondition
from .settings import Settings
from .store import JobStore

logger = logging.getLogger(__name__)


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):
    """Implements ltrnn.v1.AnalysisService.

    Parameters
    ----------
    settings : Settings
    store : JobStore or None
        The job store, for SubmitTensorRank jobs; None when the server runs without one.
    artifacts : ArtifactStore
        Where fitted models and datasets are read and job results written.
    limits : AnalysisLimits, optional
        Default: ``AnalysisLimits.from_settings(settings)``.
    """

    def __init__(
        self,
        settings: Settings,
        store: JobStore | None,
        artifacts: ArtifactStore,
        limits: AnalysisLimits | None = None,
    ):
        self._settings = settings
        self._store = store
        self._artifacts = artifacts
        self._limits = limits or AnalysisLimits.from_settings(settings)
        self._reader = ArtifactReader(artifacts, settings.model_cache_size)
        self._rejections = RejectionLog()
        self._jobs = None if store is None else TensorRankJobs(store, artifacts, self._limits)

    @property
    def limits(self) -> AnalysisLimits:
        return self._limits

    def close(self) -> None:
        """Stop the tensor rank jobs; unfinished ones are marked FAILED."""
        if self._jobs is not None:
            self._jobs.close()

    def _require_jobs(self) -> TensorRankJobs:
        if self._jobs is None:
            raise precondition("this server has no job store, so it runs no tensor rank jobs")
        return self._jobs

    # -- tensor rank ---------------------------------------------------------------------

    @handle_request_errors
    def TensorRank(self, request, context):
        task = parse_tensor_rank(request, self._limits)
        if task.work > self._limits.direct_work:
            raise precondition(
                f"the request needs {task.work:.3g} entry-rank fits (tensor entries x sum of "
                f"ranks x replicates), above the limit {self._limits.direct_work:.3g} of a "
                "direct TensorRank call; submit it with SubmitTensorRank and follow the job "
                "with FitService.WatchJob"
            )
        try:
            result = run_tensor_rank(task, self._limits, _stop_when_inactive(context))
        except TensorRankCancelled:
            raise _inactive_error(context, "TensorRank") from None
        except (ValueError, FloatingPointError) as error:
            raise invalid(f"tensor: {error}") from None
        return tensor_rank_message(result)

    @handle_request_errors
    def SubmitTensorRank(self, request, context):
        job, cells = self._require_jobs().submit(request)
        return messages.job_message(job, cells)

    @handle_request_errors
    def GetTensorRankResult(self, request, context):
        return self._require_jobs().result(request.job_id)

    # -- learning ranks, subspaces, models -------------------------------------------------

    @handle_request_errors
    def LearningRanks(self, request, context):
        try:
            return learning_ranks_message(request, self._limits, _stop_when_inactive(context))
        except TensorRankCancelled:
            raise _inactive_error(context, "LearningRanks") from None

    @handle_request_errors
    def Subspaces(self, request, context):
        return subspaces_message(request, self._limits, self._reader)

    @handle_request_errors
    def ModelAnalysis(self, request, context):
        return model_analysis_message(request, self._reader)


def _stop_when_inactive(context):
    """Return a CP progress callback that stops the fits once the RPC is no longer active.

    An RPC turns inactive when the client cancels, its deadline passes or the server stops.
    The check runs after each (rank, replicate) fit, so one fit always runs to its end.
    """

    def progress(report) -> bool:
        return not context.is_active()

    return progress


def _inactive_error(context, method: str) -> RequestError:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return RequestError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"{method} passed its deadline before the CP fits finished; give a longer "
            "deadline or use SubmitTensorRank",
        )
    return RequestError(grpc.StatusCode.CANCELLED, f"{method} was cancelled by the client")
