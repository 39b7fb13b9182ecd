"""Integration of ltrRNN dynamics in the coordinates of the column factors.

Inputs, bias and initial state lie in span{a_r}, and so does W^(k) phi(x) = A (c_k * (B^T
phi(x))). The state therefore stays x_k(t) = A z_k(t) for an R-vector z_k(t), and

    tau dz/dt = -z + c_k * (B^T tanh(A z)) + u_k(t) + bias.

Each Euler step costs O(K N R): the (K, N, N) weight tensor is never built.
"""

from __future__ import annotations

import torch


def integrate(
    column: torch.Tensor,
    row: torch.Tensor,
    trial_factors: torch.Tensor,
    inputs: torch.Tensor,
    initial: torch.Tensor,
    bias: torch.Tensor,
    *,
    tau: float,
    substeps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate the dynamics on the bin grid with fixed-step Euler.

    Parameters
    ----------
    column, row : Tensor of shape (N, R)
        Unit-norm column factors A and row factors B.
    trial_factors : Tensor of shape (K, R)
        c_k for each simulated trial.
    inputs : Tensor of shape (K, T, R)
        Input u_k(t) in factor coordinates; the input of bin t drives the step from t to t+1.
    initial : Tensor of shape (K, R)
        z_k(0).
    bias : Tensor of shape (R,)
    tau : float
        Time constant in bins.
    substeps : int
        Euler steps per bin.

    Returns
    -------
    latents : Tensor of shape (K, T, R)
        z_k(t) at every bin.
    rates : Tensor of shape (K, T, N)
        tanh(A z_k(t)), the unit activity that the readout maps to neurons.
    """
    n_times = inputs.shape[1]
    step = 1.0 / (tau * substeps)
    z = initial
    latents = []
    rates = []
    for t in range(n_times):
        activity = torch.tanh(z @ column.T)
        latents.append(z)
        rates.append(activity)
        if t == n_times - 1:
            break
        drive = inputs[:, t] + bias
        for substep in range(substeps):
            if substep > 0:
                activity = torch.tanh(z @ column.T)
            recurrent = (activity @ row) * trial_factors
            z = z + step * (-z + recurrent + drive)
    return torch.stack(latents, dim=1), torch.stack(rates, dim=1)
