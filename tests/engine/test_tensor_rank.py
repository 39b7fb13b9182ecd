"""Tests of the CP rank sweep: planted ranks, masks, determinism, progress and bad input."""

import json
import time

import numpy as np
import pytest
import tensorly as tl
import torch

from ltrnn.engine.analysis import (
    CPFit,
    TensorRankCancelled,
    factor_similarity,
    tensor_rank,
)
from ltrnn.engine.analysis.tensor_rank import suggest_rank


def planted_tensor(seed, shape=(40, 30, 50), rank=4, noise=0.01):
    """Return a random rank-``rank`` CP tensor plus Gaussian noise of relative norm ``noise``."""
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((size, rank)) for size in shape]
    clean = tl.cp_to_tensor((None, factors))
    noise_tensor = rng.standard_normal(shape)
    noise_tensor *= noise * np.linalg.norm(clean) / np.linalg.norm(noise_tensor)
    return clean + noise_tensor


def test_planted_rank_recovered_for_ten_seeds():
    start = time.perf_counter()
    suggested, similarity_at_true_rank = [], []
    for seed in range(10):
        result = tensor_rank(
            planted_tensor(seed), ranks=range(1, 7), replicates=3, seed=seed, max_iterations=200
        )
        suggested.append(result.suggested_rank)
        similarity_at_true_rank.append(result.rank_similarity[list(result.ranks).index(4)])
    seconds = time.perf_counter() - start
    print(f"10 planted sweeps took {seconds:.1f} s; suggested {suggested}")
    assert sum(rank == 4 for rank in suggested) >= 9, suggested
    assert sum(value > 0.95 for value in similarity_at_true_rank) >= 9, similarity_at_true_rank


def test_planted_rank_error_profile():
    result = tensor_rank(planted_tensor(3), ranks=range(1, 7), max_iterations=200)
    best = result.errors.min(axis=1)
    assert best[3] < 0.012
    assert best[2] > 0.1
    assert result.rank_similarity[3] > 0.95
    assert result.iterations.min() >= 1
    assert "similarity >= 0.9" in result.rule


def test_heldout_error_chooses_planted_rank():
    result = tensor_rank(
        planted_tensor(1), ranks=range(2, 7), heldout_fraction=0.1, max_iterations=200
    )
    assert result.suggested_rank == 4
    assert result.heldout_errors.shape == (5, 3)
    heldout_at_best = result.heldout_errors[np.arange(5), result.best_replicate]
    assert heldout_at_best[2] < 0.015
    assert heldout_at_best[1] > 0.1
    assert result.n_heldout == round(0.1 * 40 * 30 * 50)
    assert result.n_training == 40 * 30 * 50 - result.n_heldout
    assert "held-out" in result.rule


def test_missing_entries_are_ignored():
    tensor = planted_tensor(2)
    rng = np.random.default_rng(0)
    observed = rng.random(tensor.shape) > 0.2
    tensor[~observed] = np.nan
    result = tensor_rank(tensor, ranks=range(3, 6), mask=observed, max_iterations=300)
    assert result.suggested_rank == 4
    assert np.all(np.isfinite(result.errors))
    assert result.errors.min(axis=1)[1] < 0.012
    assert result.n_training == int(observed.sum())


def test_heldout_values_do_not_leak_into_fit():
    tensor = planted_tensor(4, shape=(12, 10, 14), rank=2)
    first = tensor_rank(tensor, ranks=[2], heldout_fraction=0.2, seed=5)
    # The same draw as tensor_rank's: held-out entries come from the stream (seed, 0).
    heldout = np.zeros(tensor.size, dtype=bool)
    rng = np.random.default_rng([5, 0])
    heldout[rng.choice(tensor.size, size=first.n_heldout, replace=False)] = True
    corrupted = tensor.copy()
    corrupted.reshape(-1)[heldout] = 1e3
    second = tensor_rank(corrupted, ranks=[2], heldout_fraction=0.2, seed=5)
    np.testing.assert_allclose(second.errors, first.errors, rtol=1e-10)


def test_same_seed_same_result():
    tensor = planted_tensor(0, shape=(15, 12, 10), rank=3)
    options = {"ranks": range(1, 5), "heldout_fraction": 0.1, "seed": 7, "max_iterations": 100}
    first = tensor_rank(tensor, **options)
    second = tensor_rank(tensor, **options)
    np.testing.assert_array_equal(first.errors, second.errors)
    np.testing.assert_array_equal(first.heldout_errors, second.heldout_errors)
    np.testing.assert_array_equal(first.similarities, second.similarities)
    for fit_a, fit_b in zip(first.fits, second.fits):
        for factor_a, factor_b in zip(fit_a.factors, fit_b.factors):
            np.testing.assert_array_equal(factor_a, factor_b)
    assert first.suggested_rank == second.suggested_rank


def test_other_seed_other_random_starts():
    tensor = planted_tensor(0, shape=(15, 12, 10), rank=3)
    first = tensor_rank(tensor, ranks=[3, 5], seed=1, max_iterations=100)
    second = tensor_rank(tensor, ranks=[3, 5], seed=2, max_iterations=100)
    # Replicate 0 starts from singular vectors, the others from seeded random subspaces.
    np.testing.assert_array_equal(first.errors[:, 0], second.errors[:, 0])
    assert not np.array_equal(first.errors[:, 1:], second.errors[:, 1:])


def test_fit_does_not_depend_on_other_ranks():
    tensor = planted_tensor(0, shape=(15, 12, 10), rank=3)
    first = tensor_rank(tensor, ranks=[2, 3], seed=3, max_iterations=100)
    second = tensor_rank(tensor, ranks=[3, 6], seed=3, max_iterations=100)
    np.testing.assert_array_equal(first.errors[1], second.errors[0])


def test_torch_backend_matches_numpy():
    tensor = planted_tensor(0, shape=(15, 12, 10), rank=3)
    numpy_result = tensor_rank(tensor, ranks=[2, 3], seed=0, device="cpu", backend="numpy")
    torch_result = tensor_rank(tensor, ranks=[2, 3], seed=0, device="cpu", backend="pytorch")
    assert numpy_result.backend == "numpy"
    assert torch_result.backend == "pytorch"
    np.testing.assert_allclose(torch_result.errors, numpy_result.errors, rtol=1e-6)
    assert torch_result.suggested_rank == numpy_result.suggested_rank
    assert tl.get_backend() == "numpy"


def test_auto_backend_is_numpy_on_cpu():
    if torch.cuda.is_available():
        pytest.skip("auto picks the GPU when one is present")
    result = tensor_rank(planted_tensor(0, shape=(6, 5, 4), rank=1), ranks=[1])
    assert (result.backend, result.device) == ("numpy", "cpu")


def test_progress_reports_every_fit():
    reports = []
    tensor = planted_tensor(0, shape=(8, 7, 6), rank=2)
    tensor_rank(tensor, ranks=[1, 2], replicates=2, progress=reports.append)
    assert [(report.rank, report.replicate) for report in reports] == [
        (1, 0), (1, 1), (2, 0), (2, 1),
    ]
    assert [report.completed for report in reports] == [1, 2, 3, 4]
    assert all(report.total == 4 for report in reports)
    assert all(report.heldout_error is None for report in reports)
    assert all(report.iterations >= 1 for report in reports)


def test_progress_returning_true_cancels():
    calls = []

    def cancel(report):
        calls.append(report)
        return True

    with pytest.raises(TensorRankCancelled, match="rank 1, replicate 0"):
        tensor_rank(planted_tensor(0, shape=(8, 7, 6), rank=2), ranks=[1, 2], progress=cancel)
    assert len(calls) == 1


def test_to_dict_is_json():
    result = tensor_rank(
        planted_tensor(0, shape=(8, 7, 6), rank=2), ranks=[1, 2], heldout_fraction=0.2
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ranks"] == [1, 2]
    assert data["suggested_rank"] == result.suggested_rank
    assert len(data["fits"]) == 2
    assert np.array(data["fits"][1]["factors"][0]).shape == (8, 2)
    assert "fits" not in result.to_dict(include_fits=False)


def test_factor_similarity_ignores_order_and_sign():
    rng = np.random.default_rng(0)
    factors = tuple(rng.standard_normal((size, 3)) for size in (6, 5, 4))
    fit = CPFit(3, np.ones(3), factors)
    permutation = [2, 0, 1]
    flipped = (
        -factors[0][:, permutation],
        -factors[1][:, permutation],
        factors[2][:, permutation],
    )
    assert factor_similarity(fit, CPFit(3, np.ones(3), flipped)) == pytest.approx(1.0)
    other = CPFit(3, np.ones(3), tuple(rng.standard_normal((size, 3)) for size in (6, 5, 4)))
    assert factor_similarity(fit, other) < 0.5


def test_factor_similarity_zero_component():
    rng = np.random.default_rng(0)
    factors = tuple(rng.standard_normal((size, 2)) for size in (6, 5, 4))
    fit = CPFit(2, np.ones(2), factors)
    assert factor_similarity(fit, CPFit(2, np.array([1.0, 0.0]), factors)) == 0.0


def test_suggest_rank_needs_fit_and_similarity():
    ranks = np.array([1, 2, 3, 4])
    errors = np.array([0.8, 0.05, 0.04, 0.039])
    similarity = np.array([1.0, 0.5, 0.95, 0.4])
    rank, rule = suggest_rank(ranks, errors, similarity, 0.01, 0.9, heldout=False)
    assert rank == 3
    assert "training error" in rule


def test_suggest_rank_falls_back_to_fit():
    ranks = np.array([1, 2, 3])
    errors = np.array([0.8, 0.05, 0.04])
    similarity = np.array([0.5, 0.5, 0.5])
    rank, rule = suggest_rank(ranks, errors, similarity, 0.01, 0.9, heldout=True)
    assert rank == 2
    assert "similarity was not used" in rule


SMALL = planted_tensor(0, shape=(6, 5, 4), rank=2)


def with_value(index, value):
    tensor = SMALL.copy()
    tensor[index] = value
    return tensor


BAD_INPUTS = [
    ({"tensor": with_value((0, 0, 0), np.nan)}, "tensor contains 1 NaN or infinite"),
    ({"tensor": with_value((1, 2, 3), np.inf)}, r"first at index \(1, 2, 3\)"),
    ({"tensor": np.zeros((6, 5, 4))}, "tensor is all zero"),
    ({"tensor": SMALL[0]}, "at least 3 dimensions"),
    ({"tensor": np.ones((3, 0, 2))}, "empty dimension"),
    ({"tensor": SMALL.astype(complex)}, "array of real numbers"),
    ({"tensor": np.full((2, 2, 2), "a")}, "array of real numbers"),
    ({"ranks": [7]}, r"ranks must be an integer in \[1, 6\], got 7"),
    ({"ranks": [0, 1]}, r"ranks must be an integer in \[1, 6\], got 0"),
    ({"ranks": [-2]}, "got -2"),
    ({"ranks": [2.5]}, "got 2.5"),
    ({"ranks": ["3"]}, "got '3'"),
    ({"ranks": [True]}, "got True"),
    ({"ranks": []}, "at least one rank"),
    ({"ranks": 3}, "iterable of integers"),
    ({"ranks": [2, 2]}, "duplicates"),
    ({"mask": np.zeros((6, 5, 4), dtype=bool)}, "every entry as missing"),
    ({"mask": np.ones((6, 5), dtype=bool)}, r"mask must have the shape of tensor \(6, 5, 4\)"),
    ({"mask": np.ones((6, 5, 4))}, "mask must be a boolean array"),
    ({"replicates": 1}, "replicates must be an integer >= 2, got 1"),
    ({"heldout_fraction": 1.0}, r"heldout_fraction must be a real number in \[0.0, 1.0\)"),
    ({"heldout_fraction": -0.1}, "got -0.1"),
    ({"heldout_fraction": 1e-4}, "holds out 0 of 120"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"max_iterations": 0}, "max_iterations must be an integer >= 1"),
    ({"tolerance": -1e-3}, "tolerance must be a real number"),
    ({"tolerance": np.nan}, "got nan"),
    ({"device": "tpu"}, "device must be 'auto', 'cpu', 'cuda'"),
    ({"backend": "jax"}, "backend must be one of 'auto', 'numpy', 'pytorch', got 'jax'"),
    ({"progress": 3}, "progress must be callable"),
    ({"fit_margin": 2.0}, "fit_margin must be a real number"),
    ({"similarity_threshold": -0.5}, "similarity_threshold must be a real number"),
]


@pytest.mark.parametrize("arguments, message", BAD_INPUTS)
def test_bad_input_raises(arguments, message):
    arguments = {"tensor": SMALL, "ranks": [1, 2], **arguments}
    with pytest.raises(ValueError, match=message):
        tensor_rank(**arguments)


def test_masked_nan_is_accepted():
    tensor = with_value((0, 0, 0), np.nan)
    mask = np.isfinite(tensor)
    result = tensor_rank(tensor, ranks=[1, 2], mask=mask)
    assert np.all(np.isfinite(result.errors))


def test_all_zero_observed_entries_raise():
    tensor = np.zeros((6, 5, 4))
    tensor[0, 0, 0] = 1.0
    mask = np.ones(tensor.shape, dtype=bool)
    mask[0, 0, 0] = False
    with pytest.raises(ValueError, match="all zero at its observed entries"):
        tensor_rank(tensor, ranks=[1], mask=mask)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_raises():
    with pytest.raises(ValueError, match="torch finds no CUDA GPU"):
        tensor_rank(SMALL, ranks=[1], device="cuda")
