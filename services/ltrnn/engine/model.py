"""The low-tensor-rank RNN: W^(k) = sum_r c[k, r] a_r b_r^T with smooth trial factors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import FitConfig
from .dynamics import integrate
from .losses import GAUSSIAN, inverse_softplus, link


@dataclass
class ModelParameters:
    """Derived, constrained parameters of a fitted ltrRNN as torch tensors.

    Shapes:

    - column, row: (N, R), unit-norm columns
    - trial_factors: (K, R)
    - readout: (M, N), orthonormal columns when M >= N, else orthonormal rows
    - scale: (M,) or (1,); offset: (M,)
    - inputs: (C, T, R), already zero outside the input window
    - initial: (C, R); bias: (R,)
    """

    column: torch.Tensor
    row: torch.Tensor
    trial_factors: torch.Tensor
    readout: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor
    inputs: torch.Tensor
    initial: torch.Tensor
    bias: torch.Tensor


def simulate(
    params: ModelParameters,
    trial_factors: torch.Tensor,
    condition_index: torch.Tensor,
    *,
    tau: float,
    substeps: int,
    kind: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run trials with the given trial factors (n, R) and condition codes (n,).

    Returns the predicted mean (n, M, T), the latents z (n, T, R) and the unit activity
    tanh(A z) (n, T, N).
    """
    inputs = params.inputs[condition_index]
    initial = params.initial[condition_index]
    latents, rates = integrate(
        params.column, params.row, trial_factors, inputs, initial, params.bias,
        tau=tau, substeps=substeps,
    )
    eta = (rates @ params.readout.T) * params.scale + params.offset
    return link(eta, kind).transpose(1, 2), latents, rates


def _unit_columns(matrix: torch.Tensor) -> torch.Tensor:
    return matrix / matrix.norm(dim=0, keepdim=True).clamp(min=1e-12)


def _orthonormal(matrix: torch.Tensor) -> torch.Tensor:
    """Orthonormalise the columns of (M, N) when M >= N, else its rows."""
    if matrix.shape[0] >= matrix.shape[1]:
        q, r = torch.linalg.qr(matrix)
        return q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    q, r = torch.linalg.qr(matrix.T)
    return (q * torch.sign(torch.diagonal(r)).unsqueeze(0)).T


class LowTensorRankRNN(nn.Module):
    """Trainable ltrRNN for one recording.

    Parameters
    ----------
    config : FitConfig
    n_neurons, n_conditions : int
    input_window : ndarray of bool, shape (T,)
        Bins where condition inputs act.
    cholesky : ndarray of shape (K, K)
        Factor L of the trial-factor prior covariance.
    neuron_mean, neuron_std : ndarray of shape (M,)
        Used to initialise the readout offset and scale.
    kind : {"gaussian", "poisson"}
    generator : torch.Generator
        Source of the random initialisation, so that a seed fixes the result.
    """

    def __init__(
        self,
        config: FitConfig,
        n_neurons: int,
        n_conditions: int,
        input_window: np.ndarray,
        cholesky: np.ndarray,
        neuron_mean: np.ndarray,
        neuron_std: np.ndarray,
        kind: str,
        generator: torch.Generator,
    ):
        super().__init__()
        self.config = config
        self.kind = kind
        n_units, rank = config.rnn_size, config.rank
        n_trials = cholesky.shape[0]
        n_times = len(input_window)

        def randn(*shape, std=1.0):
            return nn.Parameter(torch.randn(*shape, generator=generator, dtype=torch.float64).float() * std)

        self.column_raw = randn(n_units, rank)
        self.row_raw = randn(n_units, rank)
        self.trial_mean = nn.Parameter(torch.full((rank,), float(config.init_scale)))
        self.trial_noise = nn.Parameter(torch.zeros(n_trials, rank))
        self.inputs_raw = randn(n_conditions, n_times, rank, std=0.1)
        self.initial = randn(n_conditions, rank, std=0.1)
        self.bias = nn.Parameter(torch.zeros(rank))
        self.readout_raw = randn(n_neurons, n_units)

        mean = torch.as_tensor(neuron_mean, dtype=torch.float32)
        std = torch.as_tensor(neuron_std, dtype=torch.float32).clamp(min=1e-3)
        if kind == GAUSSIAN:
            offset, gain = mean, std
        else:
            offset, gain = inverse_softplus(mean.clamp(min=1e-3)), torch.full_like(mean, 0.5)
        if config.readout_scale == "neuron":
            self.scale = nn.Parameter(gain)
        elif config.readout_scale == "scalar":
            self.scale = nn.Parameter(gain.mean().reshape(1))
        else:
            self.register_buffer("scale", gain.mean().reshape(1))
        if config.readout_offset:
            self.offset = nn.Parameter(offset)
        else:
            self.register_buffer("offset", offset)

        self.register_buffer("cholesky", torch.as_tensor(cholesky, dtype=torch.float32))
        self.register_buffer("input_window", torch.as_tensor(input_window, dtype=torch.float32))

    def parameters_view(self) -> ModelParameters:
        """Return the constrained parameters derived from the raw ones."""
        return ModelParameters(
            column=_unit_columns(self.column_raw),
            row=_unit_columns(self.row_raw),
            trial_factors=self.trial_mean + self.cholesky @ self.trial_noise,
            readout=_orthonormal(self.readout_raw),
            scale=self.scale,
            offset=self.offset,
            inputs=self.inputs_raw * self.input_window[None, :, None],
            initial=self.initial,
            bias=self.bias,
        )

    def forward(self, trials: torch.Tensor, condition_index: torch.Tensor):
        """Simulate the given trial indices; returns (prediction, latents, constrained parameters)."""
        params = self.parameters_view()
        prediction, latents, rates = simulate(
            params, params.trial_factors[trials], condition_index[trials],
            tau=self.config.tau, substeps=self.config.substeps, kind=self.kind,
        )
        return prediction, latents, params
