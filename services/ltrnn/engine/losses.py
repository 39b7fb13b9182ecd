"""Masked losses and the held-out scores normalised by the data's spread."""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAUSSIAN = "gaussian"
POISSON = "poisson"


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    count = mask.sum()
    return (values * mask).sum() / count.clamp(min=1)


def data_loss(prediction, target, mask, kind: str) -> torch.Tensor:
    """Mean squared error (Gaussian) or Poisson negative log-likelihood over masked entries.

    ``prediction`` is the mean (Gaussian) or the positive rate (Poisson). The Poisson loss
    drops the constant log(y!) term.
    """
    if kind == GAUSSIAN:
        return masked_mean((prediction - target) ** 2, mask)
    return masked_mean(prediction - target * torch.log(prediction + 1e-8), mask)


def deviance(prediction, target, kind: str) -> torch.Tensor:
    """Entry-wise deviance: squared error (Gaussian) or Poisson deviance."""
    if kind == GAUSSIAN:
        return (prediction - target) ** 2
    rate = prediction.clamp(min=1e-8)
    log_ratio = torch.where(target > 0, torch.log(target.clamp(min=1e-8) / rate), 0.0)
    return 2.0 * (target * log_ratio - (target - rate))


def reference_deviance(target, observed, kind: str) -> float:
    """Mean deviance of the constant prediction by the mean of all observed entries.

    For the Gaussian loss this is the data variance, so a normalised loss of 1 means no
    better than predicting the grand mean.
    """
    mean = masked_mean(target, observed)
    value = masked_mean(deviance(mean.expand_as(target), target, kind), observed)
    return float(value.clamp(min=1e-12))


def normalised_loss(prediction, target, mask, kind: str, reference: float) -> float:
    """Mean deviance over masked entries divided by ``reference``; NaN when the mask is empty."""
    if not bool(mask.any()):
        return float("nan")
    return float(masked_mean(deviance(prediction, target, kind), mask)) / reference


def inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    return value + torch.log(-torch.expm1(-value))


def link(eta: torch.Tensor, kind: str) -> torch.Tensor:
    """Map the readout to the predicted mean: identity (Gaussian) or softplus (Poisson)."""
    return eta if kind == GAUSSIAN else F.softplus(eta)
