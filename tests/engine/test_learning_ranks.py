"""Tests of the ranks of weight changes: the linear-network bound, references and bad input."""

import json

import numpy as np
import pytest
import torch

from ltrnn.engine.analysis import learning_ranks


def train_rnn(nonlinear, n_units=12, d_in=2, d_out=2, steps=40, n_times=10, batch=16, seed=0):
    """Train W of h_{t+1} = phi(W h_t + B u_t), y_t = C h_t by gradient descent from W = 0.

    B and C stay fixed and the targets come from a teacher network with random orthogonal
    weights. Returns the weights before and after every step, shape (steps + 1, N, N), and
    the loss at each step.
    """
    generator = torch.Generator().manual_seed(seed)

    def random(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    input_weights = random(n_units, d_in) / np.sqrt(d_in)
    readout = random(d_out, n_units) / np.sqrt(n_units)
    inputs = random(batch, n_times, d_in)
    teacher = 0.8 * torch.linalg.qr(random(n_units, n_units))[0]

    def outputs(recurrent):
        state = torch.zeros(batch, n_units, dtype=torch.float64)
        result = []
        for step in range(n_times):
            state = state @ recurrent.T + inputs[:, step] @ input_weights.T
            if nonlinear:
                state = torch.tanh(state)
            result.append(state @ readout.T)
        return torch.stack(result, dim=1)

    targets = outputs(teacher)
    recurrent = torch.zeros(n_units, n_units, dtype=torch.float64, requires_grad=True)
    history, losses = [recurrent.detach().clone()], []
    for _ in range(steps):
        loss = ((outputs(recurrent) - targets) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            recurrent -= 0.2 * recurrent.grad
            recurrent.grad.zero_()
        history.append(recurrent.detach().clone())
        losses.append(loss.item())
    return torch.stack(history).numpy(), losses


def test_linear_rnn_ranks_within_bound():
    weights, losses = train_rnn(nonlinear=False)
    assert losses[-1] < 0.7 * losses[0]
    result = learning_ranks(weights, d_in=2, d_out=2, cp_ranks=range(1, 5), cp_replicates=2)
    assert result.bound == 4
    np.testing.assert_array_equal(result.slice_indices, np.arange(1, 41))
    assert result.matrix_ranks.max() <= 4
    assert result.within_bound.all()
    assert result.multilinear_rank[0] <= 40
    assert result.multilinear_rank[1] <= 4
    assert result.multilinear_rank[2] <= 4
    assert result.multilinear_within_bound
    assert result.cp_within_bound
    # The bound is reached, so a looser rank threshold would not pass unnoticed.
    assert result.matrix_ranks[-1] == 4
    assert result.multilinear_rank[1] == 4


def test_tanh_rnn_reports_ranks_beside_bound():
    weights, losses = train_rnn(nonlinear=True)
    assert losses[-1] < losses[0]
    result = learning_ranks(weights, d_in=2, d_out=2, cp_ranks=range(1, 4), cp_replicates=2)
    print(
        f"tanh RNN: matrix ranks {result.matrix_ranks.min()}-{result.matrix_ranks.max()}, "
        f"multilinear {result.multilinear_rank.tolist()}, CP estimate {result.cp_rank}; "
        f"bounds {result.bound}, {result.multilinear_bound.tolist()}, {result.cp_bound}"
    )
    assert result.bound == 4
    assert result.cp_bound == 16
    np.testing.assert_array_equal(result.multilinear_bound, [16, 4, 4])
    np.testing.assert_array_equal(result.within_bound, result.matrix_ranks <= 4)
    assert result.multilinear_within_bound == bool(np.all(result.multilinear_rank <= [16, 4, 4]))
    assert result.cp_within_bound == (result.cp_rank <= 16)
    assert result.effective_ranks.shape == (40,)
    report = json.loads(json.dumps(result.to_dict()))
    assert report["bound"] == 4
    assert report["matrix_ranks"] == result.matrix_ranks.tolist()
    assert report["cp"]["suggested_rank"] == result.cp_rank


def test_random_weights_exceed_bound():
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((5, 8, 8))
    result = learning_ranks(weights, d_in=1, d_out=1, cp_ranks=None)
    np.testing.assert_array_equal(result.matrix_ranks, [8, 8, 8, 8])
    assert not result.within_bound.any()
    assert not result.multilinear_within_bound
    assert result.cp is None
    assert result.cp_rank is None
    assert result.cp_within_bound is None


def test_planted_low_rank_changes():
    rng = np.random.default_rng(1)
    n_slices, size, rank = 30, 10, 2
    columns = rng.standard_normal((size, rank))
    rows = rng.standard_normal((size, rank))
    trial_factors = np.cumsum(rng.standard_normal((n_slices, rank)), axis=0)
    initial = rng.standard_normal((size, size))
    weights = initial + np.einsum("kr,ir,jr->kij", trial_factors, columns, rows)
    result = learning_ranks(weights, reference=initial, cp_ranks=range(1, 5), seed=0)
    assert result.reference == "array"
    assert result.slice_indices.size == n_slices
    np.testing.assert_array_equal(result.matrix_ranks, np.full(n_slices, rank))
    np.testing.assert_array_equal(result.multilinear_rank, [rank, rank, rank])
    assert result.cp_rank == rank
    assert result.bound is None
    assert result.within_bound is None


def test_reference_slice_is_skipped():
    rng = np.random.default_rng(2)
    weights = rng.standard_normal((6, 5, 5))
    by_index = learning_ranks(weights, reference=3, cp_ranks=None)
    assert by_index.reference == "index 3"
    np.testing.assert_array_equal(by_index.slice_indices, [0, 1, 2, 4, 5])
    by_negative = learning_ranks(weights, reference=-1, cp_ranks=None)
    np.testing.assert_array_equal(by_negative.slice_indices, [0, 1, 2, 3, 4])
    first = learning_ranks(weights, cp_ranks=None)
    np.testing.assert_array_equal(first.slice_indices, [1, 2, 3, 4, 5])


def test_zero_reference_gives_ranks_of_weights():
    rng = np.random.default_rng(3)
    weights = rng.standard_normal((3, 6, 6))
    weights[1] = np.outer(rng.standard_normal(6), rng.standard_normal(6))
    result = learning_ranks(weights, reference=np.zeros((6, 6)), cp_ranks=None)
    expected = [np.linalg.matrix_rank(matrix) for matrix in weights]
    np.testing.assert_array_equal(result.matrix_ranks, expected)


def test_rounding_of_large_weights_is_not_rank():
    rng = np.random.default_rng(4)
    initial = 1e4 * rng.standard_normal((10, 10))
    change = 1e-3 * np.outer(rng.standard_normal(10), rng.standard_normal(10))
    weights = np.stack([initial, initial + change])
    result = learning_ranks(weights, cp_ranks=None)
    assert result.matrix_ranks.tolist() == [1]
    # numpy's default, scaled by the change alone, counts the rounding error as rank.
    assert np.linalg.matrix_rank(weights[1] - weights[0]) > 1


def test_float32_weights_use_float32_eps():
    rng = np.random.default_rng(5)
    initial = rng.standard_normal((8, 8)).astype(np.float32)
    change = np.outer(rng.standard_normal(8), rng.standard_normal(8)).astype(np.float32)
    weights = np.stack([initial, initial + 0.1 * change])
    result = learning_ranks(weights, cp_ranks=None)
    assert result.matrix_ranks.tolist() == [1]
    assert "1.19e-07" in result.tolerance_rule


def test_explicit_tolerance():
    singular_values = np.array([1.0, 0.6, 0.3, 0.1])
    change = np.diag(singular_values)
    weights = np.stack([np.zeros((4, 4)), change])
    result = learning_ranks(weights, tolerance=0.5, cp_ranks=None)
    assert result.matrix_ranks.tolist() == [2]
    assert result.thresholds.tolist() == [0.5]
    assert "0.5 * scale" in result.tolerance_rule


def test_effective_rank_is_participation_ratio():
    weights = np.zeros((3, 4, 4))
    weights[1] = np.diag([1.0, 1.0, 1.0, 0.0])
    weights[2] = np.diag([2.0, 0.0, 0.0, 0.0])
    result = learning_ranks(weights, cp_ranks=None)
    np.testing.assert_allclose(result.effective_ranks, [3.0, 1.0])
    tiny = learning_ranks(weights * 1e-100, cp_ranks=None)
    np.testing.assert_allclose(tiny.effective_ranks, [3.0, 1.0])


def test_same_seed_same_result():
    weights, _ = train_rnn(nonlinear=True, steps=10)
    first = learning_ranks(weights, cp_ranks=range(1, 4), cp_replicates=2, seed=3)
    second = learning_ranks(weights, cp_ranks=range(1, 4), cp_replicates=2, seed=3)
    first_report = first.to_dict(include_fits=True)
    second_report = second.to_dict(include_fits=True)
    for report in (first_report, second_report):
        del report["cp"]["seconds"]
    assert first_report == second_report


WEIGHTS = np.random.default_rng(6).standard_normal((4, 3, 3))


def with_nan():
    weights = WEIGHTS.copy()
    weights[2, 1, 0] = np.nan
    return weights


BAD_INPUTS = [
    ({"weights": WEIGHTS[0]}, r"weights must have 3 dimensions \(n_slices, N, N\)"),
    ({"weights": np.ones((4, 3, 2))}, "square recurrent weight matrices"),
    ({"weights": np.ones((0, 3, 3))}, r"got shape \(0, 3, 3\)"),
    ({"weights": with_nan()}, r"weights contains 1 NaN .* \(first at index \(2, 1, 0\)\)"),
    ({"weights": np.ones((4, 3, 3))}, "weights never change"),
    ({"weights": WEIGHTS[:1]}, "single slice, which is the reference"),
    ({"weights": WEIGHTS.astype(complex)}, "weights must be an array of real numbers"),
    ({"reference": "last"}, "reference must be 'first', a slice index or an"),
    ({"reference": 4}, r"reference must be an integer in \[-4, 3\], got 4"),
    ({"reference": -5}, "got -5"),
    ({"reference": np.ones((2, 2))}, r"array of shape \(3, 3\) matching weights"),
    ({"reference": np.full((3, 3), np.inf)}, "reference contains 9 NaN"),
    ({"tolerance": 0.0}, r"tolerance must be a real number in \(0.0, 1.0\)"),
    ({"tolerance": 1.5}, "got 1.5"),
    ({"tolerance": "tight"}, "got 'tight'"),
    ({"d_in": 2}, "d_in and d_out must be given together"),
    ({"d_in": 0, "d_out": 1}, "d_in must be an integer >= 1, got 0"),
    ({"d_in": 1, "d_out": 1.5}, "d_out must be an integer >= 1, got 1.5"),
    ({"cp_ranks": [0]}, r"cp_ranks must be an integer in \[1, 3\], got 0"),
    ({"cp_ranks": [4]}, "got 4"),
    ({"cp_ranks": [1], "cp_replicates": 1}, "cp_replicates must be an integer >= 2"),
]


@pytest.mark.parametrize("arguments, message", BAD_INPUTS)
def test_bad_input_raises(arguments, message):
    arguments = {"weights": WEIGHTS, "cp_ranks": None, **arguments}
    with pytest.raises(ValueError, match=message):
        learning_ranks(**arguments)


def test_default_cp_ranks_fit_small_tensors():
    rng = np.random.default_rng(0)
    result = learning_ranks(rng.normal(size=(4, 6, 6)))
    assert result.cp_rank is not None
    assert 1 <= result.cp_rank <= 6


def test_rank_one_changes_give_cp_rank_one():
    rng = np.random.default_rng(1)
    left, right = rng.normal(size=8), rng.normal(size=8)
    weights = np.stack([step * np.outer(left, right) for step in range(6)])
    result = learning_ranks(weights)
    assert result.cp_rank == 1
    assert np.all(result.matrix_ranks == 1)
