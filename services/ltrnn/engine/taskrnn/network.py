"""The tanh rate RNN that controls the hand."""

from __future__ import annotations

import math

import torch
from torch import nn


class TanhRNN(nn.Module):
    """Continuous-time tanh RNN, Euler-integrated on the bin grid.

    ``tau dx/dt = -x + W tanh(x) + B u + bias`` becomes
    ``x[t+1] = x[t] + (dt / tau) (-x[t] + W r[t] + B u[t] + bias)`` with ``r = tanh(x)``,
    and the hand force is ``C r[t]``. An ltrRNN fit integrates the same equation with the
    same step. The state starts at x = 0 in every trial, so the rate of the first bin is 0.

    Parameters
    ----------
    n_units, n_inputs, n_outputs : int
    step : float
        Euler step ``dt / tau``, in (0, 1].
    init_gain : float
        W starts as N(0, init_gain^2 / n_units), B as N(0, 1 / n_inputs), C as
        N(0, 1 / n_units) and the bias as 0.
    generator : torch.Generator
        Source of the initial weights.
    dtype : torch.dtype, default=torch.float64

    Attributes
    ----------
    recurrent : Parameter of shape (n_units, n_units)
        W; row i contains the weights onto unit i.
    input_weights : Parameter of shape (n_units, n_inputs)
        B.
    readout : Parameter of shape (n_outputs, n_units)
        C.
    bias : Parameter of shape (n_units,)
    """

    def __init__(
        self,
        n_units: int,
        n_inputs: int,
        n_outputs: int,
        step: float,
        init_gain: float,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        self.step = float(step)
        scale = init_gain / math.sqrt(n_units)
        self.recurrent = nn.Parameter(
            scale * torch.randn(n_units, n_units, generator=generator, dtype=dtype)
        )
        self.input_weights = nn.Parameter(
            torch.randn(n_units, n_inputs, generator=generator, dtype=dtype)
            / math.sqrt(n_inputs)
        )
        self.readout = nn.Parameter(
            torch.randn(n_outputs, n_units, generator=generator, dtype=dtype)
            / math.sqrt(n_units)
        )
        self.bias = nn.Parameter(torch.zeros(n_units, dtype=dtype))

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a batch of trials.

        Parameters
        ----------
        inputs : tensor of shape (batch, n_times, n_inputs)

        Returns
        -------
        rates : tensor of shape (batch, n_times, n_units)
            tanh(x) at every bin.
        outputs : tensor of shape (batch, n_times, n_outputs)
            C tanh(x) at every bin.
        """
        batch, n_times, _ = inputs.shape
        # x[t+1] = (1 - step) x[t] + step (W r[t] + drive[t]), with the constant factors
        # applied once outside the loop so that each bin costs one tanh and one addmm.
        # unbind keeps the backward pass from allocating a full-size gradient per bin, as
        # indexing scaled_drive[:, t] would.
        scaled_drive = (self.step * (inputs @ self.input_weights.T + self.bias)).unbind(1)
        scaled_recurrent = self.step * self.recurrent
        decay = 1.0 - self.step
        state = inputs.new_zeros(batch, self.recurrent.shape[0])
        rates = []
        for t in range(n_times):
            rate = torch.tanh(state)
            rates.append(rate)
            if t + 1 < n_times:
                state = torch.addmm(scaled_drive[t] + decay * state, rate, scaled_recurrent.T)
        rates = torch.stack(rates, dim=1)
        return rates, rates @ self.readout.T
