"""Recordings simulated from a known ltrRNN, for tests, benchmarks and checks of the method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import ModelParameters, simulate
from .recording import Recording


@dataclass(frozen=True)
class PlantedModel:
    """Ground truth of a simulated recording: W^(k) = sum_r trial_factors[k, r] a_r b_r^T."""

    column_factors: np.ndarray
    row_factors: np.ndarray
    trial_factors: np.ndarray
    readout: np.ndarray
    clean: np.ndarray


def simulate_recording(
    *,
    rank: int = 3,
    n_trials: int = 200,
    n_neurons: int = 40,
    rnn_size: int = 30,
    n_conditions: int = 8,
    n_epochs: int = 3,
    n_times: int = 20,
    n_preparatory: int = 5,
    noise: float = 0.05,
    tau: float = 2.0,
    counts: bool = False,
    seed: int = 0,
) -> tuple[Recording, PlantedModel]:
    """Simulate a recording from a random rank-``rank`` ltrRNN.

    Trial factors drift smoothly within each epoch and jump between epochs; each condition
    has its own input in the preparatory window. Rates get Gaussian noise whose standard
    deviation is ``noise`` times the data's. With ``counts=True`` the activity is mapped to
    Poisson rates with a softplus and sampled.

    Returns
    -------
    recording : Recording
    truth : PlantedModel
    """
    for name, value, minimum in (
        ("rank", rank, 1), ("n_trials", n_trials, 2), ("n_neurons", n_neurons, 1),
        ("rnn_size", rnn_size, rank), ("n_conditions", n_conditions, 1),
        ("n_epochs", n_epochs, 1), ("n_times", n_times, 2), ("n_preparatory", n_preparatory, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if n_preparatory >= n_times:
        raise ValueError(f"n_preparatory must be < n_times ({n_times}), got {n_preparatory}")
    if n_epochs > n_trials:
        raise ValueError(f"n_epochs must be <= n_trials ({n_trials}), got {n_epochs}")
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")

    rng = np.random.default_rng(seed)
    column, _ = np.linalg.qr(rng.standard_normal((rnn_size, rank)))
    mixing = rng.standard_normal((rank, rank)) / np.sqrt(rank) + np.eye(rank)
    row = column @ mixing.T + 0.3 * rng.standard_normal((rnn_size, rank)) / np.sqrt(rnn_size)
    row /= np.linalg.norm(row, axis=0, keepdims=True)

    epoch_index = np.minimum(np.arange(n_trials) * n_epochs // n_trials, n_epochs - 1)
    trial_axis = np.linspace(0.0, 1.0, n_trials)
    jumps = rng.uniform(-0.6, 0.6, size=(n_epochs, rank))
    drift = rng.uniform(-0.5, 0.5, size=(1, rank))
    within = trial_axis - np.array([trial_axis[epoch_index == e].min() for e in epoch_index])
    trial_factors = 1.2 + jumps[epoch_index] + drift * np.exp(-within[:, None] * 8.0)

    readout_raw = rng.standard_normal((n_neurons, rnn_size))
    if n_neurons >= rnn_size:
        readout, _ = np.linalg.qr(readout_raw)
    else:
        readout = np.linalg.qr(readout_raw.T)[0].T
    inputs = np.zeros((n_conditions, n_times, rank))
    angles = 2 * np.pi * np.arange(n_conditions) / n_conditions
    directions = rng.standard_normal((2, rank))
    for condition, angle in enumerate(angles):
        inputs[condition, :n_preparatory] = 1.5 * (
            np.cos(angle) * directions[0] + np.sin(angle) * directions[1]
        )
    condition = np.arange(n_trials) % n_conditions
    rng.shuffle(condition)

    def tensor(array):
        return torch.as_tensor(array, dtype=torch.float32)

    params = ModelParameters(
        column=tensor(column), row=tensor(row), trial_factors=tensor(trial_factors),
        readout=tensor(readout), scale=tensor(np.full(n_neurons, np.sqrt(rnn_size / n_neurons))),
        offset=tensor(np.zeros(n_neurons)), inputs=tensor(inputs),
        initial=tensor(np.zeros((n_conditions, rank))), bias=tensor(np.zeros(rank)),
    )
    with torch.no_grad():
        clean, _, _ = simulate(
            params, params.trial_factors, torch.as_tensor(condition),
            tau=tau, substeps=1, kind="gaussian",
        )
    clean = clean.numpy().astype(np.float64)

    if counts:
        rates = np.log1p(np.exp(2.0 * clean))
        data = rng.poisson(rates)
    else:
        data = clean + noise * clean.std() * rng.standard_normal(clean.shape)
    epoch_names = np.array([f"epoch{e + 1}" for e in epoch_index])
    times = np.arange(n_times) - n_preparatory
    recording = Recording.from_arrays(
        data, condition=[f"c{c}" for c in condition], epoch=epoch_names,
        trial_id=np.arange(n_trials), times=times, kind="counts" if counts else "rates",
    )
    truth = PlantedModel(column, row, trial_factors, readout, clean)
    return recording, truth
