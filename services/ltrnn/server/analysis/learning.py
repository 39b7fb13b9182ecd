"""LearningRanks requests: ranks of weight changes against the linear-RNN bound."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ltrnn.engine.analysis import LearningRanksResult, learning_ranks
from ltrnn.v1 import analysis_pb2

from ..errors import invalid
from ..tensors import to_tensor
from .inputs import check_finite, check_norm, decode_tensor, integer_in
from .limits import LEARNING_CP_MAX_RANK, LEARNING_CP_REPLICATES, AnalysisLimits, cp_work

DEFAULT_TOLERANCE = 1e-6


def learning_ranks_message(
    request: analysis_pb2.LearningRanksRequest,
    limits: AnalysisLimits,
    progress: Callable | None = None,
) -> analysis_pb2.LearningRanksResult:
    """Validate a LearningRanksRequest, measure the ranks and build the reply.

    The CP rank of the change tensor is estimated over ranks 1 to min(bound^2 + 1,
    largest dimension of the changes, 8, max_rank), with 2 replicates each. So an
    estimate above the bound can show only when bound^2 is below 8. When those fits would
    exceed ``limits.direct_work``, the estimate is skipped: ``cp_rank_estimate`` is 0 and
    ``cp_rank_rule`` gives the reason.

    Raises
    ------
    RequestError
        INVALID_ARGUMENT for invalid values, RESOURCE_EXHAUSTED for tensors above the byte
        limit.
    """
    weights = decode_tensor(
        request, "weights", "weights", max_bytes=limits.max_tensor_bytes, ndim=3
    )
    n_slices, n_rows, n_columns = weights.shape
    if n_slices == 0 or n_rows == 0 or n_rows != n_columns:
        raise invalid(
            f"weights must have shape (K, N, N) with K, N >= 1 (square recurrent weight "
            f"matrices), got shape {list(weights.shape)}"
        )
    integer_in("weights.shape[1]", n_rows, 1, limits.max_size, limit="LTRNN_MAX_RNN_SIZE")
    check_finite("weights", weights)
    check_norm("weights", weights)

    reference = decode_tensor(
        request, "reference", "reference", max_bytes=limits.max_tensor_bytes, ndim=2,
        required=False,
    )
    if reference is not None:
        if reference.shape != (n_rows, n_rows):
            raise invalid(
                f"reference must have shape [{n_rows}, {n_rows}] to match weights, got "
                f"{list(reference.shape)}"
            )
        check_finite("reference", reference)
        check_norm("reference", reference)
    elif n_slices < 2:
        raise invalid(
            "weights has a single slice, which is the reference when reference is unset; "
            "send at least two slices or set reference"
        )

    tolerance = request.tolerance or DEFAULT_TOLERANCE
    if not (math.isfinite(tolerance) and 0.0 < tolerance < 1.0):
        raise invalid(
            f"tolerance must be in (0, 1) (0 means {DEFAULT_TOLERANCE:g}), got {tolerance!r}"
        )
    d_in = integer_in("d_in", request.d_in, 1)
    d_out = integer_in("d_out", request.d_out, 1)
    bound = d_in + d_out

    n_changes = n_slices if reference is not None else n_slices - 1
    change_shape = (n_changes, n_rows, n_rows)
    top = min(bound**2 + 1, max(change_shape), LEARNING_CP_MAX_RANK, limits.max_rank)
    cp_ranks = list(range(1, top + 1))
    work = cp_work(math.prod(change_shape), cp_ranks, LEARNING_CP_REPLICATES)
    skip_reason = ""
    if work > limits.direct_work:
        skip_reason = (
            f"not estimated: CP fits of the change tensor of shape {list(change_shape)} over "
            f"ranks 1-{top} need {work:.3g} entry-rank fits, above the direct limit "
            f"{limits.direct_work:.3g}; submit the changes W^(k) - reference with "
            "SubmitTensorRank instead"
        )
        cp_ranks = None

    try:
        result = learning_ranks(
            weights,
            reference="first" if reference is None else reference,
            tolerance=tolerance,
            d_in=d_in,
            d_out=d_out,
            cp_ranks=cp_ranks,
            cp_replicates=LEARNING_CP_REPLICATES,
            progress=progress,
        )
    except FloatingPointError as error:
        raise invalid(f"weights: {error}") from None
    except ValueError as error:
        # The engine names the same fields as the request (weights, reference, d_in, ...).
        raise invalid(str(error)) from None
    return _message(result, n_slices, bound, skip_reason)


def _message(result: LearningRanksResult, n_slices: int, bound: int,
             skip_reason: str) -> analysis_pb2.LearningRanksResult:
    # The reference slice has no change: rank 0 and effective rank 0 at its index.
    slice_ranks = np.zeros(n_slices, dtype=np.int64)
    effective = np.zeros(n_slices, dtype=np.float64)
    slice_ranks[result.slice_indices] = result.matrix_ranks
    effective[result.slice_indices] = result.effective_ranks
    multilinear = [int(rank) for rank in result.multilinear_rank]
    within = bool(np.all(result.matrix_ranks <= bound)) and all(
        rank <= bound for rank in multilinear[1:]
    )
    if result.cp is None:
        rule = skip_reason
        estimate = 0
    else:
        ranks = result.cp.ranks
        rule = (
            f"CP fits over ranks {int(ranks[0])}-{int(ranks[-1])} with "
            f"{result.cp.errors.shape[1]} replicates each: {result.cp.rule}"
        )
        estimate = int(result.cp_rank)
    return analysis_pb2.LearningRanksResult(
        slice_ranks=to_tensor(slice_ranks),
        effective_ranks=to_tensor(effective),
        multilinear_rank=multilinear,
        cp_rank_estimate=estimate,
        matrix_rank_bound=bound,
        cp_rank_bound=bound**2,
        within_bound=within,
        cp_rank_rule=rule,
    )
