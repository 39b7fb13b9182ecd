"""CP (tensor) rank of a tensor by CP decompositions over a range of ranks.

Each rank is fitted several times from random starts with TensorLy's ALS ``parafac``. The
result reports, per rank and replicate, the normalised reconstruction error, optionally the
error on held-out entries, the similarity of each replicate to the best one, and a suggested
rank with the rule that chose it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorly as tl
from tensorly.cp_tensor import CPTensor, cp_normalize
from tensorly.decomposition import parafac
from tensorly.metrics.factors import congruence_coefficient

from ._backend import resolve_backend, tensorly_backend, to_backend
from ._validation import (
    as_real_array,
    check_finite,
    check_integer,
    check_real,
    describe,
)

# Key of the random stream of held-out entries, (seed, 0). It differs from every stream of
# starting factors, which are keyed by (seed, rank, replicate).
_HELDOUT_STREAM = 0


@dataclass(frozen=True)
class TensorRankProgress:
    """Progress of :func:`tensor_rank`, reported after each (rank, replicate) fit.

    Attributes
    ----------
    rank, replicate : int
        The fit that just finished (replicates count from 0).
    completed, total : int
        Fits finished so far and fits in the whole sweep.
    error : float
        Normalised reconstruction error of this fit on the training entries.
    heldout_error : float or None
        Normalised error on held-out entries, None without held-out entries.
    iterations : int
        ALS iterations this fit ran.
    elapsed_seconds : float
        Seconds since the sweep started.
    """

    rank: int
    replicate: int
    completed: int
    total: int
    error: float
    heldout_error: float | None
    iterations: int
    elapsed_seconds: float


class TensorRankCancelled(Exception):
    """Raised by :func:`tensor_rank` when the progress callback returns True."""


@dataclass(frozen=True)
class CPFit:
    """A CP decomposition with unit-norm factor columns and the scale in ``weights``.

    Attributes
    ----------
    rank : int
    weights : ndarray of shape (rank,)
    factors : tuple of ndarray
        One (tensor.shape[mode], rank) matrix per mode.
    """

    rank: int
    weights: np.ndarray
    factors: tuple[np.ndarray, ...]

    def to_tensor(self) -> np.ndarray:
        """Return the full tensor the decomposition represents."""
        return tl.cp_to_tensor((self.weights, list(self.factors)))

    def to_dict(self) -> dict:
        """Return the decomposition as JSON-ready built-in types."""
        return {
            "rank": self.rank,
            "weights": self.weights.tolist(),
            "factors": [factor.tolist() for factor in self.factors],
        }


@dataclass(frozen=True)
class TensorRankResult:
    """CP fits of one tensor over a range of ranks, and the suggested rank.

    Attributes
    ----------
    shape : tuple of int
        Shape of the analysed tensor.
    ranks : ndarray of shape (n_ranks,), int64
        Ranks fitted, ascending.
    errors : ndarray of shape (n_ranks, n_replicates)
        ``||M * (X - Xhat)||_F / ||M * X||_F`` over the training entries M (all observed
        entries that are not held out).
    heldout_errors : ndarray of shape (n_ranks, n_replicates) or None
        The same ratio over the held-out entries; None when no entries are held out.
    similarities : ndarray of shape (n_ranks, n_replicates)
        Factor similarity of each replicate to the best replicate of its rank, 1 for the
        best itself. Components are matched optimally, then the absolute cosines between
        matched factor columns are multiplied over modes and averaged over components.
    rank_similarity : ndarray of shape (n_ranks,)
        Similarity of the second-best replicate to the best one.
    best_replicate : ndarray of shape (n_ranks,), int64
        Replicate with the lowest training error at each rank.
    iterations : ndarray of shape (n_ranks, n_replicates), int64
        ALS iterations each fit ran; a fit that ran ``max_iterations`` did not meet the
        tolerance.
    fits : tuple of CPFit
        The best replicate's decomposition at each rank.
    suggested_rank : int
    rule : str
        The rule that chose ``suggested_rank``, with its thresholds.
    n_training, n_heldout : int
        Number of entries fitted and held out.
    seed : int
    backend, device : str
        TensorLy backend and device the fits ran on.
    seconds : float
        Wall time of the whole sweep.
    """

    shape: tuple[int, ...]
    ranks: np.ndarray
    errors: np.ndarray
    heldout_errors: np.ndarray | None
    similarities: np.ndarray
    rank_similarity: np.ndarray
    best_replicate: np.ndarray
    iterations: np.ndarray
    fits: tuple[CPFit, ...]
    suggested_rank: int
    rule: str
    n_training: int
    n_heldout: int
    seed: int
    backend: str
    device: str
    seconds: float

    def to_dict(self, include_fits: bool = True) -> dict:
        """Return the result as JSON-ready built-in types (``fits`` only if requested)."""
        heldout = None if self.heldout_errors is None else self.heldout_errors.tolist()
        result = {
            "shape": list(self.shape),
            "ranks": self.ranks.tolist(),
            "errors": self.errors.tolist(),
            "heldout_errors": heldout,
            "similarities": self.similarities.tolist(),
            "rank_similarity": self.rank_similarity.tolist(),
            "best_replicate": self.best_replicate.tolist(),
            "iterations": self.iterations.tolist(),
            "suggested_rank": self.suggested_rank,
            "rule": self.rule,
            "n_training": self.n_training,
            "n_heldout": self.n_heldout,
            "seed": self.seed,
            "backend": self.backend,
            "device": self.device,
            "seconds": self.seconds,
        }
        if include_fits:
            result["fits"] = [fit.to_dict() for fit in self.fits]
        return result


def tensor_rank(
    tensor,
    ranks=range(1, 9),
    replicates: int = 3,
    mask=None,
    heldout_fraction: float = 0.0,
    seed: int = 0,
    max_iterations: int = 500,
    tolerance: float = 1e-8,
    device: str = "auto",
    progress: Callable[[TensorRankProgress], bool | None] | None = None,
    *,
    backend: str = "auto",
    fit_margin: float = 0.01,
    similarity_threshold: float = 0.9,
) -> TensorRankResult:
    """Estimate the CP rank of a tensor from CP fits over a range of ranks.

    Every (rank, replicate) pair is one ALS fit (``tensorly.decomposition.parafac`` with
    Bro's line search). Replicate 0 starts from the leading singular vectors of the
    unfoldings, the others from random bases of the same subspaces drawn from
    (seed, rank, replicate), so a fit does not depend on which other ranks are in the
    sweep. Missing and held-out entries are excluded through parafac's ``mask``, which
    imputes them from the current model at each iteration.

    Parameters
    ----------
    tensor : array-like of shape (I, J, K, ...)
        Tensor with at least 3 modes. NaN and inf are allowed only where ``mask`` is False.
    ranks : iterable of int, default=range(1, 9)
        Ranks to fit, each >= 1 and <= the largest dimension of ``tensor``, no duplicates.
    replicates : int, default=3
        Fits per rank from different random starts, >= 2 so that replicates can be compared.
    mask : array-like of bool, same shape as ``tensor``, optional
        True where an entry is observed. Default: all entries observed.
    heldout_fraction : float, default=0.0
        Fraction of observed entries held out of every fit, drawn once from ``seed`` and
        shared by all ranks and replicates, in [0, 1). When > 0 the rank choice uses the
        held-out error.
    seed : int, default=0
        Seed for the held-out entries and the random starts, >= 0.
    max_iterations : int, default=500
        ALS iterations per fit, >= 1.
    tolerance : float, default=1e-8
        A fit stops when its relative training error changes by less than this between
        iterations, >= 0.
    device : {"auto", "cpu", "cuda", "cuda:<index>"}, default="auto"
        Where to fit; "auto" uses a CUDA GPU when ``torch.cuda.is_available()``.
    progress : callable, optional
        Called with a :class:`TensorRankProgress` after each fit. If it returns True the sweep
        stops and :class:`TensorRankCancelled` is raised.
    backend : {"auto", "numpy", "pytorch"}, default="auto"
        TensorLy backend; "auto" uses PyTorch on a GPU and NumPy on the CPU, the faster one
        there.
    fit_margin : float, default=0.01
        How far the suggested rank's fit, 1 - error^2, may fall below the best rank's fit,
        in [0, 1].
    similarity_threshold : float, default=0.9
        Smallest similarity of the two best replicates that the suggested rank must have,
        in [0, 1].

    Returns
    -------
    TensorRankResult

    Notes
    -----
    The suggested rank is the smallest rank that meets two criteria:

    - its best replicate has a fit ``1 - e^2`` within ``fit_margin`` of the best fit over
      all ranks, where ``e`` is the held-out error when entries are held out and the
      training error otherwise;
    - its two best replicates have a factor similarity >= ``similarity_threshold``.

    Training error always falls with rank, so the fit criterion alone would favour ranks
    that fit noise. The similarity criterion rejects those, because components that fit
    noise differ between starts while components of a real low-rank structure recur. Only
    the second-best replicate is compared with the best because ALS sometimes stalls in a
    swamp far from the optimum, and one stalled start should not veto a rank. If no rank
    meets both criteria, the smallest rank that meets the fit criterion is suggested and
    ``rule`` states this.
    """
    data, observed = _check_tensor(tensor, mask)
    rank_list = check_ranks("ranks", ranks, data.shape)
    replicates = check_integer("replicates", replicates, minimum=2)
    heldout_fraction = check_real(
        "heldout_fraction", heldout_fraction, 0.0, 1.0, include_maximum=False
    )
    seed = check_integer("seed", seed, minimum=0)
    max_iterations = check_integer("max_iterations", max_iterations, minimum=1)
    tolerance = check_real("tolerance", tolerance, 0.0, np.inf, include_maximum=False)
    fit_margin = check_real("fit_margin", fit_margin, 0.0, 1.0)
    similarity_threshold = check_real("similarity_threshold", similarity_threshold, 0.0, 1.0)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable or None, got {describe(progress)}.")
    backend, device = resolve_backend(backend, device)

    training, heldout = _split_entries(data, observed, heldout_fraction, seed)
    start = time.perf_counter()
    n_ranks = len(rank_list)
    errors = np.zeros((n_ranks, replicates))
    heldout_errors = np.zeros((n_ranks, replicates)) if heldout is not None else None
    iterations = np.zeros((n_ranks, replicates), dtype=np.int64)
    fits: list[list[CPFit]] = []

    with tensorly_backend(backend):
        problem = _Problem(data, training, heldout, backend, device, max(rank_list))
        for rank_index, rank in enumerate(rank_list):
            fits.append([])
            for replicate in range(replicates):
                fit, error, heldout_error, n_iterations = problem.fit(
                    rank, replicate, seed, max_iterations, tolerance
                )
                fits[-1].append(fit)
                errors[rank_index, replicate] = error
                iterations[rank_index, replicate] = n_iterations
                if heldout_errors is not None:
                    heldout_errors[rank_index, replicate] = heldout_error
                report = TensorRankProgress(
                    rank=rank,
                    replicate=replicate,
                    completed=rank_index * replicates + replicate + 1,
                    total=n_ranks * replicates,
                    error=error,
                    heldout_error=heldout_error,
                    iterations=n_iterations,
                    elapsed_seconds=time.perf_counter() - start,
                )
                _notify(progress, report)

    best = np.argmin(errors, axis=1)
    similarities, rank_similarity = _replicate_similarities(fits, errors)
    selection_errors = (errors if heldout_errors is None else heldout_errors)[
        np.arange(n_ranks), best
    ]
    suggested, rule = suggest_rank(
        np.array(rank_list), selection_errors, rank_similarity, fit_margin,
        similarity_threshold, heldout=heldout is not None,
    )
    return TensorRankResult(
        shape=tuple(data.shape),
        ranks=np.array(rank_list, dtype=np.int64),
        errors=errors,
        heldout_errors=heldout_errors,
        similarities=similarities,
        rank_similarity=rank_similarity,
        best_replicate=best.astype(np.int64),
        iterations=iterations,
        fits=tuple(fits[index][best[index]] for index in range(n_ranks)),
        suggested_rank=suggested,
        rule=rule,
        n_training=int(training.sum()) if training is not None else int(data.size),
        n_heldout=int(heldout.sum()) if heldout is not None else 0,
        seed=seed,
        backend=backend,
        device=device,
        seconds=time.perf_counter() - start,
    )


def _notify(progress, report: TensorRankProgress) -> None:
    """Pass ``report`` to the progress callback and raise if the callback returns True."""
    if progress is not None and progress(report) is True:
        raise TensorRankCancelled(
            f"tensor_rank was cancelled by its progress callback after rank {report.rank}, "
            f"replicate {report.replicate}."
        )


def check_ranks(name: str, ranks, shape: tuple[int, ...]) -> list[int]:
    """Return ``ranks`` as an ascending list of valid CP ranks for ``shape``, or raise."""
    largest = max(shape)
    if isinstance(ranks, (str, bytes)) or not np.iterable(ranks):
        raise ValueError(
            f"{name} must be an iterable of integers in [1, {largest}], got {describe(ranks)}."
        )
    values = list(ranks)
    if not values:
        raise ValueError(f"{name} must contain at least one rank, got {describe(ranks)}.")
    checked = []
    for value in values:
        try:
            checked.append(check_integer(name, value, 1, largest))
        except ValueError as error:
            raise ValueError(
                f"{error} A CP rank must be positive and at most the largest dimension of "
                f"the tensor of shape {shape}."
            ) from None
    if len(set(checked)) != len(checked):
        raise ValueError(f"{name} must not contain duplicates, got {describe(values)}.")
    return sorted(checked)


def suggest_rank(
    ranks: np.ndarray,
    errors: np.ndarray,
    similarity: np.ndarray,
    fit_margin: float,
    similarity_threshold: float,
    heldout: bool,
) -> tuple[int, str]:
    """Apply the rank rule of :func:`tensor_rank` and return (rank, rule text).

    ``errors`` are the best replicate's errors per rank (held-out ones when ``heldout``) and
    ``similarity`` the similarity of the two best replicates per rank.
    """
    fit = 1.0 - errors**2
    good_fit = fit >= fit.max() - fit_margin
    stable = similarity >= similarity_threshold
    error_kind = "held-out" if heldout else "training"
    span = f"ranks {ranks.min()}-{ranks.max()}"
    rule = (
        f"smallest rank whose best replicate's fit (1 - {error_kind} error^2) is within "
        f"{fit_margin:g} of the best fit over {span} and whose two best replicates have factor "
        f"similarity >= {similarity_threshold:g}"
    )
    if np.any(good_fit & stable):
        return int(ranks[good_fit & stable][0]), rule
    rule = (
        f"smallest rank whose best replicate's fit (1 - {error_kind} error^2) is within "
        f"{fit_margin:g} of the best fit over {span}; no rank also reached factor similarity "
        f">= {similarity_threshold:g}, so similarity was not used"
    )
    return int(ranks[good_fit][0]), rule


def _check_tensor(tensor, mask) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (float64 data with unobserved entries set to 0, observed mask or None)."""
    data = as_real_array("tensor", tensor)
    if data.ndim < 3:
        raise ValueError(
            f"tensor must have at least 3 dimensions for a CP rank (a matrix's CP rank is its "
            f"matrix rank), got shape {data.shape}."
        )
    if 0 in data.shape:
        raise ValueError(f"tensor must not have an empty dimension, got shape {data.shape}.")
    observed = None
    if mask is not None:
        observed = np.asarray(mask)
        if observed.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array (True = observed), got {describe(observed)}."
            )
        if observed.shape != data.shape:
            raise ValueError(
                f"mask must have the shape of tensor {data.shape}, got shape {observed.shape}."
            )
        if not observed.any():
            raise ValueError("mask marks every entry as missing; at least one must be True.")
        if observed.all():
            observed = None
    check_finite("tensor", data, where=observed, maskable=True)
    if observed is not None:
        data = np.where(observed, data, 0.0)
    if not np.any(data):
        scope = "at its observed entries " if observed is not None else ""
        raise ValueError(f"tensor is all zero {scope}and has no CP structure to fit.")
    return data, observed


def _split_entries(
    data: np.ndarray, observed: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return (training mask or None for all entries, held-out mask or None)."""
    if fraction == 0.0:
        return observed, None
    candidates = np.flatnonzero(observed) if observed is not None else np.arange(data.size)
    n_heldout = int(round(fraction * candidates.size))
    if n_heldout < 1 or n_heldout >= candidates.size:
        raise ValueError(
            f"heldout_fraction={fraction} holds out {n_heldout} of {candidates.size} observed "
            "entries; choose a fraction that leaves at least one entry on each side."
        )
    rng = np.random.default_rng([seed, _HELDOUT_STREAM])
    heldout = np.zeros(data.size, dtype=bool)
    heldout[rng.choice(candidates, size=n_heldout, replace=False)] = True
    heldout = heldout.reshape(data.shape)
    training = ~heldout if observed is None else observed & ~heldout
    if not np.any(data[heldout]):
        raise ValueError(
            "every held-out entry is zero, so the held-out error is undefined; raise "
            "heldout_fraction or use another seed."
        )
    if not np.any(data[training]):
        raise ValueError(
            "every training entry is zero, so there is nothing to fit; lower heldout_fraction."
        )
    return training, heldout


class _Problem:
    """The tensor and its masks on the fitting backend, with the norms errors divide by."""

    def __init__(self, data, training, heldout, backend: str, device: str, max_rank: int):
        self.backend = backend
        self.device = device
        # parafac reads the entries under its mask in its first iteration, before it imputes
        # them, so unobserved and held-out values are zeroed in the copy it fits.
        fit_data = data if training is None else data * training
        self.unfoldings = [_unfold(fit_data, mode) for mode in range(data.ndim)]
        self.leading_vectors = [
            _leading_left_vectors(unfolding, max_rank) for unfolding in self.unfoldings
        ]
        self.data = to_backend(data, backend, device)
        self.fit_data = to_backend(fit_data, backend, device)
        self.training = None if training is None else to_backend(training, backend, device)
        self.heldout = None if heldout is None else to_backend(heldout, backend, device)
        self.training_norm = float(np.linalg.norm(fit_data))
        self.heldout_norm = None if heldout is None else float(np.linalg.norm(data * heldout))

    def initial_factors(self, rank: int, replicate: int, seed: int) -> list[np.ndarray]:
        """Return the starting factors of one replicate, one (I_mode, rank) matrix per mode.

        Replicate 0 starts from the leading left singular vectors of each unfolding, like
        TensorLy's ``init="svd"``. The others start from a random basis of the same dominant
        subspaces, orth(X_(mode) G) with Gaussian G drawn from (seed, rank, replicate), so they
        explore different solutions. The test was line-search ALS at rank 4 on 30 planted
        rank-4 tensors (40 x 30 x 50, 1% noise) with 3 starts each. ALS stalled far from the
        optimum from 0/90 singular-vector starts, 3/90 of these random-subspace starts, 5/90
        Gaussian starts and 19/90 TensorLy ``init="random"`` (uniform) starts.
        """
        rng = np.random.default_rng([seed, rank, replicate])
        factors = []
        for unfolding, leading in zip(self.unfoldings, self.leading_vectors):
            if replicate == 0:
                start = leading[:, :rank]
            else:
                projected = unfolding @ rng.standard_normal((unfolding.shape[1], rank))
                start = np.linalg.qr(projected)[0][:, :rank]
            if start.shape[1] < rank:
                # A mode shorter than the rank has fewer independent directions than columns.
                extra = rng.standard_normal((start.shape[0], rank - start.shape[1]))
                start = np.hstack([start, extra / np.linalg.norm(extra, axis=0)])
            factors.append(start)
        return factors

    def fit(self, rank: int, replicate: int, seed: int, max_iterations: int, tolerance: float):
        """Fit one replicate; return (normalised CPFit, error, held-out error, iterations)."""
        init = CPTensor((
            to_backend(np.ones(rank), self.backend, self.device),
            [
                to_backend(factor, self.backend, self.device)
                for factor in self.initial_factors(rank, replicate, seed)
            ],
        ))

        counter = _IterationCounter()
        try:
            cp, _ = parafac(
                self.fit_data, rank, n_iter_max=max_iterations, init=init, tol=tolerance,
                mask=self.training, linesearch=True, return_errors=True, callback=counter,
            )
        except np.linalg.LinAlgError:
            # A tensor of lower CP rank than ``rank`` makes the ALS normal equations singular.
            # A ridge term far below the data's scale makes them solvable without changing
            # the fit measurably.
            counter = _IterationCounter()
            ridge = 1e-10 * float(tl.norm(self.fit_data)) ** 2
            cp, _ = parafac(
                self.fit_data, rank, n_iter_max=max_iterations, init=init, tol=tolerance,
                mask=self.training, linesearch=True, return_errors=True, callback=counter,
                l2_reg=ridge,
            )

        weights, factors = cp_normalize(cp)
        weights = tl.to_numpy(weights)
        factors = tuple(tl.to_numpy(factor) for factor in factors)
        if not (np.all(np.isfinite(weights)) and all(np.all(np.isfinite(f)) for f in factors)):
            raise FloatingPointError(
                f"the CP fit at rank {rank}, replicate {replicate} produced NaN or inf factors; "
                "lower the largest rank or check the scale of the tensor."
            )

        residual = self.data - tl.cp_to_tensor(cp)
        if self.training is not None:
            residual_norm = float(tl.norm(residual * self.training))
        else:
            residual_norm = float(tl.norm(residual))
        error = residual_norm / self.training_norm
        heldout_error = None
        if self.heldout is not None:
            heldout_error = float(tl.norm(residual * self.heldout)) / self.heldout_norm
        return CPFit(rank, weights, factors), error, heldout_error, counter.iterations


def _unfold(tensor: np.ndarray, mode: int) -> np.ndarray:
    """Mode-``mode`` unfolding, (I_mode, product of the other sizes), as tensorly.unfold."""
    return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def _leading_left_vectors(matrix: np.ndarray, count: int) -> np.ndarray:
    """Return up to ``count`` leading left singular vectors of ``matrix``, as columns.

    Computed from the eigenvectors of the (rows x rows) Gram matrix, which is cheap because
    the rows of an unfolding are one mode's index and the columns all the others.
    """
    _, vectors = np.linalg.eigh(matrix @ matrix.T)
    return vectors[:, ::-1][:, : min(count, matrix.shape[0])]


class _IterationCounter:
    """parafac callback that counts iterations: it is called once before the first one."""

    def __init__(self):
        self.calls = 0

    @property
    def iterations(self) -> int:
        return max(self.calls - 1, 0)

    def __call__(self, cp_tensor, error):
        self.calls += 1


def _replicate_similarities(
    fits: list[list[CPFit]], errors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (similarity of each replicate to its rank's best, second best's similarity)."""
    n_ranks, n_replicates = errors.shape
    similarities = np.ones((n_ranks, n_replicates))
    rank_similarity = np.ones(n_ranks)
    with tensorly_backend("numpy"):
        for rank_index in range(n_ranks):
            order = np.argsort(errors[rank_index], kind="stable")
            reference = fits[rank_index][order[0]]
            for replicate in order[1:]:
                similarities[rank_index, replicate] = factor_similarity(
                    reference, fits[rank_index][replicate]
                )
            rank_similarity[rank_index] = similarities[rank_index, order[1]]
    return similarities, rank_similarity


def factor_similarity(first: CPFit, second: CPFit) -> float:
    """Compute the congruence of two CP fits of one rank after matching their components.

    Uses ``tensorly.metrics.factors.congruence_coefficient`` over all modes: the absolute
    cosine between matched columns, multiplied over modes and averaged over components,
    with components matched by ``scipy.optimize.linear_sum_assignment``. Absolute cosines
    make the score invariant to the sign flips that leave a CP tensor unchanged.
    """
    if np.any(first.weights == 0) or np.any(second.weights == 0):
        # NOTE: a zero component (possible when ALS collapses one) has no direction to
        # compare, so the fits count as dissimilar rather than raising inside TensorLy.
        return 0.0
    with tensorly_backend("numpy"):
        score, _ = congruence_coefficient(list(first.factors), list(second.factors))
    return float(score)
