"""Tests of the ltrRNN model and its fitting: determinism, convergence, ground truth, errors."""

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from ltrnn.engine.config import FitConfig
from ltrnn.engine.dynamics import integrate
from ltrnn.engine.fitting import FitCancelled, fit
from ltrnn.engine.masks import CVMasks, MaskConfig, make_block_masks
from ltrnn.engine.result import FitResult, reduced_eigenvalues
from ltrnn.engine.synthetic import simulate_recording

FAST = dict(rnn_size=12, iterations=60, learning_rate=2e-2, eval_every=10)


@pytest.fixture(scope="module")
def small_rates():
    return simulate_recording(
        rank=2, n_trials=40, n_neurons=15, rnn_size=12, n_conditions=4, n_times=12,
        n_preparatory=4, seed=1,
    )


@pytest.fixture(scope="module")
def small_fit(small_rates):
    recording, _ = small_rates
    return fit(recording, FitConfig(rank=2, seed=3, **FAST))


def test_fit_same_seed_same_result(small_rates, small_fit):
    recording, _ = small_rates
    again = fit(recording, FitConfig(rank=2, seed=3, **FAST))
    np.testing.assert_array_equal(again.column_factors, small_fit.column_factors)
    np.testing.assert_array_equal(again.trial_factors, small_fit.trial_factors)
    np.testing.assert_array_equal(again.predictions, small_fit.predictions)
    assert again.losses == small_fit.losses


def test_fit_other_seed_differs(small_rates, small_fit):
    recording, _ = small_rates
    other = fit(recording, FitConfig(rank=2, seed=4, **FAST))
    assert not np.allclose(other.column_factors, small_fit.column_factors)


def test_fit_loss_decreases(small_fit):
    train = small_fit.history["train_loss"]
    assert train[-1] < 0.5 * train[0]
    assert small_fit.losses["test"] < 0.6


def test_fit_result_shapes(small_rates, small_fit):
    recording, _ = small_rates
    k, m, t = recording.shape
    assert small_fit.column_factors.shape == (12, 2)
    assert small_fit.row_factors.shape == (12, 2)
    assert small_fit.trial_factors.shape == (k, 2)
    assert small_fit.readout.shape == (m, 12)
    assert small_fit.eigenvalues.shape == (k, 2)
    assert small_fit.latents.shape == (k, t, 2)
    assert small_fit.predictions.shape == (k, m, t)
    assert small_fit.inputs.shape == (4, t, 2)
    np.testing.assert_allclose(np.linalg.norm(small_fit.column_factors, axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(small_fit.row_factors, axis=0), 1.0, rtol=1e-5)


def test_readout_columns_orthonormal(small_fit):
    readout = small_fit.readout
    np.testing.assert_allclose(readout.T @ readout, np.eye(readout.shape[1]), atol=1e-5)


def test_inputs_zero_after_go_cue(small_rates, small_fit):
    recording, _ = small_rates
    assert np.all(small_fit.inputs[:, ~recording.preparatory] == 0)
    assert np.any(small_fit.inputs[:, recording.preparatory] != 0)


def test_eigenvalues_match_dense_weights(small_fit):
    dense = small_fit.weight_tensor(trials=[0, 5])
    for row, matrix in zip(small_fit.eigenvalues[[0, 5]], dense):
        full = np.linalg.eigvals(matrix)
        largest = full[np.argsort(-np.abs(full))][: len(row)]
        np.testing.assert_allclose(np.sort_complex(largest), np.sort_complex(row), atol=1e-6)


def test_factored_dynamics_match_dense_weights():
    generator = torch.Generator().manual_seed(0)
    n_units, rank, n_trials, n_times = 9, 3, 4, 6
    column = torch.nn.functional.normalize(torch.randn(n_units, rank, generator=generator), dim=0)
    row = torch.nn.functional.normalize(torch.randn(n_units, rank, generator=generator), dim=0)
    factors = torch.randn(n_trials, rank, generator=generator)
    inputs = torch.randn(n_trials, n_times, rank, generator=generator)
    initial = torch.randn(n_trials, rank, generator=generator)
    bias = torch.randn(rank, generator=generator)
    latents, _ = integrate(column, row, factors, inputs, initial, bias, tau=2.0, substeps=2)

    weights = torch.einsum("kr,ir,jr->kij", factors, column, row)
    x = initial @ column.T
    expected = [x]
    for t in range(n_times - 1):
        drive = (inputs[:, t] + bias) @ column.T
        for _ in range(2):
            recurrent = torch.einsum("kij,kj->ki", weights, torch.tanh(x))
            x = x + 0.25 * (-x + recurrent + drive)
        expected.append(x)
    expected = torch.stack(expected, dim=1)
    torch.testing.assert_close(latents @ column.T, expected, atol=1e-5, rtol=1e-5)


def test_reduced_eigenvalues_sorted_by_modulus():
    rng = np.random.default_rng(0)
    values = reduced_eigenvalues(rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=(5, 3)))
    assert np.all(np.diff(np.abs(values), axis=1) <= 1e-12)


def test_save_load_round_trip(tmp_path, small_fit):
    path = small_fit.save(tmp_path / "model.npz")
    loaded = FitResult.load(path)
    assert loaded.config == small_fit.config
    assert loaded.losses == small_fit.losses
    assert loaded.recording_meta == small_fit.recording_meta
    for name in ("column_factors", "row_factors", "trial_factors", "readout", "eigenvalues",
                 "latents", "predictions", "inputs", "initial_state"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(small_fit, name))
    np.testing.assert_array_equal(loaded.history["train_loss"], small_fit.history["train_loss"])
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        FitResult.load(tmp_path / "missing.npz")
    text = tmp_path / "text.npz"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a valid ltrnn model file"):
        FitResult.load(text)
    partial = tmp_path / "partial.npz"
    np.savez(partial, column_factors=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="missing"):
        FitResult.load(partial)


def test_simulate_reproduces_predictions(tmp_path, small_fit):
    loaded = FitResult.load(small_fit.save(tmp_path / "model.npz"))
    predictions, latents = loaded.simulate(trials=[0, 3, 7])
    np.testing.assert_allclose(predictions, small_fit.predictions[[0, 3, 7]], atol=1e-5)
    np.testing.assert_allclose(latents, small_fit.latents[[0, 3, 7]], atol=1e-5)


def test_simulate_other_condition_changes_output(small_fit):
    own = small_fit.recording_meta["condition"][0]
    other = next(c for c in small_fit.recording_meta["conditions"] if c != own)
    same, _ = small_fit.simulate(trials=[0], conditions=[own])
    changed, _ = small_fit.simulate(trials=[0], conditions=[other])
    assert not np.allclose(same, changed)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(trials=[99]), r"trials must be indices in \[0, 39\], got 99"),
        (dict(trials=[]), "non-empty list of trial indices"),
        (dict(trials=[0], conditions=["nope"]), r"unknown conditions \['nope'\]"),
        (dict(trials=[0, 1], conditions=["c0"]), "one label per simulated trial"),
        (dict(trial_factors=np.ones((1, 5)), conditions=["c0"]), r"shape \(n, 2\)"),
        (dict(trial_factors=np.ones((1, 2))), "conditions are required"),
        (dict(trial_factors=np.full((1, 2), np.nan), conditions=["c0"]), "must be finite"),
        (dict(trials=[0], trial_factors=np.ones((1, 2))), "either trials or trial_factors"),
    ],
)
def test_simulate_bad_input(small_fit, kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_fit.simulate(**kwargs)


def test_progress_reports_and_cancels(small_rates):
    recording, _ = small_rates
    reports = []

    def stop_at_twenty(report):
        reports.append(report)
        return report.iteration >= 20

    with pytest.raises(FitCancelled, match="iteration 20"):
        fit(recording, FitConfig(rank=1, **FAST), progress=stop_at_twenty)
    assert [r.iteration for r in reports] == [10, 20]
    assert all(r.iterations == FAST["iterations"] for r in reports)
    assert all(np.isfinite(r.train_loss) and np.isfinite(r.validation_loss) for r in reports)
    assert reports[1].elapsed_seconds >= reports[0].elapsed_seconds


def test_early_stopping_keeps_best_iteration(small_rates):
    recording, _ = small_rates
    result = fit(recording, FitConfig(rank=2, rnn_size=12, iterations=400, learning_rate=0.3,
                                      eval_every=5, patience=20))
    assert result.stopped_reason == "early_stopping"
    best = np.nanargmin(result.history["validation_loss"])
    assert result.best_iteration == result.history["iteration"][best]
    assert result.iterations_run - result.best_iteration >= 20


def test_poisson_fit_on_counts():
    recording, _ = simulate_recording(
        rank=2, n_trials=40, n_neurons=15, rnn_size=12, n_conditions=4, n_times=12,
        n_preparatory=4, counts=True, seed=2,
    )
    assert recording.kind == "counts"
    result = fit(recording, FitConfig(rank=2, **FAST))
    assert result.loss_kind == "poisson"
    assert np.all(result.predictions > 0)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert result.losses["test"] < 1.0


def test_poisson_loss_rejects_rates(small_rates):
    recording, _ = small_rates
    with pytest.raises(ValueError, match="loss='poisson' needs a recording of kind 'counts'"):
        fit(recording, FitConfig(rank=1, loss="poisson", **FAST))


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(rank=0), "rank must be an integer >= 1, got 0"),
        (dict(rank=2.5), "rank must be an integer >= 1, got 2.5"),
        (dict(rank=True), "rank must be an integer >= 1, got True"),
        (dict(rank=60, rnn_size=50), "rank must be <= rnn_size"),
        (dict(rnn_size=0), "rnn_size must be an integer >= 1"),
        (dict(iterations=0), "iterations must be an integer >= 1"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
        (dict(learning_rate=float("nan")), "learning_rate must be a finite number"),
        (dict(tau=-1.0), "tau must be > 0"),
        (dict(substeps=0), "substeps must be an integer >= 1"),
        (dict(trial_dropout=0.95), "trial_dropout must be <= 0.9"),
        (dict(activity_regularization=-0.1), "activity_regularization must be >= 0"),
        (dict(gp_length=0.0), "gp_length must be > 0"),
        (dict(gp_noise=0.0), "gp_noise must be > 0"),
        (dict(epoch_breaks="yes"), "epoch_breaks must be True or False"),
        (dict(readout_scale="big"), "readout_scale must be one of"),
        (dict(loss="l1"), "loss must be one of"),
        (dict(patience=0), "patience must be an integer >= 1"),
    ],
)
def test_fit_config_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        FitConfig(**changes)


def test_fit_config_from_dict_round_trip():
    config = FitConfig(rank=4, rnn_size=20, tau=3.0)
    assert FitConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown FitConfig fields \['rnak'\]"):
        FitConfig.from_dict({"rnak": 3})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(recording="data.npz"), "recording must be a Recording, got str"),
        (dict(config={"rank": 2}), "config must be a FitConfig, got dict"),
        (dict(device="tpu"), "device must be 'auto', 'cpu' or 'cuda"),
        (dict(progress=3), "progress must be callable"),
        (dict(masks="all"), "masks must be a CVMasks"),
    ],
)
def test_fit_bad_arguments(small_rates, kwargs, message):
    recording, _ = small_rates
    arguments = dict(recording=recording, config=FitConfig(rank=1, **FAST))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit(**arguments)


def test_fit_rejects_overlapping_or_misshaped_masks(small_rates):
    recording, _ = small_rates
    ones = np.ones(recording.shape, dtype=bool)
    with pytest.raises(ValueError, match="masks.test must be disjoint"):
        fit(recording, FitConfig(rank=1, **FAST), masks=CVMasks(ones, ~ones, ones))
    with pytest.raises(ValueError, match=r"masks.train must be a boolean array of shape"):
        fit(recording, FitConfig(rank=1, **FAST), masks=CVMasks(ones[:2], ~ones, ~ones))


def test_cuda_request_without_cuda(small_rates):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here, so the request is valid")
    recording, _ = small_rates
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(recording, FitConfig(rank=1, **FAST), device="cuda")


def test_block_masks_disjoint_with_guard():
    config = MaskConfig(test_fraction=0.05, validation_fraction=0.05, inner=(1, 0, 1), outer=(3, 0, 3))
    masks = make_block_masks((60, 5, 30), config, seed=0)
    assert not (masks.train & masks.test).any()
    assert not (masks.train & masks.validation).any()
    assert not (masks.validation & masks.test).any()
    for k, m, t in np.argwhere(masks.test):
        guard = masks.train[max(k - 2, 0):k + 3, m, max(t - 2, 0):t + 3]
        assert not guard.any()
    assert 0.02 < masks.test.mean() < 0.06
    assert 0.02 < masks.validation.mean() < 0.06
    assert masks.train.mean() > 0.4


def test_block_masks_seeded():
    first = make_block_masks((30, 4, 20), seed=5)
    again = make_block_masks((30, 4, 20), seed=5)
    other = make_block_masks((30, 4, 20), seed=6)
    np.testing.assert_array_equal(first.test, again.test)
    assert not np.array_equal(first.test, other.test)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(test_fraction=0.6), r"test_fraction must be a number in \[0, 0.5\)"),
        (dict(validation_fraction=-0.1), "validation_fraction must be a number"),
        (dict(inner=(1, 1)), "inner must be three non-negative integers"),
        (dict(outer=(1, 0, -1)), "outer must be three non-negative integers"),
        (dict(inner=(3, 0, 3), outer=(2, 0, 2)), "outer half-widths .* must be >= inner"),
    ],
)
def test_mask_config_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskConfig(**kwargs)


@pytest.mark.parametrize(
    "shape, seed, message",
    [
        ((10, 5), 0, "shape must be three positive integers"),
        ((10, 0, 5), 0, "shape must be three positive integers"),
        ((10, 5, 5), -1, "seed must be a non-negative integer"),
    ],
)
def test_block_masks_bad_arguments(shape, seed, message):
    with pytest.raises(ValueError, match=message):
        make_block_masks(shape, seed=seed)


@pytest.mark.slow
def test_planted_rank_recovered():
    """Held-out loss levels off at the planted rank and the fitted subspace matches."""
    recording, truth = simulate_recording(rank=3, n_trials=200, n_neurons=40, rnn_size=30,
                                          n_times=20, n_preparatory=5, seed=0)
    config = FitConfig(rnn_size=20, iterations=400, learning_rate=2e-2, patience=100)
    results = {rank: fit(recording, config.replace(rank=rank)) for rank in range(1, 6)}
    heldout = {rank: result.losses["test"] for rank, result in results.items()}

    best_rank = min(heldout, key=heldout.get)
    gain_to_three = heldout[1] - heldout[3]
    gain_after_three = heldout[3] - heldout[5]
    assert gain_to_three > 0
    assert best_rank == 3 or gain_after_three < 0.05 * gain_to_three, heldout

    true_subspace = truth.readout @ truth.column_factors
    angles = np.degrees(subspace_angles(results[3].neural_subspace(), true_subspace))
    assert angles.max() < 20.0, angles
