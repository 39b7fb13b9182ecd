"""End-to-end check of the method on a task-trained RNN whose weights are known.

A small tanh RNN learns a curl field trial by trial (``ltrnn.engine.taskrnn``). An ltrRNN
rank sweep is fitted to the rates of a random subset of its units, and the rank is chosen
from the held-out loss. The fitted subspace (``FitResult.neural_subspace()``) is then
compared with the true subspace of the weight changes, restricted to the recorded units.

What the comparison finds. The fitted subspace does not come within 30 degrees of the
column subspace of the weight changes, the space that learning writes into: at the chosen
rank 3 its largest principal angle is about 87 degrees. The cause lies in the data, not in
the fit. The recorded rates are tanh(x) of a network with W^(k) = W^(0) + dW^(k). W^(0)
comes from pre-training and has full rank, and it is about 5 times larger than the final
change here (||dW^(K)|| / ||W^(0)|| = 0.21, Frobenius; 0.014 at the default size), so
W^(0) and the inputs set where the activity lives. The ltrRNN keeps its state in
span{a_r}, so its subspace follows the dominant subspace of the activity: its smallest
angle to the top-R principal subspace of the recorded rates is 7 to 29 degrees for
R = 1..4. That principal subspace is itself 60 to 88 degrees (largest angle) from the
top-R weight-change column subspace for R = 1..4. The weight changes write along
back-propagated output errors, and the activity's dominant directions lie far from them.
Longer fits do not change this: with 1000 instead of 400 iterations the largest angle
between fit and truth is 79 to 84 degrees for R = 2..4. So no subspace made of the
activity's dominant directions can pass the 30-degree bound on this experiment, and the
test of that bound is marked xfail. The other tests check each link of the explanation.

The row subspace of the weight changes, the space learning reads from, is spanned by the
rates themselves, because each gradient is a sum of delta_t tanh(x_t)^T. The fit comes
much nearer to it: at rank 3 its angles to the top-3 row subspace are 18, 20 and 23
degrees, against 40, 65 and 87 for the column subspace. The 30-degree bound on the row
side is not tested, because the last angle moves across it with the number of iterations
(55 degrees after 200, 31 after 1000). The test checks only that the fit is nearer the
row side.
``docs/task-rnn-validation.md`` gives the default-size numbers.
"""

import numpy as np
import pytest

from ltrnn.engine.analysis import principal_angles, principal_subspace
from ltrnn.engine.config import FitConfig
from ltrnn.engine.fitting import fit
from ltrnn.engine.taskrnn import TaskRNNConfig, generate_task_rnn

# 48 units, 21 bins of 50 ms and 8 + 40 + 40 recorded trials: generation takes a few
# seconds, and the curl field still raises the reach error at its onset and at washout.
EXPERIMENT = dict(
    n_units=48, n_times=21, n_before_go=6, movement_bins=7, dt=0.05, tau=0.1,
    pretrain_steps=300, pretrain_learning_rate=1e-2, learning_rate=0.1,
    baseline_trials=8, curl_trials=40, washout_trials=40, seed=0,
)
RECORDED_UNITS = 32
UNIT_SEED = 0
RANKS = (1, 2, 3, 4)
FIT = dict(rnn_size=32, iterations=400, learning_rate=1e-2, seed=0)
# Rank rule: the smallest rank whose held-out (test) loss is at most 5% above the best one.
RANK_TOLERANCE = 0.05
MAX_ANGLE = 30.0


def suggest_rank(test_losses: dict) -> int:
    """Return the smallest rank whose test loss is within RANK_TOLERANCE of the best."""
    best = min(test_losses.values())
    return min(rank for rank, loss in test_losses.items() if loss <= best * (1 + RANK_TOLERANCE))


def restricted_basis(basis: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Keep the rows of the recorded units of an (N, d) basis and orthonormalise them."""
    orthonormal, _ = np.linalg.qr(basis[units])
    return orthonormal


def mean_squared_cosine(basis_a, basis_b) -> float:
    """Mean cos^2 of the principal angles: 1 for equal subspaces, 0 for orthogonal ones."""
    return float(np.mean(np.cos(np.radians(principal_angles(basis_a, basis_b))) ** 2))


def data_subspace(recording, dim: int) -> np.ndarray:
    """Top ``dim`` principal components of the recorded rates, shape (M, dim)."""
    return principal_subspace(recording.data.transpose(0, 2, 1), dim)


def weight_change_subspace(experiment, units, dim: int, side: str = "column") -> np.ndarray:
    """Top ``dim`` column (or row) subspace of the weight changes on the recorded units."""
    return restricted_basis(experiment.top_weight_change_subspace(dim, side=side), units)


@pytest.fixture(scope="module")
def experiment():
    return generate_task_rnn(TaskRNNConfig(**EXPERIMENT))


@pytest.fixture(scope="module")
def units(experiment):
    return experiment.select_units(RECORDED_UNITS, seed=UNIT_SEED)


@pytest.fixture(scope="module")
def recording(experiment, units):
    return experiment.to_recording(units=units)


@pytest.fixture(scope="module")
def sweep(recording):
    return {rank: fit(recording, FitConfig(rank=rank, **FIT), device="cpu") for rank in RANKS}


@pytest.fixture(scope="module")
def chosen_rank(sweep):
    return suggest_rank({rank: result.losses["test"] for rank, result in sweep.items()})


def test_curl_field_is_learned(experiment):
    summary = experiment.summary()
    assert summary["curl"]["endpoint_first"] > 3 * summary["baseline"]["endpoint_last"]
    assert summary["curl"]["endpoint_last"] < 0.5 * summary["curl"]["endpoint_first"]
    assert summary["washout"]["endpoint_last"] < 0.5 * summary["washout"]["endpoint_first"]


def test_sweep_fits_and_picks_rank(sweep, chosen_rank):
    for rank, result in sweep.items():
        history = result.history["train_loss"]
        assert history[-1] < 0.5 * history[0], (rank, history[0], history[-1])
        assert np.isfinite(result.losses["test"]), rank
    test_losses = {rank: result.losses["test"] for rank, result in sweep.items()}
    assert test_losses[chosen_rank] < test_losses[1], test_losses
    assert chosen_rank > 1, test_losses


@pytest.mark.xfail(
    strict=True,
    reason=(
        "the recorded activity's dominant subspace, which the ltrRNN's span{a_r} follows, "
        "is set by the full-rank pre-trained W^(0) and lies 60-88 degrees from the "
        "weight-change column subspace; see the module docstring"
    ),
)
def test_fitted_subspace_matches_weight_changes(experiment, units, sweep, chosen_rank):
    fitted = sweep[chosen_rank].neural_subspace()
    truth = weight_change_subspace(experiment, units, chosen_rank)
    angles = principal_angles(fitted, truth)
    assert angles.max() < MAX_ANGLE, angles


@pytest.mark.parametrize("dim", RANKS)
def test_data_subspace_misses_weight_changes(experiment, units, recording, dim):
    angles = principal_angles(
        data_subspace(recording, dim), weight_change_subspace(experiment, units, dim)
    )
    assert angles.max() > MAX_ANGLE, angles


def test_fitted_subspace_follows_data(experiment, units, recording, sweep, chosen_rank):
    fitted = sweep[chosen_rank].neural_subspace()
    data = data_subspace(recording, chosen_rank)
    truth = weight_change_subspace(experiment, units, chosen_rank)
    assert principal_angles(fitted, data).min() < MAX_ANGLE
    assert mean_squared_cosine(fitted, data) > mean_squared_cosine(fitted, truth)


def test_fitted_subspace_nearer_row_side(experiment, units, sweep, chosen_rank):
    fitted = sweep[chosen_rank].neural_subspace()
    rows = weight_change_subspace(experiment, units, chosen_rank, side="row")
    columns = weight_change_subspace(experiment, units, chosen_rank)
    assert mean_squared_cosine(fitted, rows) > 2 * mean_squared_cosine(fitted, columns)
