"""Ranks of the weight changes learned across trials, against the linear-network bound.

For a linear RNN h_{t+1} = W h_t + B u_t, y_t = C h_t trained by gradient descent on W
from W = 0 (B and C fixed, h_0 = 0), every hidden state and every back-propagated error
lies in S = span(B) + span(C^T), so every gradient sum_t delta_t h_t^T maps S to S and is
zero on its orthogonal complement. With b = d_in + d_out >= dim S, every weight change
W^(k) - W^(0) therefore has matrix rank <= b, each vectorised change lies in the
b^2-dimensional space S (x) S, and the (K, N, N) learning tensor has multilinear rank at most
(min(K, b^2), b, b) and CP rank at most b^2. Nonlinear units or nonzero initial weights
break the bound; the result reports measured ranks next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg

from ._validation import (
    as_real_array,
    check_finite,
    check_integer,
    check_ndim,
    check_real,
    describe,
)
from .tensor_rank import TensorRankProgress, TensorRankResult, check_ranks, tensor_rank


@dataclass(frozen=True)
class LearningRanksResult:
    """Matrix, multilinear and CP ranks of the weight changes W^(k) - reference.

    Attributes
    ----------
    slice_indices : ndarray of shape (n_slices,), int64
        Indices into the input weights of the analysed slices. The reference slice is left
        out when the reference is a slice of the input, because its change is zero.
    reference : str
        "first", "index <k>" or "array".
    matrix_ranks : ndarray of shape (n_slices,), int64
        Numerical rank of each weight change: singular values above ``thresholds``.
    effective_ranks : ndarray of shape (n_slices,)
        Participation ratio of the squared singular values, (sum s^2)^2 / sum s^4: the
        number of equally strong directions that would give the same spread (0 for a zero
        change).
    singular_values : ndarray of shape (n_slices, N)
        Singular values of each weight change, descending.
    thresholds : ndarray of shape (n_slices,)
        Absolute singular value threshold of each slice.
    tolerance_rule : str
        How the thresholds were set.
    multilinear_rank : ndarray of shape (3,), int64
        Numerical ranks of the mode-0 (slice), mode-1 (row) and mode-2 (column) unfoldings
        of the change tensor.
    multilinear_thresholds : ndarray of shape (3,)
        Absolute thresholds used for the three unfoldings.
    cp : TensorRankResult or None
        CP rank sweep of the change tensor, None when ``cp_ranks`` was None.
    cp_rank : int or None
        ``cp.suggested_rank``.
    bound : int or None
        d_in + d_out, the linear-network bound on each matrix rank; None without d_in, d_out.
    multilinear_bound : ndarray of shape (3,) or None
        (min(n_slices, bound^2), bound, bound).
    cp_bound : int or None
        bound^2.
    within_bound : ndarray of shape (n_slices,), bool, or None
        Whether each slice's matrix rank is <= ``bound``.
    multilinear_within_bound, cp_within_bound : bool or None
        Whether every multilinear rank, and the CP rank estimate, are within their bounds.
    """

    slice_indices: np.ndarray
    reference: str
    matrix_ranks: np.ndarray
    effective_ranks: np.ndarray
    singular_values: np.ndarray
    thresholds: np.ndarray
    tolerance_rule: str
    multilinear_rank: np.ndarray
    multilinear_thresholds: np.ndarray
    cp: TensorRankResult | None
    cp_rank: int | None
    bound: int | None
    multilinear_bound: np.ndarray | None
    cp_bound: int | None
    within_bound: np.ndarray | None
    multilinear_within_bound: bool | None
    cp_within_bound: bool | None

    def to_dict(self, include_fits: bool = False) -> dict:
        """Return the result as JSON-ready built-in types (CP factors only if requested)."""

        def listed(array):
            return None if array is None else array.tolist()

        return {
            "slice_indices": self.slice_indices.tolist(),
            "reference": self.reference,
            "matrix_ranks": self.matrix_ranks.tolist(),
            "effective_ranks": self.effective_ranks.tolist(),
            "singular_values": self.singular_values.tolist(),
            "thresholds": self.thresholds.tolist(),
            "tolerance_rule": self.tolerance_rule,
            "multilinear_rank": self.multilinear_rank.tolist(),
            "multilinear_thresholds": self.multilinear_thresholds.tolist(),
            "cp": None if self.cp is None else self.cp.to_dict(include_fits=include_fits),
            "cp_rank": self.cp_rank,
            "bound": self.bound,
            "multilinear_bound": listed(self.multilinear_bound),
            "cp_bound": self.cp_bound,
            "within_bound": listed(self.within_bound),
            "multilinear_within_bound": self.multilinear_within_bound,
            "cp_within_bound": self.cp_within_bound,
        }


def learning_ranks(
    weights,
    reference="first",
    tolerance: float | None = None,
    d_in: int | None = None,
    d_out: int | None = None,
    cp_ranks="auto",
    *,
    cp_replicates: int = 3,
    seed: int = 0,
    device: str = "auto",
    progress: Callable[[TensorRankProgress], bool | None] | None = None,
) -> LearningRanksResult:
    """Measure the ranks of weight changes across learning.

    Parameters
    ----------
    weights : array-like of shape (K, N, N)
        Recurrent weight matrix at each of K trials or training steps.
    reference : "first", int or array-like of shape (N, N), default="first"
        Weights the changes are taken from: the first slice, the slice at an index in
        [-K, K), or a given matrix.
    tolerance : float, optional
        Relative tolerance in (0, 1): a singular value counts when it exceeds
        ``tolerance * scale``. Default: ``max(matrix shape) * eps``, numpy.linalg.matrix_rank's
        default, with eps of the input's float type (float64 for integer input). ``scale``
        is the largest singular value of the change, or of the weights it was computed from
        if that is larger: subtracting the reference leaves rounding errors of size
        eps * ||W||, which are not learning. For unfoldings the weights' scale is their
        largest per-slice norm. The same rule sets the multilinear rank thresholds.
    d_in, d_out : int, optional
        Input and output dimensions of the task. Give both to compare the ranks with the
        linear-network bound b = d_in + d_out.
    cp_ranks : iterable of int, "auto" or None, default="auto"
        Ranks for the CP rank estimate of the change tensor (see :func:`tensor_rank`).
        "auto" is 1 to 8, capped at the largest dimension of the change tensor; None skips it.
    cp_replicates : int, default=3
        Replicates per CP rank, >= 2.
    seed : int, default=0
        Seed of the CP fits.
    device : str, default="auto"
        Device of the CP fits, as in :func:`tensor_rank`.
    progress : callable, optional
        Progress callback of the CP fits, as in :func:`tensor_rank`.

    Returns
    -------
    LearningRanksResult
    """
    weights_array = _check_weights(weights)
    reference_matrix, reference_index, reference_name, eps = _resolve_reference(
        reference, weights_array, _eps(weights)
    )
    if tolerance is not None:
        tolerance = check_real(
            "tolerance", tolerance, 0.0, 1.0, include_minimum=False, include_maximum=False
        )
    bound = _check_dimensions(d_in, d_out)

    slice_indices = np.arange(len(weights_array))
    if reference_index is not None:
        slice_indices = np.delete(slice_indices, reference_index)
    if slice_indices.size == 0:
        raise ValueError(
            "weights has a single slice, which is the reference; pass at least two slices or "
            "a reference matrix."
        )
    kept_weights = weights_array[slice_indices]
    changes = kept_weights - reference_matrix
    if not np.any(changes):
        raise ValueError(
            "weights never change: every slice equals the reference, so there are no ranks to "
            "measure."
        )
    if isinstance(cp_ranks, str) and cp_ranks == "auto":
        cp_ranks = range(1, min(8, max(changes.shape)) + 1)
    if cp_ranks is not None:
        check_ranks("cp_ranks", cp_ranks, changes.shape)
        cp_replicates = check_integer("cp_replicates", cp_replicates, minimum=2)

    reference_norm = _spectral_norm(reference_matrix)
    weight_norms = np.array([_spectral_norm(matrix) for matrix in kept_weights])
    singular_values = np.array([scipy.linalg.svdvals(change) for change in changes])
    scales = np.maximum(singular_values[:, 0], np.maximum(weight_norms, reference_norm))
    thresholds = _relative(tolerance, changes.shape[1:], eps) * scales
    matrix_ranks = (singular_values > thresholds[:, None]).sum(axis=1).astype(np.int64)

    multilinear_rank, multilinear_thresholds = _multilinear_ranks(
        changes, max(weight_norms.max(), reference_norm), tolerance, eps
    )

    cp_result = None
    if cp_ranks is not None:
        cp_result = tensor_rank(
            changes, ranks=cp_ranks, replicates=cp_replicates, seed=seed, device=device,
            progress=progress,
        )
    cp_rank = None if cp_result is None else cp_result.suggested_rank

    return LearningRanksResult(
        slice_indices=slice_indices.astype(np.int64),
        reference=reference_name,
        matrix_ranks=matrix_ranks,
        effective_ranks=_participation_ratios(singular_values),
        singular_values=singular_values,
        thresholds=thresholds,
        tolerance_rule=_tolerance_rule(tolerance, eps),
        multilinear_rank=multilinear_rank,
        multilinear_thresholds=multilinear_thresholds,
        cp=cp_result,
        cp_rank=cp_rank,
        **_compare_with_bound(bound, len(slice_indices), matrix_ranks, multilinear_rank, cp_rank),
    )


def _check_weights(weights) -> np.ndarray:
    """Return ``weights`` as a float64 (K, N, N) array, or raise."""
    array = as_real_array("weights", weights)
    check_ndim("weights", array, 3, "(n_slices, N, N)")
    n_slices, n_rows, n_columns = array.shape
    if n_slices == 0 or n_rows == 0 or n_rows != n_columns:
        raise ValueError(
            f"weights must have shape (K, N, N) with K, N >= 1 (square recurrent weight "
            f"matrices), got shape {array.shape}."
        )
    check_finite("weights", array)
    return array


def _multilinear_ranks(changes: np.ndarray, weight_scale: float, tolerance, eps: float):
    """Return (ranks, thresholds) of the three mode unfoldings of the change tensor."""
    ranks = np.zeros(3, dtype=np.int64)
    thresholds = np.zeros(3)
    for mode in range(3):
        unfolding = np.moveaxis(changes, mode, 0).reshape(changes.shape[mode], -1)
        values = scipy.linalg.svdvals(unfolding)
        scale = max(values[0], weight_scale)
        thresholds[mode] = _relative(tolerance, unfolding.shape, eps) * scale
        ranks[mode] = int((values > thresholds[mode]).sum())
    return ranks, thresholds


def _tolerance_rule(tolerance: float | None, eps: float) -> str:
    scale = "scale = max(largest singular value of the change, spectral norm of the weights)"
    if tolerance is None:
        return f"singular values above max(matrix shape) * eps * scale, eps = {eps:.3g}, {scale}"
    return f"singular values above {tolerance:g} * scale, {scale}"


def _compare_with_bound(
    bound: int | None, n_slices: int, matrix_ranks, multilinear_rank, cp_rank
) -> dict:
    """Return the bound fields of LearningRanksResult, all None without a bound."""
    if bound is None:
        return {
            "bound": None,
            "multilinear_bound": None,
            "cp_bound": None,
            "within_bound": None,
            "multilinear_within_bound": None,
            "cp_within_bound": None,
        }
    multilinear_bound = np.array([min(n_slices, bound**2), bound, bound], dtype=np.int64)
    return {
        "bound": bound,
        "multilinear_bound": multilinear_bound,
        "cp_bound": bound**2,
        "within_bound": matrix_ranks <= bound,
        "multilinear_within_bound": bool(np.all(multilinear_rank <= multilinear_bound)),
        "cp_within_bound": None if cp_rank is None else cp_rank <= bound**2,
    }


def _eps(array) -> float:
    """Machine epsilon of ``array``'s float type, float64's for anything else."""
    dtype = np.asarray(array).dtype
    if np.issubdtype(dtype, np.floating):
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float64).eps)


def _resolve_reference(reference, weights: np.ndarray, eps: float):
    """Return (reference matrix, its slice index or None, its name, eps to use)."""
    n_slices, size, _ = weights.shape
    if isinstance(reference, str):
        if reference != "first":
            raise ValueError(
                f"reference must be 'first', a slice index or an (N, N) array, got "
                f"{reference!r}."
            )
        return weights[0], 0, "first", eps
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, (bool, np.bool_)):
        index = check_integer("reference", reference, -n_slices, n_slices - 1)
        index %= n_slices
        return weights[index], index, f"index {index}", eps
    matrix = as_real_array("reference", reference)
    if matrix.shape != (size, size):
        raise ValueError(
            f"reference must be 'first', a slice index or an array of shape ({size}, {size}) "
            f"matching weights, got {describe(reference)}."
        )
    check_finite("reference", matrix)
    return matrix, None, "array", max(eps, _eps(reference))


def _check_dimensions(d_in, d_out) -> int | None:
    """Return d_in + d_out, None when neither is given, or raise."""
    if d_in is None and d_out is None:
        return None
    if d_in is None or d_out is None:
        raise ValueError(
            f"d_in and d_out must be given together, got d_in={d_in!r} and d_out={d_out!r}."
        )
    return check_integer("d_in", d_in, minimum=1) + check_integer("d_out", d_out, minimum=1)


def _relative(tolerance: float | None, shape: tuple[int, ...], eps: float) -> float:
    return max(shape) * eps if tolerance is None else tolerance


def _spectral_norm(matrix: np.ndarray) -> float:
    return float(np.linalg.norm(matrix, 2))


def _participation_ratios(singular_values: np.ndarray) -> np.ndarray:
    """(sum s^2)^2 / sum s^4 per row, 0 for an all-zero row."""
    largest = singular_values.max(axis=1, keepdims=True)
    # The ratio is scale-free, so each row is divided by its largest value to keep s^4 from
    # underflowing.
    squared = (singular_values / np.where(largest > 0, largest, 1.0)) ** 2
    numerator = squared.sum(axis=1) ** 2
    denominator = (squared**2).sum(axis=1)
    ratios = np.zeros(len(singular_values))
    nonzero = denominator > 0
    ratios[nonzero] = numerator[nonzero] / denominator[nonzero]
    return ratios
