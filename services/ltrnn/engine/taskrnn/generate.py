"""Pre-train the reaching RNN, then record its learning trial by trial."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .config import TaskRNNConfig
from .experiment import BASELINE, CURL, WASHOUT, TaskRNNExperiment
from .network import TanhRNN
from .task import (
    N_INPUTS,
    N_OUTPUTS,
    move_hand,
    reach_errors,
    target_positions,
    task_loss,
    trial_inputs,
)

PRETRAIN = "pretrain"
LEARNING = "learning"

# Pre-training clips the gradient norm so that the first Adam steps from a random network,
# whose hand may fly far off, cannot throw the weights into saturation.
_PRETRAIN_GRADIENT_CLIP = 1.0


@dataclass(frozen=True)
class GenerationProgress:
    """Progress report of :func:`generate_task_rnn`.

    Attributes
    ----------
    stage : {"pretrain", "learning"}
    step : int
        Steps done in this stage (1-based).
    total : int
        Steps in this stage: Adam steps or recorded trials.
    loss : float
        Task loss of the step, before its update.
    elapsed_seconds : float
        Time since the stage began.
    """

    stage: str
    step: int
    total: int
    loss: float
    elapsed_seconds: float


def trial_order(config: TaskRNNConfig) -> tuple[np.ndarray, np.ndarray]:
    """Draw the target of each recorded trial and label its epoch.

    Each epoch runs through the targets in cycles, each cycle in a fresh random order, so
    every run of ``n_targets`` trials from an epoch's start contains every target once.

    Returns
    -------
    target_index : ndarray of int64, shape (n_trials,)
    epoch : ndarray of str, shape (n_trials,)
    """
    rng = np.random.default_rng(config.seed)
    indices = []
    labels = []
    for label, count in (
        (BASELINE, config.baseline_trials),
        (CURL, config.curl_trials),
        (WASHOUT, config.washout_trials),
    ):
        n_cycles = -(-count // config.n_targets)
        cycles = [rng.permutation(config.n_targets) for _ in range(n_cycles)]
        order = np.concatenate(cycles) if cycles else np.zeros(0, dtype=np.int64)
        indices.append(order[:count])
        labels.extend([label] * count)
    return np.concatenate(indices).astype(np.int64), np.array(labels, dtype=np.str_)


def _run_trials(network, inputs, targets, config, curl_strength):
    rates, forces = network(inputs)
    positions, velocities = move_hand(forces, config.dt, curl_strength)
    loss = task_loss(positions, velocities, forces, rates, targets, config)
    return loss, rates, positions, velocities


def pretrain(
    network: TanhRNN,
    config: TaskRNNConfig,
    progress: Callable[[GenerationProgress], None] | None = None,
) -> np.ndarray:
    """Train every parameter with Adam on all targets at once, in the null field.

    Returns
    -------
    ndarray of shape (pretrain_steps,)
        Loss at each step, before that step's update.
    """
    targets = torch.as_tensor(target_positions(config))
    inputs = trial_inputs(targets, config)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.pretrain_learning_rate)
    history = np.zeros(config.pretrain_steps)
    start = time.perf_counter()
    for step in range(config.pretrain_steps):
        optimizer.zero_grad()
        loss, *_ = _run_trials(network, inputs, targets, config, curl_strength=0.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), _PRETRAIN_GRADIENT_CLIP)
        optimizer.step()
        history[step] = loss.item()
        if progress is not None:
            progress(GenerationProgress(
                PRETRAIN, step + 1, config.pretrain_steps, history[step],
                time.perf_counter() - start,
            ))
    return history


def generate_task_rnn(
    config: TaskRNNConfig | None = None,
    *,
    progress: Callable[[GenerationProgress], None] | None = None,
) -> TaskRNNExperiment:
    """Pre-train a tanh RNN to reach, then record its learning in a curl field.

    After pre-training, the network runs ``baseline_trials`` null-field trials,
    ``curl_trials`` curl-field trials and ``washout_trials`` null-field trials, one target
    per trial. Each trial records the recurrent weights W, the rates and the hand path,
    then takes one plain SGD step on W alone with the trial's loss, so that the change of
    the dynamics across trials is the change of W. Input weights, readout and bias stay
    as pre-training left them.

    Parameters
    ----------
    config : TaskRNNConfig, optional
        Default: ``TaskRNNConfig()``.
    progress : callable, optional
        Called with a :class:`GenerationProgress` after every pre-training step and every
        recorded trial.

    Returns
    -------
    TaskRNNExperiment
        Identical for identical configs on the same machine and torch build.
    """
    if config is None:
        config = TaskRNNConfig()
    if not isinstance(config, TaskRNNConfig):
        raise ValueError(f"config must be a TaskRNNConfig, got {type(config).__name__}")

    generator = torch.Generator().manual_seed(config.seed)
    network = TanhRNN(
        config.n_units, N_INPUTS, N_OUTPUTS, step=config.dt / config.tau,
        init_gain=config.init_gain, generator=generator,
    )
    start = time.perf_counter()
    pretrain_loss = pretrain(network, config, progress)
    pretrain_seconds = time.perf_counter() - start

    target_index, epoch = trial_order(config)
    targets = torch.as_tensor(target_positions(config))
    inputs = trial_inputs(targets, config)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    recurrent = network.recurrent
    recurrent.requires_grad_(True)

    n_trials, n_units, n_times = config.n_trials, config.n_units, config.n_times
    weights = np.zeros((n_trials, n_units, n_units))
    rates = np.zeros((n_trials, n_units, n_times))
    positions = np.zeros((n_trials, n_times, 2))
    velocities = np.zeros((n_trials, n_times, 2))
    losses = np.zeros(n_trials)
    start = time.perf_counter()
    for k in range(n_trials):
        trial_slice = slice(target_index[k], target_index[k] + 1)
        curl_strength = config.curl_strength if epoch[k] == CURL else 0.0
        weights[k] = recurrent.detach().numpy()
        recurrent.grad = None
        loss, trial_rates, trial_positions, trial_velocities = _run_trials(
            network, inputs[trial_slice], targets[trial_slice], config, curl_strength,
        )
        loss.backward()
        with torch.no_grad():
            recurrent -= config.learning_rate * recurrent.grad
        rates[k] = trial_rates[0].detach().numpy().T
        positions[k] = trial_positions[0].detach().numpy()
        velocities[k] = trial_velocities[0].detach().numpy()
        losses[k] = loss.item()
        if progress is not None:
            progress(GenerationProgress(
                LEARNING, k + 1, n_trials, losses[k], time.perf_counter() - start,
            ))
    learning_seconds = time.perf_counter() - start

    errors = reach_errors(positions, target_positions(config)[target_index], config.n_before_go)
    return TaskRNNExperiment(
        config=config,
        weights=weights,
        rates=rates,
        hand_position=positions,
        hand_velocity=velocities,
        target_index=target_index,
        epoch=epoch,
        loss=losses,
        endpoint_error=errors.endpoint,
        lateral_error=errors.lateral,
        input_weights=network.input_weights.detach().numpy().copy(),
        readout=network.readout.detach().numpy().copy(),
        bias=network.bias.detach().numpy().copy(),
        pretrain_loss=pretrain_loss,
        pretrain_seconds=pretrain_seconds,
        learning_seconds=learning_seconds,
    )
