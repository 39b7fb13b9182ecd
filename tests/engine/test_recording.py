"""Tests for the Recording type: validation, defaults, kinds and derived properties."""

import re

import numpy as np
import pytest

from ltrnn.engine.recording import Recording

K, M, T = 4, 3, 5


def _rates():
    return np.random.default_rng(0).normal(size=(K, M, T))


def _with(index, value):
    data = _rates()
    data[index] = value
    return data


def _counts_with(index, value):
    data = np.full((K, M, T), 2.0)
    data[index] = value
    return data


def _masked_out_everywhere():
    return np.zeros((K, M, T), dtype=bool)


BAD_INPUTS = [
    ("2 dimensions", dict(data=np.ones((K, M))), "data must have 3 dimensions"),
    ("4 dimensions", dict(data=np.ones((K, M, T, 2))), "data must have 3 dimensions"),
    ("empty trials", dict(data=np.ones((0, M, T))), "non-empty in every dimension"),
    ("empty neurons", dict(data=np.ones((K, 0, T))), "non-empty in every dimension"),
    ("object dtype", dict(data=np.ones((K, M, T), dtype=object)), "numeric array, got dtype object"),
    ("string dtype", dict(data=np.full((K, M, T), "a")), "numeric array, got dtype <U1"),
    ("complex", dict(data=np.ones((K, M, T)) * 1j), "real-valued"),
    ("inf", dict(data=_with((1, 2, 3), np.inf)), re.escape("inf at index (1, 2, 3)")),
    ("minus inf", dict(data=_with((0, 0, 0), -np.inf)), re.escape("inf at index (0, 0, 0)")),
    ("all NaN", dict(data=np.full((K, M, T), np.nan)), "no observed entries"),
    (
        "all masked",
        dict(data=np.ones((K, M, T)), mask=_masked_out_everywhere()),
        "no observed entries",
    ),
    (
        "mask shape",
        dict(data=np.ones((K, M, T)), mask=np.ones((K, M), dtype=bool)),
        re.escape(f"mask must have the shape of data {(K, M, T)}, got {(K, M)}"),
    ),
    (
        "mask values",
        dict(data=np.ones((K, M, T)), mask=np.full((K, M, T), 2)),
        "mask must be boolean",
    ),
    (
        "mask strings",
        dict(data=np.ones((K, M, T)), mask=np.full((K, M, T), "yes")),
        "mask must be boolean",
    ),
    ("kind unknown", dict(data=np.ones((K, M, T)), kind="spikes"), "kind must be one of"),
    ("kind not text", dict(data=np.ones((K, M, T)), kind=3), "kind must be one of"),
    (
        "kind array",
        dict(data=np.ones((K, M, T)), kind=np.array(["rates", "counts"])),
        "kind must be one of",
    ),
    (
        "negative counts",
        dict(data=_counts_with((0, 1, 2), -1.0), kind="counts"),
        "non-negative spike counts, but data has the value -1",
    ),
    (
        "non-integer counts",
        dict(data=np.full((K, M, T), 2.5), kind="counts"),
        "integer spike counts, but data has the value 2.5",
    ),
    (
        "condition length",
        dict(data=np.ones((K, M, T)), condition=["a"] * (K - 1)),
        re.escape(f"condition must have one label per trial, shape ({K},), got shape ({K - 1},)"),
    ),
    (
        "condition 2-D",
        dict(data=np.ones((K, M, T)), condition=np.zeros((K, 1))),
        "condition must have one label per trial",
    ),
    (
        "condition NaN",
        dict(data=np.ones((K, M, T)), condition=[0.0, np.nan, 1.0, 1.0]),
        "condition contains NaN",
    ),
    (
        "epoch length",
        dict(data=np.ones((K, M, T)), epoch=["a"] * (K + 1)),
        "epoch must have one label per trial",
    ),
    (
        "epoch not contiguous",
        dict(data=np.ones((K, M, T)), epoch=["base", "pert", "base", "base"]),
        re.escape("'base' starts again at trials [0, 2]"),
    ),
    (
        "trial_id length",
        dict(data=np.ones((K, M, T)), trial_id=[0, 1]),
        re.escape(f"trial_id must have one number per trial, shape ({K},), got shape (2,)"),
    ),
    (
        "trial_id repeated",
        dict(data=np.ones((K, M, T)), trial_id=[0, 1, 1, 2]),
        "trial 2 has id 1 after id 1",
    ),
    (
        "trial_id decreasing",
        dict(data=np.ones((K, M, T)), trial_id=[3, 2, 5, 6]),
        "trial 1 has id 2 after id 3",
    ),
    (
        "trial_id fractional",
        dict(data=np.ones((K, M, T)), trial_id=[0, 1.5, 2, 3]),
        "trial_id must contain integers, got dtype float64",
    ),
    (
        "trial_id text",
        dict(data=np.ones((K, M, T)), trial_id=["0", "1", "2", "3"]),
        "trial_id must contain integers, got dtype <U1",
    ),
    (
        "times length",
        dict(data=np.ones((K, M, T)), times=np.arange(T + 1)),
        re.escape(f"times must have one value per time bin, shape ({T},), got shape ({T + 1},)"),
    ),
    (
        "times not increasing",
        dict(data=np.ones((K, M, T)), times=[0, 1, 1, 2, 3]),
        "times must be strictly increasing",
    ),
    (
        "times decreasing",
        dict(data=np.ones((K, M, T)), times=[4, 3, 2, 1, 0]),
        "times must be strictly increasing",
    ),
    (
        "times NaN",
        dict(data=np.ones((K, M, T)), times=[0, 1, np.nan, 3, 4]),
        "times must be finite",
    ),
    (
        "times text",
        dict(data=np.ones((K, M, T)), times=["a", "b", "c", "d", "e"]),
        "times must be numbers",
    ),
]


@pytest.mark.parametrize(
    "arguments, message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_from_arrays_rejects(arguments, message):
    arguments = dict(arguments)
    data = arguments.pop("data")
    with pytest.raises(ValueError, match=message):
        Recording.from_arrays(data, **arguments)


def test_constructor_validates():
    with pytest.raises(ValueError, match="data must have 3 dimensions"):
        Recording(
            data=np.ones((2, 2)), mask=np.ones((2, 2), bool), condition=np.array(["a", "a"]),
            epoch=np.array(["e", "e"]), trial_id=np.arange(2), times=np.arange(2.0),
        )


def test_defaults():
    recording = Recording.from_arrays(_rates())
    assert recording.shape == (K, M, T)
    assert recording.kind == "rates"
    assert recording.condition.tolist() == ["0"] * K
    assert recording.epoch.tolist() == ["all"] * K
    assert recording.trial_id.tolist() == list(range(K))
    assert recording.times.tolist() == list(range(T))
    assert not recording.preparatory.any()
    assert recording.mask.all()


def test_kind_inferred_from_integer_input():
    counts = np.arange(K * M * T).reshape(K, M, T) % 4
    assert Recording.from_arrays(counts).kind == "counts"
    assert Recording.from_arrays(counts.astype(float)).kind == "rates"
    assert Recording.from_arrays(counts - 1).kind == "rates"


def test_nan_and_mask_agree():
    data = _rates()
    data[0, 0, 0] = np.nan
    mask = np.ones((K, M, T), dtype=bool)
    mask[1, 1, 1] = False
    recording = Recording.from_arrays(data, mask=mask)
    assert not recording.mask[0, 0, 0]
    assert not recording.mask[1, 1, 1]
    assert recording.mask.sum() == K * M * T - 2
    assert np.array_equal(np.isnan(recording.data), ~recording.mask)


def test_inf_under_mask_is_missing():
    data = _with((1, 2, 3), np.inf)
    mask = np.ones((K, M, T), dtype=bool)
    mask[1, 2, 3] = False
    recording = Recording.from_arrays(data, mask=mask)
    assert np.isnan(recording.data[1, 2, 3])
    assert not recording.mask[1, 2, 3]


def test_integer_mask_accepted():
    mask = np.ones((K, M, T), dtype=np.int64)
    mask[0, 0, 0] = 0
    recording = Recording.from_arrays(_rates(), mask=mask)
    assert recording.mask.dtype == bool
    assert not recording.mask[0, 0, 0]


def test_metadata_properties():
    recording = Recording.from_arrays(
        _rates(), condition=[2, 1, 2, 3], epoch=["base", "base", "pert", "pert"],
        trial_id=[0, 5, 6, 9], times=[-2, -1, 0, 1, 2],
    )
    assert recording.conditions == ["2", "1", "3"]
    assert recording.condition_index.tolist() == [0, 1, 0, 2]
    assert recording.epochs == ["base", "pert"]
    assert recording.epoch_index.tolist() == [0, 0, 1, 1]
    assert recording.epoch_starts == [0, 2]
    assert recording.preparatory.tolist() == [True, True, False, False, False]
    assert recording.trial_id.dtype == np.int64


def test_inputs_copied():
    times = np.arange(T, dtype=float)
    data = _rates()
    recording = Recording.from_arrays(data, times=times)
    times[0] = 99.0
    data[0, 0, 0] = 99.0
    assert recording.times[0] == 0.0
    assert recording.data[0, 0, 0] != 99.0


def test_subset_trials_by_index_and_by_bool():
    recording = Recording.from_arrays(_rates(), trial_id=[10, 11, 12, 13])
    by_index = recording.subset_trials([2, 0])
    by_bool = recording.subset_trials(np.array([True, False, True, False]))
    assert by_index.trial_id.tolist() == [10, 12]
    assert by_bool.trial_id.tolist() == [10, 12]
    assert np.array_equal(by_bool.data, recording.data[[0, 2]])


@pytest.mark.parametrize(
    "index, message",
    [
        ([0, 0], "must not repeat a trial"),
        (np.array([True, False]), re.escape(f"boolean index must have shape ({K},)")),
        ([], "at least one trial"),
        (np.zeros(K, dtype=bool), "at least one trial"),
        ([0.5, 1.0], "integers or booleans, got dtype float64"),
    ],
)
def test_subset_trials_rejects(index, message):
    recording = Recording.from_arrays(_rates())
    with pytest.raises(ValueError, match=message):
        recording.subset_trials(index)
