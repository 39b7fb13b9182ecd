"""Tests of principal angles, captured variance, principal subspaces and epoch angles."""

import json

import numpy as np
import pytest
import scipy.linalg

from ltrnn.engine.analysis import (
    epoch_subspace_angles,
    principal_angles,
    principal_subspace,
    variance_captured,
)


def orthonormal(rng, n, p):
    return np.linalg.qr(rng.standard_normal((n, p)))[0]


@pytest.mark.parametrize("n, p, q", [(10, 3, 3), (10, 2, 5), (20, 6, 1), (4, 4, 4)])
def test_principal_angles_match_scipy(n, p, q):
    rng = np.random.default_rng(n + p + q)
    basis_a = rng.standard_normal((n, p))
    basis_b = rng.standard_normal((n, q))
    expected = np.sort(np.degrees(scipy.linalg.subspace_angles(basis_a, basis_b)))
    angles = principal_angles(basis_a, basis_b)
    assert angles.shape == (min(p, q),)
    np.testing.assert_allclose(angles, expected)
    assert np.all(np.diff(angles) >= 0)


def test_same_span_gives_zero_degrees():
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((12, 4))
    mixed = basis @ rng.standard_normal((4, 4))
    np.testing.assert_allclose(principal_angles(basis, mixed), np.zeros(4), atol=1e-5)


def test_orthogonal_spans_give_ninety_degrees():
    rng = np.random.default_rng(1)
    basis = orthonormal(rng, 10, 6)
    np.testing.assert_allclose(principal_angles(basis[:, :3], basis[:, 3:]), np.full(3, 90.0))


def test_known_angle_in_plane():
    angle = 30.0
    direction = np.array([[np.cos(np.radians(angle))], [np.sin(np.radians(angle))]])
    np.testing.assert_allclose(principal_angles(np.array([[1.0], [0.0]]), direction), [angle])


def test_variance_captured_known_fractions():
    rng = np.random.default_rng(2)
    samples = rng.standard_normal((5000, 3)) * np.array([2.0, 1.0, 0.0]) + 5.0
    axes = np.eye(3)
    exact = np.var(samples[:, 0]) / (np.var(samples[:, 0]) + np.var(samples[:, 1]))
    assert variance_captured(samples, axes[:, :1]) == pytest.approx(exact)
    assert variance_captured(samples, axes[:, :2]) == pytest.approx(1.0)
    assert variance_captured(samples, axes[:, 2:]) == pytest.approx(0.0, abs=1e-12)


def test_variance_captured_pools_leading_axes():
    rng = np.random.default_rng(3)
    activity = rng.standard_normal((4, 25, 6))
    basis = rng.standard_normal((6, 2))
    assert variance_captured(activity, basis) == pytest.approx(
        variance_captured(activity.reshape(-1, 6), basis)
    )


def test_principal_subspace_recovers_planted_subspace():
    rng = np.random.default_rng(4)
    planted = orthonormal(rng, 20, 3)
    latents = rng.standard_normal((400, 3)) * np.array([3.0, 2.0, 1.5])
    activity = latents @ planted.T + 0.01 * rng.standard_normal((400, 20)) + 7.0
    basis = principal_subspace(activity, 3)
    assert basis.shape == (20, 3)
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-12)
    assert principal_angles(basis, planted).max() < 1.0


def test_principal_subspace_is_deterministic():
    rng = np.random.default_rng(5)
    activity = rng.standard_normal((50, 8))
    basis = principal_subspace(activity, 3)
    np.testing.assert_array_equal(basis, principal_subspace(activity.copy(), 3))
    largest = np.argmax(np.abs(basis), axis=0)
    assert np.all(basis[largest, np.arange(3)] > 0)


def test_epoch_subspace_angles_separate_epochs():
    rng = np.random.default_rng(6)
    n_neurons, n_times = 15, 20
    spans = orthonormal(rng, n_neurons, 4)
    model, other = spans[:, :2], spans[:, 2:]
    epochs = np.array(["baseline"] * 5 + ["adaptation"] * 6 + ["baseline"] * 2)
    activity = np.empty((len(epochs), n_neurons, n_times))
    for trial, epoch in enumerate(epochs):
        span = model if epoch == "baseline" else other
        latents = rng.standard_normal((2, n_times)) * np.array([[2.0], [1.0]])
        activity[trial] = span @ latents + 0.01 * rng.standard_normal((n_neurons, n_times))
    result = epoch_subspace_angles(activity, epochs, model)
    assert result.epochs == ("baseline", "adaptation")
    assert result.dim == 2
    assert result.angles.shape == (2, 2)
    assert result.angles[0].max() < 2.0
    assert result.angles[1].min() > 85.0
    assert result.variance_captured[0] > 0.99
    assert result.variance_captured[1] < 0.01
    np.testing.assert_array_equal(result.n_samples, [7 * n_times, 6 * n_times])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["epochs"] == ["baseline", "adaptation"]
    one_component = epoch_subspace_angles(activity, epochs, model, dim=1)
    assert one_component.angles.shape == (2, 1)


RNG = np.random.default_rng(7)
BASIS = RNG.standard_normal((6, 2))


def with_nan(array):
    array = array.copy()
    array[0, 0] = np.nan
    return array


ANGLE_INPUTS = [
    ({"basis_a": RNG.standard_normal((2, 3))}, "at least as many rows as columns"),
    ({"basis_a": np.ones((6, 0))}, "at least one column"),
    ({"basis_a": np.zeros((6, 2))}, "basis_a has zero norm"),
    ({"basis_b": np.column_stack([BASIS[:, 0], 2 * BASIS[:, 0]])}, "basis_b is rank-deficient"),
    ({"basis_a": with_nan(BASIS)}, "basis_a contains 1 NaN"),
    ({"basis_a": BASIS[:, 0]}, r"basis_a must have 2 dimensions \(n_dimensions, n_vectors\)"),
    ({"basis_b": BASIS[None]}, "basis_b must have 2 dimensions"),
    ({"basis_b": RNG.standard_normal((5, 2))}, r"same number of rows.*\(6, 2\) and \(5, 2\)"),
    ({"basis_a": np.full((6, 2), "x")}, "basis_a must be an array of real numbers"),
]


@pytest.mark.parametrize("arguments, message", ANGLE_INPUTS)
def test_principal_angles_bad_input(arguments, message):
    arguments = {"basis_a": BASIS, "basis_b": BASIS, **arguments}
    with pytest.raises(ValueError, match=message):
        principal_angles(**arguments)


ACTIVITY = RNG.standard_normal((30, 6))

VARIANCE_INPUTS = [
    ({"activity": ACTIVITY[:, :5]}, "activity must have 6 neurons in its last axis"),
    ({"activity": ACTIVITY[0]}, "activity must have at least 2 dimensions"),
    ({"activity": ACTIVITY[:1]}, "at least 2 samples"),
    ({"activity": np.ones((30, 6))}, "activity has zero variance"),
    ({"activity": with_nan(ACTIVITY)}, "activity contains 1 NaN"),
    ({"basis": np.zeros((6, 1))}, "basis has zero norm"),
    ({"basis": RNG.standard_normal((1, 6))}, "basis must have at least one column"),
]


@pytest.mark.parametrize("arguments, message", VARIANCE_INPUTS)
def test_variance_captured_bad_input(arguments, message):
    arguments = {"activity": ACTIVITY, "basis": BASIS, **arguments}
    with pytest.raises(ValueError, match=message):
        variance_captured(**arguments)


SUBSPACE_INPUTS = [
    ({"dim": 0}, r"dim must be an integer in \[1, 6\], got 0"),
    ({"dim": 7}, "got 7"),
    ({"dim": 2.0}, "got 2.0"),
    ({"activity": RNG.standard_normal((3, 6))}, "dim=3 is larger than the number of directions"),
    ({"activity": np.ones((5, 6))}, "zero variance"),
]


@pytest.mark.parametrize("arguments, message", SUBSPACE_INPUTS)
def test_principal_subspace_bad_input(arguments, message):
    arguments = {"activity": ACTIVITY, "dim": 3, **arguments}
    with pytest.raises(ValueError, match=message):
        principal_subspace(**arguments)


TRIALS = RNG.standard_normal((4, 6, 10))
LABELS = np.array(["a", "a", "b", "b"])

EPOCH_INPUTS = [
    ({"activity": TRIALS[0]}, r"activity must have 3 dimensions \(n_trials, n_neurons"),
    ({"epochs": LABELS[:3]}, r"epochs must have shape \(4,\)"),
    ({"model_basis": RNG.standard_normal((5, 2))}, r"one row per neuron \(6"),
    ({"model_basis": np.zeros((6, 2))}, "model_basis has zero norm"),
    ({"dim": 0}, "dim must be an integer"),
    (
        {"activity": np.concatenate([TRIALS[:2], np.ones((2, 6, 10))])},
        "epoch 'b': activity has zero variance",
    ),
]


@pytest.mark.parametrize("arguments, message", EPOCH_INPUTS)
def test_epoch_subspace_angles_bad_input(arguments, message):
    arguments = {"activity": TRIALS, "epochs": LABELS, "model_basis": BASIS, **arguments}
    with pytest.raises(ValueError, match=message):
        epoch_subspace_angles(**arguments)
