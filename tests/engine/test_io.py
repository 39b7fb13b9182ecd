"""Tests for reading and writing recordings as .npz files."""

import os
import re
import stat
import zipfile

import numpy as np
import pytest

from ltrnn.engine.io import KEYS, load_npz, save_npz
from ltrnn.engine.recording import Recording

K, M, T = 5, 4, 6


def _counts_recording(max_count=7):
    rng = np.random.default_rng(1)
    data = rng.integers(0, max_count + 1, size=(K, M, T)).astype(float)
    mask = np.ones((K, M, T), dtype=bool)
    mask[0, :, 4:] = False
    mask[3, :, 5:] = False
    return Recording.from_arrays(
        data, mask=mask, condition=["0", "90", "0", "180", "90"],
        epoch=["baseline"] * 2 + ["perturbation"] * 3, trial_id=[0, 1, 4, 5, 9],
        times=np.arange(T) - 2.0, kind="counts",
    )


def _rates_recording(dtype=np.float64):
    data = np.random.default_rng(2).normal(size=(K, M, T)).astype(dtype)
    data[1, 2, 3] = np.nan
    return Recording.from_arrays(data, condition=[1, 2, 1, 2, 1], times=np.linspace(-0.1, 0.4, T))


def _assert_same(loaded, recording):
    assert loaded.kind == recording.kind
    assert np.array_equal(loaded.data, recording.data, equal_nan=True)
    assert np.array_equal(loaded.mask, recording.mask)
    assert loaded.condition.tolist() == recording.condition.tolist()
    assert loaded.epoch.tolist() == recording.epoch.tolist()
    assert np.array_equal(loaded.trial_id, recording.trial_id)
    assert np.array_equal(loaded.times, recording.times)


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_counts(tmp_path, compress):
    recording = _counts_recording()
    path = save_npz(recording, tmp_path / "counts.npz", compress=compress)
    _assert_same(load_npz(path), recording)


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_rates(tmp_path, compress):
    recording = _rates_recording()
    path = save_npz(recording, tmp_path / "rates.npz", compress=compress)
    _assert_same(load_npz(path), recording)


def test_round_trip_str_path(tmp_path):
    recording = _counts_recording()
    save_npz(recording, str(tmp_path / "counts.npz"))
    _assert_same(load_npz(str(tmp_path / "counts.npz")), recording)


@pytest.mark.parametrize("max_count, dtype", [(7, np.uint8), (255, np.uint8), (300, np.uint16)])
def test_counts_stored_as_smallest_uint(tmp_path, max_count, dtype):
    recording = _counts_recording(max_count)
    data = recording.data.copy()
    data[2, 0, 0] = max_count
    recording = Recording.from_arrays(data, mask=recording.mask, kind="counts")
    save_npz(recording, tmp_path / "counts.npz")
    with np.load(tmp_path / "counts.npz") as archive:
        assert archive["data"].dtype == dtype
        assert archive["mask"].dtype == bool
        assert np.all(archive["data"][~archive["mask"]] == 0)
    _assert_same(load_npz(tmp_path / "counts.npz"), recording)


def test_rates_auto_keeps_float64_exact(tmp_path):
    recording = _rates_recording(np.float64)
    save_npz(recording, tmp_path / "rates.npz")
    with np.load(tmp_path / "rates.npz") as archive:
        assert archive["data"].dtype == np.float64
    _assert_same(load_npz(tmp_path / "rates.npz"), recording)


def test_rates_auto_uses_float32_when_exact(tmp_path):
    recording = _rates_recording(np.float32)
    save_npz(recording, tmp_path / "rates.npz")
    with np.load(tmp_path / "rates.npz") as archive:
        assert archive["data"].dtype == np.float32
    _assert_same(load_npz(tmp_path / "rates.npz"), recording)


def test_rates_float32_rounds(tmp_path):
    recording = _rates_recording(np.float64)
    save_npz(recording, tmp_path / "rates.npz", rates_dtype="float32")
    loaded = load_npz(tmp_path / "rates.npz")
    assert not np.array_equal(loaded.data, recording.data, equal_nan=True)
    np.testing.assert_allclose(loaded.data, recording.data, rtol=1e-6)


def test_saved_keys_and_dtypes(tmp_path):
    save_npz(_counts_recording(), tmp_path / "counts.npz")
    with np.load(tmp_path / "counts.npz") as archive:
        assert sorted(archive.files) == sorted(KEYS)
        assert archive["condition"].dtype.kind == "U"
        assert archive["epoch"].dtype.kind == "U"
        assert archive["trial_id"].dtype == np.int64
        assert archive["times"].dtype == np.float64
        assert archive["kind"].shape == ()
        assert str(archive["kind"]) == "counts"


def test_save_replaces_atomically(tmp_path):
    path = tmp_path / "recording.npz"
    save_npz(_rates_recording(), path)
    save_npz(_counts_recording(), path)
    assert load_npz(path).kind == "counts"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recording.npz"]


def test_save_honours_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_npz(_counts_recording(), tmp_path / "recording.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_save_failure_leaves_no_temporary(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()
    with pytest.raises(OSError):
        save_npz(_counts_recording(), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_load_only_data(tmp_path):
    data = np.arange(K * M * T).reshape(K, M, T) % 3
    np.savez(tmp_path / "plain.npz", data=data)
    recording = load_npz(tmp_path / "plain.npz")
    assert recording.kind == "counts"
    assert recording.mask.all()
    assert recording.epoch.tolist() == ["all"] * K
    assert recording.trial_id.tolist() == list(range(K))


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_load_missing_file(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_npz(path)


def test_load_directory(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        load_npz(tmp_path)


def test_load_text_file(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("not an archive")
    with pytest.raises(ValueError, match=re.escape(f"{path} is not an .npz file")):
        load_npz(path)


def test_load_npy_file(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones((K, M, T)))
    with pytest.raises(ValueError, match=re.escape(f"{path} is not an .npz file")):
        load_npz(path)


@pytest.mark.parametrize(
    "member", [b"garbage", b"\x93NUMPY\x01\x00garbage"], ids=["no header", "bad header"]
)
def test_load_zip_with_corrupt_member(tmp_path, member):
    path = tmp_path / "corrupt.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.npy", member)
    with pytest.raises(ValueError, match=re.escape(f"'data' in {path} is not a valid array")):
        load_npz(path)


def test_load_unknown_key(tmp_path):
    path = _write(tmp_path / "extra.npz", data=np.ones((K, M, T)), rate=np.ones(3))
    with pytest.raises(ValueError, match=r"unknown keys \['rate'\]; the allowed keys are"):
        load_npz(path)


def test_load_missing_data(tmp_path):
    path = _write(tmp_path / "nodata.npz", mask=np.ones((K, M, T), dtype=bool))
    with pytest.raises(ValueError, match="has no 'data' array"):
        load_npz(path)


def test_load_object_array_not_unpickled(tmp_path):
    path = _write(
        tmp_path / "pickled.npz", data=np.ones((K, M, T)),
        condition=np.array(["a", 1, None, "b", "c"], dtype=object),
    )
    with pytest.raises(ValueError, match="'condition' in .* is an object array"):
        load_npz(path)


@pytest.mark.parametrize(
    "kind, message",
    [
        (np.array(["rates", "rates"]), "must be a single string"),
        (np.array(1.0), "must be a single string"),
        (np.array("spikes"), "kind must be one of"),
    ],
)
def test_load_bad_kind(tmp_path, kind, message):
    path = _write(tmp_path / "kind.npz", data=np.ones((K, M, T)), kind=kind)
    with pytest.raises(ValueError, match=message):
        load_npz(path)


def test_load_invalid_recording_names_path(tmp_path):
    path = _write(tmp_path / "flat.npz", data=np.ones((K, M)))
    with pytest.raises(ValueError, match=re.escape(f"invalid recording in {path}: data must")):
        load_npz(path)


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (dict(recording=np.ones((K, M, T))), TypeError, "recording must be a Recording"),
        (dict(path=3), TypeError, "path must be a str or os.PathLike"),
        (dict(compress="yes"), ValueError, "compress must be True or False"),
        (dict(rates_dtype="float16"), ValueError, "rates_dtype must be one of"),
    ],
)
def test_save_rejects(tmp_path, arguments, error, message):
    call = dict(recording=_counts_recording(), path=tmp_path / "out.npz") | arguments
    with pytest.raises(error, match=message):
        save_npz(**call)


def test_save_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory for the recording file not found"):
        save_npz(_counts_recording(), tmp_path / "absent" / "out.npz")
