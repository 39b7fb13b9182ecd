"""Size and work limits of the AnalysisService, from the server settings and fixed defaults.

CP fitting time grows with the number of tensor entries times the rank of each fit, so the
work of a tensor rank request is measured in entry-rank fits::

    work = tensor entries x sum(ranks) x replicates

A direct TensorRank call fails with FAILED_PRECONDITION above
:attr:`AnalysisLimits.direct_work`, so that the caller submits a job instead.
SubmitTensorRank fails with RESOURCE_EXHAUSTED above :attr:`AnalysisLimits.job_work`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings

# A 100 x 100 x 100 tensor with ranks 1-4 and 3 replicates is 3e7 entry-rank fits. The CP
# rank benchmark (250 x 200 x 200, ranks 1-8, 3 replicates: 1.1e9) took 130 s on a shared
# 2-core machine, so 1e8 is an estimated 5 to 15 s there.
DIRECT_WORK = 1e8
# About 1000 times the direct limit: hours on one core.
JOB_WORK = 1e11
MAX_REPLICATES = 20
# ALS iterations per (rank, replicate) fit, the engine's default.
MAX_ALS_ITERATIONS = 500
MAX_UNFINISHED_JOBS = 16
# Largest CP rank tried for the CP estimate of LearningRanks.
LEARNING_CP_MAX_RANK = 8
LEARNING_CP_REPLICATES = 2


@dataclass(frozen=True)
class AnalysisLimits:
    """Limits that every AnalysisService request is checked against.

    Attributes
    ----------
    max_tensor_bytes : int
        Largest size of one input tensor, shape x item size; ``settings.max_message_bytes``.
    max_rank : int
        Largest CP rank; ``settings.max_rank``.
    max_size : int
        Largest N of (K, N, N) weights; ``settings.max_rnn_size``.
    max_replicates : int, default=20
    direct_work : float, default=1e8
        Largest work (entry-rank fits) of a direct TensorRank call and of the CP estimate
        of LearningRanks.
    job_work : float, default=1e11
        Largest work of a tensor rank job.
    max_iterations : int, default=500
        ALS iterations per CP fit.
    max_unfinished_jobs : int, default=16
        Tensor rank jobs that may be PENDING or RUNNING at once.
    """

    # NOTE: the fields below max_size are constants of this module, not LTRNN_* settings.
    max_tensor_bytes: int
    max_rank: int
    max_size: int
    max_replicates: int = MAX_REPLICATES
    direct_work: float = DIRECT_WORK
    job_work: float = JOB_WORK
    max_iterations: int = MAX_ALS_ITERATIONS
    max_unfinished_jobs: int = MAX_UNFINISHED_JOBS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "AnalysisLimits":
        """Build the limits of a server with ``settings``; ``overrides`` replace fields."""
        values = {
            "max_tensor_bytes": settings.max_message_bytes,
            "max_rank": settings.max_rank,
            "max_size": settings.max_rnn_size,
        }
        values.update(overrides)
        return cls(**values)


def cp_work(n_entries: int, ranks, replicates: int) -> float:
    """Return the work of CP fits over ``ranks`` with ``replicates``, in entry-rank fits."""
    return float(n_entries) * float(sum(ranks)) * float(replicates)
