"""Gaussian-process reparameterisation of trial factors across learning."""

from __future__ import annotations

import numpy as np


def rational_quadratic(trial_id: np.ndarray, length: float, sigma: float) -> np.ndarray:
    """Kernel sigma^2 (1 + d^2 / (2 length^2))^-1 on trial-id differences d, shape (K, K)."""
    trial_id = np.asarray(trial_id, dtype=np.float64)
    distance = trial_id[:, None] - trial_id[None, :]
    return sigma**2 / (1.0 + distance**2 / (2.0 * length**2))


def trial_factor_cholesky(
    trial_id: np.ndarray,
    epoch_index: np.ndarray | None,
    length: float,
    sigma: float,
    noise: float,
) -> np.ndarray:
    """Return the lower Cholesky factor L of K_theta(trial_id) + noise^2 I, shape (K, K).

    Trial factors are c[:, r] = mu_r + L eps[:, r]. When ``epoch_index`` is given, the kernel
    is zero between trials of different epochs, so trial factors may jump at epoch boundaries.
    """
    covariance = rational_quadratic(trial_id, length, sigma)
    if epoch_index is not None:
        epoch_index = np.asarray(epoch_index)
        covariance = covariance * (epoch_index[:, None] == epoch_index[None, :])
    covariance = covariance + noise**2 * np.eye(len(covariance))
    return np.linalg.cholesky(covariance)
