"""Centre-out reaching with a point-mass hand, an optional curl field and the task loss."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .config import TaskRNNConfig

N_INPUTS = 3
"""Network inputs per bin: target x, target y and the go signal."""

N_OUTPUTS = 2
"""Network outputs per bin: the force on the hand in x and y (unit mass)."""


def target_positions(config: TaskRNNConfig) -> np.ndarray:
    """Place the targets evenly on a circle, the first at angle 0.

    Returns
    -------
    ndarray of shape (n_targets, 2)
    """
    angles = 2.0 * np.pi * np.arange(config.n_targets) / config.n_targets
    return config.target_distance * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def target_labels(config: TaskRNNConfig) -> list[str]:
    """Name each target by its direction in degrees, e.g. "0", "45", ... for 8 targets."""
    return [f"{360.0 * i / config.n_targets:g}" for i in range(config.n_targets)]


def bin_times(config: TaskRNNConfig) -> np.ndarray:
    """Bin times in seconds, shape (n_times,); the go cue is at 0, earlier bins are negative."""
    return (np.arange(config.n_times) - config.n_before_go) * config.dt


def trial_inputs(targets: torch.Tensor, config: TaskRNNConfig) -> torch.Tensor:
    """Build the network inputs of a batch of trials.

    The target position is shown from the first bin to the last; the go signal steps from 0
    to 1 at the go cue (bin ``n_before_go``) and stays on.

    Parameters
    ----------
    targets : tensor of shape (batch, 2)

    Returns
    -------
    tensor of shape (batch, n_times, 3)
    """
    batch = targets.shape[0]
    go = torch.zeros(config.n_times, dtype=targets.dtype)
    go[config.n_before_go:] = 1.0
    target_channels = targets[:, None, :].expand(batch, config.n_times, 2)
    return torch.cat([target_channels, go[None, :, None].expand(batch, config.n_times, 1)], dim=2)


@functools.lru_cache(maxsize=16)
def _velocity_response(n_times: int, dt: float, curl_strength: float) -> np.ndarray:
    """Map forces to velocities: matrix of shape (n_times * 2, n_times * 2).

    The velocity update v[t+1] = A v[t] + dt f[t] with A = I + dt k R is linear, so
    v[t] = sum over s < t of dt A^(t-1-s) f[s], a block lower-triangular matrix. Cached
    because every trial of a run uses the same one or two matrices; the result is
    read-only.
    """
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    transition = np.eye(2) + dt * curl_strength * rotation
    powers = np.empty((max(n_times - 1, 1), 2, 2))
    powers[0] = np.eye(2)
    for n in range(1, n_times - 1):
        powers[n] = transition @ powers[n - 1]
    later, earlier = np.tril_indices(n_times, -1)
    response = np.zeros((n_times, n_times, 2, 2))
    response[later, earlier] = dt * powers[later - 1 - earlier]
    response = response.transpose(0, 2, 1, 3).reshape(n_times * 2, n_times * 2)
    response.flags.writeable = False
    return response


def move_hand(
    forces: torch.Tensor, dt: float, curl_strength: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate a point-mass hand that starts at rest at the centre.

    Semi-implicit Euler: v[t+1] = v[t] + dt (f[t] + k R v[t]) and p[t+1] = p[t] + dt v[t+1],
    with R = [[0, -1], [1, 0]] and k = ``curl_strength``; the curl term is the field's
    force on a unit mass. The recursion is linear, so it runs as one matrix product and a
    cumulative sum, which keeps the autograd graph small.

    Parameters
    ----------
    forces : tensor of shape (batch, n_times, 2)
        Force (acceleration of the unit mass) at each bin; the last bin's force acts after
        the trial ends and is ignored.
    dt : float
        Bin width in seconds.
    curl_strength : float, default=0.0
        Field constant k in 1/s; 0 is the null field.

    Returns
    -------
    positions, velocities : tensors of shape (batch, n_times, 2)
    """
    batch, n_times, _ = forces.shape
    response = torch.tensor(_velocity_response(n_times, float(dt), float(curl_strength)),
                            dtype=forces.dtype)
    velocities = (forces.reshape(batch, n_times * 2) @ response.T).reshape(batch, n_times, 2)
    positions = dt * torch.cumsum(velocities, dim=1)
    return positions, velocities


def task_loss(
    positions: torch.Tensor,
    velocities: torch.Tensor,
    forces: torch.Tensor,
    rates: torch.Tensor,
    targets: torch.Tensor,
    config: TaskRNNConfig,
) -> torch.Tensor:
    """Compute the reaching loss, averaged over the batch.

    The loss is the sum of five terms:

    - the mean squared distance from the centre over the bins before the go cue;
    - the mean squared distance to the target from ``movement_bins`` after the go cue to
      the last bin;
    - ``velocity_penalty`` times the squared hand speed at the last bin;
    - ``effort_penalty`` times the mean squared force;
    - ``rate_penalty`` times the mean squared rate.

    Parameters
    ----------
    positions, velocities, forces : tensors of shape (batch, n_times, 2)
    rates : tensor of shape (batch, n_times, n_units)
    targets : tensor of shape (batch, 2)

    Returns
    -------
    tensor of shape ()
    """
    hold_start = positions[:, : config.n_before_go]
    hold_target = positions[:, config.n_before_go + config.movement_bins:]
    centre_term = hold_start.pow(2).sum(-1).mean()
    target_term = (hold_target - targets[:, None, :]).pow(2).sum(-1).mean()
    velocity_term = velocities[:, -1].pow(2).sum(-1).mean()
    effort_term = forces.pow(2).sum(-1).mean()
    rate_term = rates.pow(2).mean()
    return (
        centre_term
        + target_term
        + config.velocity_penalty * velocity_term
        + config.effort_penalty * effort_term
        + config.rate_penalty * rate_term
    )


@dataclass(frozen=True)
class ReachErrors:
    """Per-trial reach errors.

    Attributes
    ----------
    endpoint : ndarray of shape (batch,)
        Distance from the hand to the target at the last bin.
    lateral : ndarray of shape (batch,)
        Signed largest deviation from the straight centre-to-target line after the go cue;
        positive is counter-clockwise of the line.
    """

    endpoint: np.ndarray
    lateral: np.ndarray


def reach_errors(positions: np.ndarray, targets: np.ndarray, n_before_go: int) -> ReachErrors:
    """Measure endpoint and lateral errors of hand paths.

    Parameters
    ----------
    positions : ndarray of shape (batch, n_times, 2)
    targets : ndarray of shape (batch, 2)
    n_before_go : int
        Bins before the go cue; the lateral error looks at the bins from the go cue on.
    """
    endpoint = np.linalg.norm(positions[:, -1] - targets, axis=1)
    direction = targets / np.linalg.norm(targets, axis=1, keepdims=True)
    moving = positions[:, n_before_go:]
    # The 2-D cross product of the reach direction with the position is the signed
    # distance from the straight path, positive to its left.
    offset = direction[:, None, 0] * moving[..., 1] - direction[:, None, 1] * moving[..., 0]
    largest = np.argmax(np.abs(offset), axis=1)
    lateral = offset[np.arange(len(offset)), largest]
    return ReachErrors(endpoint=endpoint, lateral=lateral)
