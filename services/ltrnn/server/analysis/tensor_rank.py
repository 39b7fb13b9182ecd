"""TensorRank requests: validation against the server limits, the CP sweep and the reply."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ltrnn.engine.analysis import TensorRankResult, tensor_rank
from ltrnn.v1 import analysis_pb2

from ..errors import exhausted, invalid
from ..tensors import to_tensor
from .inputs import check_norm, decode_tensor, first_index, integer_in
from .limits import AnalysisLimits, cp_work

DEFAULT_REPLICATES = 3
MAX_HELDOUT_FRACTION = 0.5


@dataclass(frozen=True)
class TensorRankTask:
    """A validated TensorRank request, ready for :func:`run_tensor_rank`.

    Attributes
    ----------
    data : ndarray of shape (I, J, K), float64
        The tensor, NaN where unobserved.
    observed : ndarray of shape (I, J, K), bool, or None
        Observed entries; None when every entry is observed.
    ranks : list of int
        Ascending, no duplicates.
    replicates, seed : int
    heldout_fraction : float
    work : float
        Entry-rank fits, see :func:`~ltrnn.server.analysis.limits.cp_work`.
    """

    data: np.ndarray
    observed: np.ndarray | None
    ranks: list[int]
    replicates: int
    heldout_fraction: float
    seed: int
    work: float

    @property
    def n_fits(self) -> int:
        return len(self.ranks) * self.replicates


def parse_tensor_rank(
    request: analysis_pb2.TensorRankRequest, limits: AnalysisLimits, prefix: str = ""
) -> TensorRankTask:
    """Validate a TensorRankRequest; errors name fields as ``prefix + name``.

    Raises
    ------
    RequestError
        INVALID_ARGUMENT for invalid values, RESOURCE_EXHAUSTED when the tensor is above
        the byte limit or the work above ``limits.job_work``.
    """
    data = decode_tensor(
        request, "tensor", prefix + "tensor", max_bytes=limits.max_tensor_bytes, ndim=3
    )
    if 0 in data.shape:
        raise invalid(
            f"{prefix}tensor must not have an empty dimension, got shape {list(data.shape)}"
        )
    mask = decode_tensor(
        request, "mask", prefix + "mask", max_bytes=limits.max_tensor_bytes,
        dtypes=("bool",), required=False,
    )
    observed = _observed_entries(data, mask, prefix)
    values = data[observed]
    if not np.any(values):
        raise invalid(
            f"{prefix}tensor is zero at every observed entry, so it has no CP structure to fit"
        )
    check_norm(prefix + "tensor", values)

    ranks = _check_ranks(list(request.ranks), data.shape, limits, prefix + "ranks")
    replicates = request.replicates or DEFAULT_REPLICATES
    replicates = integer_in(
        prefix + "replicates", replicates, 2, limits.max_replicates,
        limit="max_replicates of the analysis service",
    )
    fraction = request.heldout_fraction
    if not (math.isfinite(fraction) and 0.0 <= fraction < MAX_HELDOUT_FRACTION):
        raise invalid(
            f"{prefix}heldout_fraction must be in [0, {MAX_HELDOUT_FRACTION}), got {fraction!r}"
        )
    n_observed = int(observed.sum())
    n_heldout = int(round(fraction * n_observed))
    if fraction > 0 and not 1 <= n_heldout < n_observed:
        raise invalid(
            f"{prefix}heldout_fraction={fraction!r} holds out {n_heldout} of {n_observed} "
            "observed entries; choose a fraction that holds out at least one entry"
        )
    seed = integer_in(prefix + "seed", request.seed, 0)

    work = cp_work(data.size, ranks, replicates)
    if work > limits.job_work:
        raise exhausted(
            f"{prefix}tensor of shape {list(data.shape)} with ranks {ranks} and {replicates} "
            f"replicates needs {work:.3g} entry-rank fits (entries x sum of ranks x "
            f"replicates), above the server limit {limits.job_work:.3g}; use fewer or lower "
            "ranks, fewer replicates or a smaller tensor"
        )
    return TensorRankTask(
        data=data,
        observed=None if observed.all() else observed,
        ranks=ranks,
        replicates=replicates,
        heldout_fraction=float(fraction),
        seed=int(seed),
        work=work,
    )


def _observed_entries(data: np.ndarray, mask: np.ndarray | None, prefix: str) -> np.ndarray:
    """Return the observed entries: ``mask``, or every entry that is not NaN."""
    infinite = np.isinf(data)
    if infinite.any():
        raise invalid(
            f"{prefix}tensor contains {int(infinite.sum())} infinite values (first at index "
            f"{first_index(infinite)}); replace them, or set them to NaN and mark them missing"
        )
    if mask is None:
        observed = ~np.isnan(data)
    else:
        if mask.shape != data.shape:
            raise invalid(
                f"{prefix}mask must have the shape of tensor {list(data.shape)}, got "
                f"{list(mask.shape)}"
            )
        observed = mask.astype(bool, copy=False)
        nan_observed = observed & np.isnan(data)
        if nan_observed.any():
            raise invalid(
                f"{prefix}tensor contains {int(nan_observed.sum())} NaN values at entries that "
                f"mask marks observed (first at index {first_index(nan_observed)}); mark them "
                "False in mask or leave mask unset"
            )
    if not observed.any():
        raise invalid(
            f"{prefix}tensor has no observed entry: every entry is NaN or marked False in mask"
        )
    return observed


def _check_ranks(ranks: list[int], shape, limits: AnalysisLimits, field: str) -> list[int]:
    if not ranks:
        raise invalid(f"{field} is empty; give at least one CP rank, e.g. ranks=[1, 2, 3]")
    largest = max(shape)
    for rank in ranks:
        integer_in(field, rank, 1, limits.max_rank, limit="LTRNN_MAX_RANK")
        if rank > largest:
            raise invalid(
                f"{field} contains {rank}, larger than every dimension of the tensor of shape "
                f"{list(shape)}; use ranks <= {largest}"
            )
    duplicates = sorted(rank for rank, count in Counter(ranks).items() if count > 1)
    if duplicates:
        raise invalid(f"{field} contains duplicates {duplicates}; list each rank once")
    return sorted(ranks)


def run_tensor_rank(
    task: TensorRankTask, limits: AnalysisLimits, progress: Callable | None = None
) -> TensorRankResult:
    """Run the CP sweep of ``task`` with the engine; ``progress`` as in ``tensor_rank``."""
    return tensor_rank(
        task.data,
        ranks=task.ranks,
        replicates=task.replicates,
        mask=task.observed,
        heldout_fraction=task.heldout_fraction,
        seed=task.seed,
        max_iterations=limits.max_iterations,
        progress=progress,
    )


def tensor_rank_message(result: TensorRankResult) -> analysis_pb2.TensorRankResult:
    """Build the TensorRankResult reply from the engine's result."""
    message = analysis_pb2.TensorRankResult(
        ranks=result.ranks.tolist(),
        errors=to_tensor(result.errors.astype(np.float64)),
        similarity=to_tensor(mean_similarity(result)),
        suggested_rank=result.suggested_rank,
        rule=rule_with_numbers(result),
    )
    if result.heldout_errors is not None:
        message.heldout_errors.CopyFrom(to_tensor(result.heldout_errors.astype(np.float64)))
    return message


def mean_similarity(result: TensorRankResult) -> np.ndarray:
    """Return the mean similarity of each rank's other replicates with its best, (n_ranks,)."""
    others = np.ones_like(result.similarities, dtype=bool)
    others[np.arange(len(result.ranks)), result.best_replicate] = False
    counts = others.sum(axis=1)
    return (result.similarities * others).sum(axis=1) / counts


def rule_with_numbers(result: TensorRankResult) -> str:
    """Return the engine's rule followed by the fits and similarities it compared."""
    best = result.best_replicate
    rows = np.arange(len(result.ranks))
    heldout = result.heldout_errors is not None
    errors = (result.heldout_errors if heldout else result.errors)[rows, best]
    fits = 1.0 - errors**2
    best_index = int(np.argmax(fits))
    fit_text = ", ".join(f"{rank}: {fit:.4f}" for rank, fit in zip(result.ranks, fits))
    similarity_text = ", ".join(
        f"{rank}: {value:.3f}" for rank, value in zip(result.ranks, result.rank_similarity)
    )
    return (
        f"{result.rule}. Best fit {fits[best_index]:.4f} at rank {result.ranks[best_index]}; "
        f"fit by rank {{{fit_text}}}; similarity of the two best replicates by rank "
        f"{{{similarity_text}}}"
    )
