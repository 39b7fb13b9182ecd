"""Tests for the Hennig et al. (2018) converter, time cropping and the shipped session."""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ltrnn.datasets import HENNIG2018_PATH, load_hennig2018
from ltrnn.engine.convert import convert_hennig2018, crop_bins
from ltrnn.engine.recording import Recording

SESSION_FOLDER = Path("data/real/hennig2018-bci-redundancy")
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# The source session is not in the repository. CI places the shared data folder next to
# the clone, and development machines have it at /work/shared.
SESSION_CANDIDATES = [
    REPOSITORY_ROOT.parent / "shared" / SESSION_FOLDER,
    Path("/work/shared") / SESSION_FOLDER,
]
SESSION_DIR = next((path for path in SESSION_CANDIDATES if path.is_dir()), None)
needs_session = pytest.mark.skipif(
    SESSION_DIR is None,
    reason="the source session 20131218.mat is not available; looked in "
    + ", ".join(str(path) for path in SESSION_CANDIDATES),
)


def _block(trial_lengths, targets, n_neurons=3, n_freeze=5, first=0):
    """Build one synthetic block: counts numbered by bin, freeze bins at each trial start."""
    n_bins = sum(trial_lengths)
    spikes = (np.arange(n_bins * n_neurons).reshape(n_bins, n_neurons) + first) % 200
    freeze = np.zeros(n_bins, dtype=np.uint8)
    thetas = np.zeros(n_bins)
    start = 0
    for length, target in zip(trial_lengths, targets):
        freeze[start : start + n_freeze] = 1
        thetas[start : start + length] = target
        # After the freeze period the cursor moves, so the angle to the target drifts.
        thetas[start + n_freeze : start + length] += np.linspace(1.0, 30.0, length - n_freeze)
        start += length
    return {"spikes": spikes.astype(np.uint8), "isFreezePeriod": freeze, "thetas": thetas}


def _write_session(path, blocks):
    fields = sorted({name for block in blocks for name in block})
    array = np.zeros((1, len(blocks)), dtype=[(name, object) for name in fields])
    for i, block in enumerate(blocks):
        for name, value in block.items():
            array[0, i][name] = value
    scipy.io.savemat(path, {"D": {"datestr": "20000101", "blocks": array}})
    return path


@pytest.fixture
def synthetic_blocks():
    return [_block([8, 10, 7], [0.0, 90.0, 0.0]), _block([9, 12], [270.0, 180.0], first=50)]


def test_synthetic_session_converted(tmp_path, synthetic_blocks):
    path = _write_session(tmp_path / "session.mat", synthetic_blocks)
    recording = convert_hennig2018(path)

    assert recording.shape == (5, 3, 12)
    assert recording.kind == "counts"
    assert recording.epoch.tolist() == ["baseline"] * 3 + ["perturbation"] * 2
    assert recording.condition.tolist() == ["0", "90", "0", "270", "180"]
    assert recording.trial_id.tolist() == [0, 1, 2, 3, 4]
    assert recording.times.tolist() == list(range(-5, 7))
    assert recording.preparatory.sum() == 5

    lengths = recording.mask[:, 0, :].sum(axis=1)
    assert lengths.tolist() == [8, 10, 7, 9, 12]
    for k, length in enumerate(lengths):
        assert recording.mask[k, :, :length].all()
        assert not recording.mask[k, :, length:].any()
        assert np.isnan(recording.data[k, :, length:]).all()

    spikes = synthetic_blocks[0]["spikes"]
    np.testing.assert_array_equal(recording.data[1, :, :10], spikes[8:18].T)
    spikes = synthetic_blocks[1]["spikes"]
    np.testing.assert_array_equal(recording.data[4, :, :12], spikes[9:21].T)


def test_synthetic_session_cropped(tmp_path, synthetic_blocks):
    path = _write_session(tmp_path / "session.mat", synthetic_blocks)
    full = convert_hennig2018(path)
    cropped = convert_hennig2018(path, max_bins=9)

    assert cropped.shape == (5, 3, 9)
    assert cropped.mask[:, 0, :].sum(axis=1).tolist() == [8, 9, 7, 9, 9]
    assert np.array_equal(cropped.data, full.data[:, :, :9], equal_nan=True)
    assert np.array_equal(cropped.times, full.times[:9])


def _changed(blocks, index, name, value):
    blocks = [dict(block) for block in blocks]
    blocks[index][name] = value
    return blocks


def _freeze_lengths_differ(blocks):
    freeze = blocks[1]["isFreezePeriod"].copy()
    freeze[5] = 1
    thetas = blocks[1]["thetas"].copy()
    thetas[5] = thetas[0]
    return _changed(_changed(blocks, 1, "isFreezePeriod", freeze), 1, "thetas", thetas)


def _target_moves_in_freeze(blocks):
    thetas = blocks[0]["thetas"].copy()
    thetas[2] = 45.0
    return _changed(blocks, 0, "thetas", thetas)


def _target_missing(blocks):
    thetas = blocks[0]["thetas"].copy()
    thetas[8] = np.nan
    return _changed(blocks, 0, "thetas", thetas)


def _first_bin_not_freeze(blocks):
    freeze = blocks[0]["isFreezePeriod"].copy()
    freeze[0] = 0
    return _changed(blocks, 0, "isFreezePeriod", freeze)


def _freeze_not_binary(blocks):
    freeze = blocks[0]["isFreezePeriod"].copy()
    freeze[0] = 2
    return _changed(blocks, 0, "isFreezePeriod", freeze)


def _short_thetas(blocks):
    return _changed(blocks, 0, "thetas", blocks[0]["thetas"][:-1])


def _neurons_differ(blocks):
    return _changed(blocks, 1, "spikes", blocks[1]["spikes"][:, :2])


def _no_thetas(blocks):
    blocks = [dict(block) for block in blocks]
    del blocks[0]["thetas"]
    del blocks[1]["thetas"]
    return blocks


BAD_SESSIONS = [
    ("freeze lengths differ", _freeze_lengths_differ, r"freeze periods .* differ in length \(\[5, 6\]"),
    ("target moves in freeze", _target_moves_in_freeze, "changes during the freeze period"),
    ("target missing", _target_missing, "missing during the freeze period"),
    ("first bin not freeze", _first_bin_not_freeze, "does not start with a freeze period"),
    ("freeze not 0 or 1", _freeze_not_binary, "must contain only 0 and 1"),
    ("thetas too short", _short_thetas, "must have one value per bin"),
    ("neuron counts differ", _neurons_differ, r"different numbers of neurons: \[2, 3\]"),
    ("no thetas field", _no_thetas, "has no field 'thetas'"),
    ("one block", lambda blocks: blocks[:1], re.escape("must hold 2 blocks")),
]


@pytest.mark.parametrize(
    "edit, message", [case[1:] for case in BAD_SESSIONS], ids=[case[0] for case in BAD_SESSIONS]
)
def test_bad_session_rejected(tmp_path, synthetic_blocks, edit, message):
    path = _write_session(tmp_path / "session.mat", edit(synthetic_blocks))
    with pytest.raises(ValueError, match=message):
        convert_hennig2018(path)


def test_missing_session_file(tmp_path):
    path = tmp_path / "absent.mat"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        convert_hennig2018(path)


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "notes.mat"
    path.write_text("plain text, not MATLAB")
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a readable MATLAB v5")):
        convert_hennig2018(path)


def test_mat_without_session(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"x": np.ones(3)})
    with pytest.raises(ValueError, match="has no struct 'D' with a field 'blocks'"):
        convert_hennig2018(path)


@pytest.mark.parametrize(
    "max_bins, message",
    [
        (0, "max_bins must be greater than"),
        (-3, "max_bins must be greater than"),
        (5, "greater than the 5 preparatory bins"),
        (2.5, "max_bins must be an integer or None, got 2.5"),
        (True, "max_bins must be an integer or None, got True"),
        ("10", "max_bins must be an integer or None, got '10'"),
    ],
)
def test_bad_max_bins(tmp_path, synthetic_blocks, max_bins, message):
    path = _write_session(tmp_path / "session.mat", synthetic_blocks)
    with pytest.raises(ValueError, match=message):
        convert_hennig2018(path, max_bins=max_bins)


def test_crop_bins_keeps_short_recording():
    recording = Recording.from_arrays(np.ones((2, 2, 4)), times=[-1, 0, 1, 2])
    assert crop_bins(recording, None) is recording
    assert crop_bins(recording, 10) is recording
    assert crop_bins(recording, 2).times.tolist() == [-1.0, 0.0]


def test_crop_bins_rejects_non_recording():
    with pytest.raises(TypeError, match="recording must be a Recording"):
        crop_bins(np.ones((2, 2, 4)), 3)


@pytest.fixture(scope="module")
def session():
    return convert_hennig2018(SESSION_DIR / "20131218.mat")


def _source_trial_lengths(freeze):
    """Trial lengths from the raw freeze flags, counted by labelling each bin with its trial."""
    onsets = np.r_[freeze[0], np.diff(freeze.astype(int)) == 1].astype(int)
    return np.bincount(np.cumsum(onsets) - 1)


@needs_session
def test_real_session_shape_and_metadata(session):
    assert session.shape == (334, 87, 142)
    assert session.kind == "counts"
    assert session.epochs == ["baseline", "perturbation"]
    assert session.epoch_starts == [0, 167]
    assert (session.epoch == "baseline").sum() == 167
    assert (session.epoch == "perturbation").sum() == 167
    assert session.trial_id.tolist() == list(range(334))
    assert session.times[:6].tolist() == [-5, -4, -3, -2, -1, 0]
    assert session.preparatory.sum() == 5
    assert sorted(session.conditions, key=float) == ["0", "90", "180", "270"]
    for epoch in session.epochs:
        per_target = np.unique(session.condition[session.epoch == epoch], return_counts=True)[1]
        assert sorted(per_target.tolist()) == [41, 42, 42, 42]


@needs_session
def test_real_session_mask_pattern(session):
    contents = scipy.io.loadmat(
        SESSION_DIR / "20131218.mat", squeeze_me=True, struct_as_record=False
    )
    blocks = contents["D"].blocks
    lengths = np.r_[
        _source_trial_lengths(blocks[0].isFreezePeriod),
        _source_trial_lengths(blocks[1].isFreezePeriod),
    ]
    assert len(lengths) == 334
    assert session.mask.sum() == (4788 + 7446) * 87
    for k, length in enumerate(lengths):
        assert session.mask[k, :, :length].all(), f"trial {k} has missing bins"
        assert not session.mask[k, :, length:].any(), f"trial {k} has bins past its end"
    # Every trial is observed through its freeze bins.
    assert session.mask[:, :, :5].all()

    last = blocks[1].spikes[-lengths[-1] :]
    np.testing.assert_array_equal(session.data[-1, :, : lengths[-1]], last.T)
    first = blocks[0].spikes[: lengths[0]]
    np.testing.assert_array_equal(session.data[0, :, : lengths[0]], first.T)


@needs_session
def test_real_session_cropped(session):
    cropped = convert_hennig2018(SESSION_DIR / "20131218.mat", max_bins=20)
    assert cropped.shape == (334, 87, 20)
    assert np.array_equal(cropped.data, session.data[:, :, :20], equal_nan=True)
    assert cropped.mask[:, 0, :].sum(axis=1).min() == 12


@needs_session
def test_shipped_equals_fresh_conversion(session):
    shipped = load_hennig2018()
    assert np.array_equal(shipped.data, session.data, equal_nan=True)
    assert np.array_equal(shipped.mask, session.mask)
    assert shipped.condition.tolist() == session.condition.tolist()
    assert shipped.epoch.tolist() == session.epoch.tolist()
    assert np.array_equal(shipped.trial_id, session.trial_id)
    assert np.array_equal(shipped.times, session.times)
    assert shipped.kind == session.kind


@needs_session
def test_shipped_licence_is_source_licence():
    shipped = (HENNIG2018_PATH.parent / "LICENSE.txt").read_bytes()
    assert shipped == (SESSION_DIR / "LICENSE.txt").read_bytes()


def test_shipped_session_small_and_complete():
    assert HENNIG2018_PATH.stat().st_size < 1_000_000
    assert "MIT License" in (HENNIG2018_PATH.parent / "LICENSE.txt").read_text()
    recording = load_hennig2018()
    assert recording.shape == (334, 87, 142)
    assert recording.kind == "counts"
    assert recording.preparatory.sum() == 5
    assert recording.mask.sum() == (4788 + 7446) * 87


def test_shipped_session_cropped_on_load():
    cropped = load_hennig2018(max_bins=30)
    assert cropped.shape == (334, 87, 30)
    assert np.array_equal(cropped.data, load_hennig2018().data[:, :, :30], equal_nan=True)
    with pytest.raises(ValueError, match="greater than the 5 preparatory bins"):
        load_hennig2018(max_bins=5)
