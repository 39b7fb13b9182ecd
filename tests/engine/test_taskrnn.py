"""Tests of the task-trained RNN experiment generator."""

import dataclasses

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from ltrnn.engine.io import save_npz
from ltrnn.engine.recording import Recording
from ltrnn.engine.taskrnn import (
    TaskRNNConfig,
    TaskRNNExperiment,
    generate_task_rnn,
    load_experiment,
)
from ltrnn.engine.taskrnn.cli import simulate_task_rnn_cli
from ltrnn.engine.taskrnn.network import TanhRNN
from ltrnn.engine.taskrnn.task import (
    move_hand,
    reach_errors,
    target_positions,
    task_loss,
    trial_inputs,
)

# Small enough to run in seconds, large enough that pre-training reaches every target and
# the curl field's after-effects show: 21 bins of 50 ms, 6 before the go cue.
SMALL = dict(
    n_units=32, n_times=21, n_before_go=6, movement_bins=7, dt=0.05, tau=0.1,
    pretrain_steps=300, pretrain_learning_rate=1e-2, learning_rate=0.1,
    baseline_trials=8, curl_trials=40, washout_trials=40,
)
TINY = dict(
    n_units=16, n_times=12, n_before_go=4, movement_bins=4, dt=0.05, tau=0.1,
    pretrain_steps=20, baseline_trials=3, curl_trials=5, washout_trials=4,
)


@pytest.fixture(scope="module")
def experiment():
    return generate_task_rnn(TaskRNNConfig(**SMALL))


def _reference_hand(forces, dt, curl_strength):
    """Integrate the hand with an explicit loop over bins, the form move_hand documents."""
    batch, n_times, _ = forces.shape
    position = torch.zeros(batch, 2, dtype=forces.dtype)
    velocity = torch.zeros(batch, 2, dtype=forces.dtype)
    positions, velocities = [position], [velocity]
    for t in range(n_times - 1):
        field = curl_strength * torch.stack([-velocity[:, 1], velocity[:, 0]], dim=1)
        velocity = velocity + dt * (forces[:, t] + field)
        position = position + dt * velocity
        positions.append(position)
        velocities.append(velocity)
    return torch.stack(positions, dim=1), torch.stack(velocities, dim=1)


# --- task ---------------------------------------------------------------------------------

@pytest.mark.parametrize("curl_strength", [0.0, 2.0, -7.5])
def test_move_hand_matches_stepwise_euler(curl_strength):
    forces = torch.randn(3, 17, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    positions, velocities = move_hand(forces, 0.05, curl_strength)
    expected_positions, expected_velocities = _reference_hand(forces, 0.05, curl_strength)
    np.testing.assert_allclose(positions.numpy(), expected_positions.numpy(), atol=1e-12)
    np.testing.assert_allclose(velocities.numpy(), expected_velocities.numpy(), atol=1e-12)


def test_curl_field_turns_counter_clockwise():
    dt = 0.05
    forces = torch.zeros(1, 5, 2, dtype=torch.float64)
    forces[0, 0, 0] = 1.0 / dt  # one push that gives unit speed along +x
    _, velocities = move_hand(forces, dt, curl_strength=3.0)
    assert velocities[0, 1, 0].item() == pytest.approx(1.0)
    assert velocities[0, 2, 1].item() == pytest.approx(dt * 3.0)
    _, null_velocities = move_hand(forces, dt, curl_strength=0.0)
    assert torch.all(null_velocities[0, 1:] == null_velocities[0, 1])


def test_reach_errors_on_known_paths():
    targets = np.array([[0.0, 1.0], [0.0, 1.0]])
    straight = np.stack([np.zeros(6), np.linspace(0, 0.9, 6)], axis=1)
    # Bulges to x = -0.3, which is left of a reach along +y.
    bulge = straight.copy()
    bulge[:, 0] = -0.3 * np.sin(np.linspace(0, np.pi, 6))
    errors = reach_errors(np.stack([straight, bulge]), targets, n_before_go=1)
    np.testing.assert_allclose(errors.endpoint, [0.1, 0.1], atol=1e-12)
    assert errors.lateral[0] == pytest.approx(0.0)
    assert errors.lateral[1] == pytest.approx(0.3 * np.sin(np.linspace(0, np.pi, 6)).max())


def test_inputs_show_target_and_go_step():
    config = TaskRNNConfig(**TINY)
    targets = torch.as_tensor(target_positions(config))
    inputs = trial_inputs(targets, config)
    assert inputs.shape == (config.n_targets, config.n_times, 3)
    shown = np.repeat(targets.numpy()[:, None], config.n_times, axis=1)
    np.testing.assert_array_equal(inputs[:, :, :2].numpy(), shown)
    np.testing.assert_array_equal(inputs[0, :, 2].numpy(), [0] * 4 + [1] * 8)


def test_targets_on_circle():
    config = TaskRNNConfig(n_targets=8, target_distance=2.0)
    targets = target_positions(config)
    np.testing.assert_allclose(np.linalg.norm(targets, axis=1), 2.0)
    np.testing.assert_allclose(targets[2], [0.0, 2.0], atol=1e-12)


# --- generation ---------------------------------------------------------------------------

def test_generate_is_deterministic():
    first = generate_task_rnn(TaskRNNConfig(**TINY))
    second = generate_task_rnn(TaskRNNConfig(**TINY))
    for name in ("weights", "rates", "hand_position", "loss", "pretrain_loss", "readout"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
    np.testing.assert_array_equal(first.target_index, second.target_index)
    other = generate_task_rnn(TaskRNNConfig(**{**TINY, "seed": 1}))
    assert not np.array_equal(first.weights, other.weights)


def test_pretraining_lowers_loss(experiment):
    history = experiment.pretrain_loss
    assert history[-1] < 0.1 * history[0]
    baseline = experiment.epoch == "baseline"
    assert experiment.loss[baseline].max() < 0.1 * history[0]


def test_pretraining_makes_reaches_accurate(experiment):
    untrained = generate_task_rnn(TaskRNNConfig(**{**SMALL, "pretrain_steps": 0}))
    baseline = experiment.epoch == "baseline"
    trained_error = experiment.endpoint_error[baseline].mean()
    assert trained_error < 0.15 * experiment.config.target_distance
    assert untrained.endpoint_error[baseline].mean() > 3 * trained_error


def test_curl_onset_raises_error_then_adapts(experiment):
    summary = experiment.summary()
    baseline, curl = summary["baseline"], summary["curl"]
    assert curl["endpoint_first"] > 3 * baseline["endpoint_last"]
    assert curl["lateral_first"] > 3 * baseline["lateral_last"]
    assert curl["endpoint_last"] < 0.5 * curl["endpoint_first"]
    assert curl["lateral_last"] < 0.5 * curl["lateral_first"]
    assert curl["loss_last"] < 0.5 * curl["loss_first"]


def test_washout_onset_raises_error_then_adapts(experiment):
    summary = experiment.summary()
    curl, washout = summary["curl"], summary["washout"]
    assert washout["endpoint_first"] > 2 * curl["endpoint_last"]
    assert washout["lateral_first"] > 2 * curl["lateral_last"]
    assert washout["endpoint_last"] < 0.5 * washout["endpoint_first"]
    assert washout["lateral_last"] < 0.5 * washout["lateral_first"]


def test_without_learning_curl_error_persists(experiment):
    frozen = generate_task_rnn(TaskRNNConfig(**{**SMALL, "learning_rate": 0.0}))
    assert np.array_equal(frozen.weights, np.broadcast_to(frozen.weights[0], frozen.weights.shape))
    curl = frozen.summary()["curl"]
    assert curl["endpoint_last"] == pytest.approx(curl["endpoint_first"], rel=1e-9)
    assert curl["endpoint_last"] > 3 * experiment.summary()["curl"]["endpoint_last"]


def test_trial_order_cycles_targets(experiment):
    n_targets = experiment.config.n_targets
    for label in ("baseline", "curl", "washout"):
        targets = experiment.target_index[experiment.epoch == label]
        for start in range(0, len(targets) - n_targets + 1, n_targets):
            block = targets[start:start + n_targets]
            assert sorted(block.tolist()) == list(range(n_targets)), (label, start)
    assert experiment.epoch.tolist() == ["baseline"] * 8 + ["curl"] * 40 + ["washout"] * 40


def test_recorded_trial_replays_from_its_weights(experiment):
    """Trial k's rates come from weights[k], and its SGD step gives weights[k + 1]."""
    config = experiment.config
    network = TanhRNN(config.n_units, 3, 2, config.dt / config.tau, config.init_gain,
                      torch.Generator().manual_seed(0))
    with torch.no_grad():
        network.input_weights.copy_(torch.as_tensor(experiment.input_weights))
        network.readout.copy_(torch.as_tensor(experiment.readout))
        network.bias.copy_(torch.as_tensor(experiment.bias))
    targets = torch.as_tensor(target_positions(config))
    for k in (0, config.baseline_trials + 1):
        with torch.no_grad():
            network.recurrent.copy_(torch.as_tensor(experiment.weights[k]))
        network.zero_grad()
        target = targets[experiment.target_index[k]][None]
        rates, forces = network(trial_inputs(target, config))
        positions, velocities = move_hand(forces, config.dt, experiment.curl_strength[k])
        loss = task_loss(positions, velocities, forces, rates, target, config)
        loss.backward()
        np.testing.assert_allclose(rates[0].detach().numpy().T, experiment.rates[k], atol=1e-12)
        np.testing.assert_allclose(positions[0].detach().numpy(), experiment.hand_position[k],
                                   atol=1e-12)
        assert loss.item() == pytest.approx(experiment.loss[k], rel=1e-12)
        stepped = experiment.weights[k] - config.learning_rate * network.recurrent.grad.numpy()
        np.testing.assert_allclose(experiment.weights[k + 1], stepped, atol=1e-12)


def test_generate_rejects_non_config():
    with pytest.raises(ValueError, match="config must be a TaskRNNConfig, got dict"):
        generate_task_rnn({"n_units": 8})


def test_progress_reports_every_step():
    reports = []
    generate_task_rnn(TaskRNNConfig(**TINY), progress=reports.append)
    stages = [report.stage for report in reports]
    assert stages == ["pretrain"] * 20 + ["learning"] * 12
    assert reports[-1].step == reports[-1].total == 12


# --- weight changes -----------------------------------------------------------------------

def test_weight_changes_start_at_zero(experiment):
    changes = experiment.weight_changes()
    assert changes.shape == (88, 32, 32)
    assert np.all(changes[0] == 0)
    assert np.abs(changes[-1]).max() > 0


def _planted(experiment, rank=3):
    rng = np.random.default_rng(5)
    n_units, n_trials = experiment.n_units, experiment.n_trials
    columns = np.linalg.qr(rng.normal(size=(n_units, rank)))[0]
    rows = np.linalg.qr(rng.normal(size=(n_units, rank)))[0]
    trial_factors = np.cumsum(rng.normal(size=(n_trials, rank)), axis=0)
    trial_factors[0] = 0
    changes = np.einsum("kr,ir,jr->kij", trial_factors, columns, rows)
    planted = dataclasses.replace(experiment, weights=experiment.weights[0] + changes)
    return planted, columns, rows


def test_top_subspace_recovers_planted_columns(experiment):
    planted, columns, rows = _planted(experiment)
    basis = planted.top_weight_change_subspace(3)
    assert basis.shape == (32, 3)
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-10)
    assert np.max(subspace_angles(basis, columns)) < 1e-6
    assert np.max(subspace_angles(planted.top_weight_change_subspace(3, side="row"), rows)) < 1e-6
    assert np.min(subspace_angles(basis, rows)) > 1e-3


def test_learned_changes_are_low_dimensional(experiment):
    changes = experiment.weight_changes()
    singular = np.linalg.svd(changes.transpose(1, 0, 2).reshape(32, -1), compute_uv=False)
    energy = np.cumsum(singular**2) / np.sum(singular**2)
    # Changes spread evenly over the 32 column directions would put a quarter of their
    # energy in any 8 of them; the learned changes concentrate in a few.
    assert energy[7] > 0.9


@pytest.mark.parametrize("dim, side, message", [
    (0, "column", r"dim must be an integer in \[1, 32\], got 0"),
    (33, "column", r"dim must be an integer in \[1, 32\], got 33"),
    (2.0, "column", r"dim must be an integer in \[1, 32\], got 2.0"),
    (True, "column", r"dim must be an integer in \[1, 32\], got True"),
    (2, "left", r"side must be one of \('column', 'row'\), got 'left'"),
])
def test_top_subspace_rejects_bad_arguments(experiment, dim, side, message):
    with pytest.raises(ValueError, match=message):
        experiment.top_weight_change_subspace(dim, side=side)


# --- recording ----------------------------------------------------------------------------

def test_to_recording_metadata(experiment):
    recording = experiment.to_recording()
    assert isinstance(recording, Recording)
    assert recording.shape == (88, 32, 21)
    assert recording.kind == "rates"
    np.testing.assert_array_equal(recording.data, experiment.rates)
    assert recording.epochs == ["baseline", "curl", "washout"]
    assert recording.epoch_starts == [0, 8, 48]
    np.testing.assert_array_equal(recording.trial_id, np.arange(88))
    labels = np.array(["0", "45", "90", "135", "180", "225", "270", "315"])
    np.testing.assert_array_equal(recording.condition, labels[experiment.target_index])
    assert recording.preparatory.sum() == 6
    assert recording.times[6] == 0.0
    np.testing.assert_allclose(np.diff(recording.times), 0.05)


def test_to_recording_unit_subset(experiment):
    recording = experiment.to_recording(units=10, seed=3)
    index = experiment.select_units(10, seed=3)
    assert recording.shape == (88, 10, 21)
    assert len(np.unique(index)) == 10
    assert np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(recording.data, experiment.rates[:, index])
    np.testing.assert_array_equal(experiment.select_units(10, seed=3), index)
    assert not np.array_equal(experiment.select_units(10, seed=4), index)
    chosen = experiment.to_recording(units=[5, 2])
    np.testing.assert_array_equal(chosen.data, experiment.rates[:, [5, 2]])


@pytest.mark.parametrize("units, message", [
    (0, r"units must be None, a count in \[1, 32\] or unit indices, got 0"),
    (33, r"units must be None, a count in \[1, 32\] or unit indices, got 33"),
    ([], r"non-empty 1-D array of unit indices, got \[\]"),
    ([1.5], r"non-empty 1-D array of unit indices, got \[1.5\]"),
    ("a", r"non-empty 1-D array of unit indices, got 'a'"),
    ([-1, 2], r"units must index units in \[0, 32\), got values from -1 to 2"),
    ([0, 32], r"units must index units in \[0, 32\), got values from 0 to 32"),
    ([3, 3], "units must not repeat a unit index"),
])
def test_select_units_rejects_bad_units(experiment, units, message):
    with pytest.raises(ValueError, match=message):
        experiment.to_recording(units=units)


def test_select_units_rejects_bad_seed(experiment):
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        experiment.select_units(4, seed=-1)


def test_recording_saves_with_engine_io(experiment, tmp_path):
    save_npz(experiment.to_recording(units=4), tmp_path / "recording.npz")
    assert (tmp_path / "recording.npz").stat().st_size > 0


# --- save and load ------------------------------------------------------------------------

def test_save_load_roundtrip(experiment, tmp_path):
    written = experiment.save(tmp_path / "experiment")
    assert written == str(tmp_path / "experiment.npz")
    with np.load(written, allow_pickle=False) as archive:
        for key in archive.files:
            assert archive[key].dtype != object, key
    loaded = TaskRNNExperiment.load(written)
    assert loaded.config == experiment.config
    for field in dataclasses.fields(TaskRNNExperiment):
        expected = getattr(experiment, field.name)
        if isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(getattr(loaded, field.name), expected,
                                          err_msg=field.name)
        else:
            assert getattr(loaded, field.name) == expected, field.name
    np.testing.assert_array_equal(loaded.to_recording().data, experiment.to_recording().data)


def test_load_rejects_other_files(experiment, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="is not a readable .npz file"):
        load_experiment(text)

    save_npz(experiment.to_recording(), tmp_path / "recording.npz")
    with pytest.raises(ValueError, match="is not a task-RNN experiment file: format is None"):
        load_experiment(tmp_path / "recording.npz")

    written = experiment.save(tmp_path / "experiment.npz")
    with np.load(written) as archive:
        contents = {key: archive[key] for key in archive.files if key != "rates"}
    np.savez(tmp_path / "partial.npz", **contents)
    with pytest.raises(ValueError, match=r"is missing the keys \['rates'\]"):
        load_experiment(tmp_path / "partial.npz")

    contents["rates"] = experiment.rates[:, :5]
    np.savez(tmp_path / "cut.npz", **contents)
    with pytest.raises(ValueError, match=r"rates must have shape \(88, 32, 21\)"):
        load_experiment(tmp_path / "cut.npz")


# --- config -------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("n_units", 0, "n_units must be an integer >= 1, got 0"),
    ("n_units", 2.5, "n_units must be an integer >= 1, got 2.5"),
    ("n_units", True, "n_units must be an integer >= 1, got True"),
    ("n_targets", 0, "n_targets must be an integer >= 1, got 0"),
    ("target_distance", 0.0, "target_distance must be a finite number > 0, got 0"),
    ("target_distance", float("nan"), "target_distance must be a finite number > 0, got nan"),
    ("n_times", 1, "n_times must be an integer >= 2, got 1"),
    ("n_before_go", 0, "n_before_go must be an integer >= 1, got 0"),
    ("n_before_go", 41, r"n_before_go must be smaller than n_times \(41\)"),
    ("dt", -0.1, "dt must be a finite number > 0, got -0.1"),
    ("tau", 0.01, r"tau must be >= dt \(0.025 s\)"),
    ("tau", "fast", "tau must be a finite number > 0, got 'fast'"),
    ("movement_bins", -1, "movement_bins must be an integer >= 0, got -1"),
    ("movement_bins", 21, "movement_bins must be smaller than the 21 bins after the go cue"),
    ("init_gain", -1.0, "init_gain must be a finite number >= 0, got -1"),
    ("curl_strength", float("inf"), "curl_strength must be a finite number, got inf"),
    ("baseline_trials", -1, "baseline_trials must be an integer >= 0, got -1"),
    ("curl_trials", 1.0, "curl_trials must be an integer >= 0, got 1.0"),
    ("washout_trials", None, "washout_trials must be an integer >= 0, got None"),
    ("learning_rate", -0.1, "learning_rate must be a finite number >= 0, got -0.1"),
    ("pretrain_steps", -5, "pretrain_steps must be an integer >= 0, got -5"),
    ("pretrain_learning_rate", 0.0, "pretrain_learning_rate must be a finite number > 0, got 0"),
    ("velocity_penalty", -1e-3, "velocity_penalty must be a finite number >= 0, got -0.001"),
    ("effort_penalty", float("nan"), "effort_penalty must be a finite number >= 0, got nan"),
    ("rate_penalty", -1.0, "rate_penalty must be a finite number >= 0, got -1"),
    ("seed", -1, "seed must be an integer >= 0, got -1"),
    ("seed", "0", "seed must be an integer >= 0, got '0'"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        TaskRNNConfig(**{field: value})


def test_config_rejects_zero_trials():
    with pytest.raises(ValueError, match="are all 0; record at least one trial"):
        TaskRNNConfig(baseline_trials=0, curl_trials=0, washout_trials=0)


def test_config_dict_roundtrip():
    config = TaskRNNConfig(n_units=12, curl_strength=-3.0, seed=4)
    assert TaskRNNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown TaskRNNConfig fields \['units'\]"):
        TaskRNNConfig.from_dict({"units": 12})


def test_config_allows_empty_epochs():
    config = TaskRNNConfig(**{**TINY, "baseline_trials": 0, "washout_trials": 0})
    experiment = generate_task_rnn(config)
    assert experiment.to_recording().epochs == ["curl"]
    assert list(experiment.summary()) == ["curl"]


# --- command line -------------------------------------------------------------------------

def test_cli_writes_experiment(tmp_path, capsys):
    out = tmp_path / "run"
    arguments = ["--out", str(out), "--no-progress", "--n-units", "8", "--pretrain-steps", "5",
                 "--baseline-trials", "2", "--curl-trials", "2", "--washout-trials", "2",
                 "--curl-strength", "-1.5"]
    assert simulate_task_rnn_cli(arguments) == 0
    loaded = load_experiment(tmp_path / "run.npz")
    assert loaded.config.n_units == 8
    assert loaded.config.curl_strength == -1.5
    output = capsys.readouterr().out
    assert "curl" in output
    assert f"wrote {out}.npz" in output


def test_cli_reports_bad_setting(tmp_path, capsys):
    status = simulate_task_rnn_cli(["--out", str(tmp_path / "x"), "--n-units", "0"])
    assert status == 2
    assert "error: n_units must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
