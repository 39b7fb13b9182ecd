"""Reference predictors that an ltrRNN must beat on the same held-out entries."""

from __future__ import annotations

import numpy as np
import torch

from . import losses
from .masks import CVMasks
from .recording import COUNTS, Recording

# Poisson deviance is infinite for a zero rate where a spike was seen, so baseline rates
# are floored at this many counts per bin.
RATE_FLOOR = 1e-3


def _masked_mean(values: np.ndarray, mask: np.ndarray, axis) -> np.ndarray:
    total = np.where(mask, values, 0.0).sum(axis=axis)
    count = mask.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def neuron_bin_mean(recording: Recording, train: np.ndarray) -> np.ndarray:
    """Predict each entry by its neuron's mean in that bin over training trials, (K, M, T)."""
    mean = _masked_mean(recording.data, train, axis=0)
    fallback = _masked_mean(recording.data, train, axis=(0, 2))[:, None]
    mean = np.where(np.isnan(mean), fallback, mean)
    return np.broadcast_to(np.nan_to_num(mean), recording.shape).copy()


def condition_mean(recording: Recording, train: np.ndarray) -> np.ndarray:
    """Predict each entry by the peri-stimulus time histogram (PSTH) of its condition, (K, M, T).

    Where a condition has no training entry in a bin, the neuron's bin mean over all
    conditions is used.
    """
    prediction = neuron_bin_mean(recording, train)
    codes = recording.condition_index
    for code in range(len(recording.conditions)):
        trials = codes == code
        mean = _masked_mean(recording.data[trials], train[trials], axis=0)
        prediction[trials] = np.where(np.isnan(mean), prediction[trials], mean)
    return prediction


def baseline_losses(recording: Recording, masks: CVMasks) -> dict:
    """Score both baselines with the normalised loss that :func:`fit` reports.

    Returns ``{"neuron_bin_mean": {...}, "condition_mean": {...}}`` with "train",
    "validation" and "test" entries each.
    """
    masks = masks.restrict(recording.mask)
    kind = losses.POISSON if recording.kind == COUNTS else losses.GAUSSIAN
    target = torch.as_tensor(np.nan_to_num(recording.data))
    observed = torch.as_tensor(recording.mask)
    reference = losses.reference_deviance(target, observed, kind)
    scores = {}
    for name, predictor in (("neuron_bin_mean", neuron_bin_mean), ("condition_mean", condition_mean)):
        prediction = predictor(recording, masks.train)
        if kind == losses.POISSON:
            prediction = np.maximum(prediction, RATE_FLOOR)
        prediction = torch.as_tensor(prediction)
        scores[name] = {
            part: losses.normalised_loss(
                prediction, target, torch.as_tensor(getattr(masks, part)), kind, reference
            )
            for part in ("train", "validation", "test")
        }
    return scores
