"""Hyperparameters of one ltrRNN fit, validated on construction."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

LOSSES = ("auto", "gaussian", "poisson")
READOUT_SCALES = ("none", "scalar", "neuron")
DEVICES = ("auto", "cpu", "cuda")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")


def _check_float(name, value, minimum, *, inclusive=True, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (not inclusive and value == minimum):
        bound = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be {bound} {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")


@dataclass(frozen=True)
class FitConfig:
    """Hyperparameters of one ltrRNN fit.

    Defaults follow the reference implementation where it fixes a value (learning rate 1e-3,
    regularisation 0.01, 20% trial dropout, GP length 15 trials, sigma 0.1, s_obs 0.1).

    Parameters
    ----------
    rank : int, default=3
        Tensor rank R of the recurrent weights.
    rnn_size : int, default=50
        Number of latent RNN units N.
    iterations : int, default=2000
        Maximum number of Adam iterations.
    seed : int, default=0
        Seed of parameter initialisation and trial dropout.
    learning_rate : float, default=1e-3
        Adam learning rate.
    tau : float, default=2.0
        Time constant of the units, in time bins.
    substeps : int, default=1
        Euler steps per time bin.
    trial_dropout : float, default=0.2
        Fraction of trials left out of the loss at each iteration.
    activity_regularization : float, default=0.01
        Weight of mean(x^2) in the loss.
    input_regularization : float, default=0.01
        Weight of mean(u^2) in the loss.
    gp_length : float, default=15.0
        Length scale, in trials, of the rational-quadratic kernel on trial_id.
    gp_sigma : float, default=0.1
        Amplitude sigma of that kernel.
    gp_noise : float, default=0.1
        Standard deviation s_obs of the independent per-trial term.
    epoch_breaks : bool, default=True
        Make the kernel block-diagonal by epoch so trial factors may jump between epochs.
    input_after_go : bool, default=False
        Let the condition inputs act after the preparatory window too.
    readout_scale : {"none", "scalar", "neuron"}, default="neuron"
        Learned gain of the readout: none, one for all neurons, or one per neuron.
    readout_offset : bool, default=True
        Learn a per-neuron offset of the readout.
    loss : {"auto", "gaussian", "poisson"}, default="auto"
        "auto" takes Poisson for spike counts and Gaussian for rates.
    eval_every : int, default=10
        Iterations between validation evaluations (and progress reports).
    patience : int, default=200
        Stop when the validation loss has not improved for this many iterations.
    init_scale : float, default=1.0
        Initial mean trial factor mu_r, which sets the initial strength of recurrence.
    """

    rank: int = 3
    rnn_size: int = 50
    iterations: int = 2000
    seed: int = 0
    learning_rate: float = 1e-3
    tau: float = 2.0
    substeps: int = 1
    trial_dropout: float = 0.2
    activity_regularization: float = 0.01
    input_regularization: float = 0.01
    gp_length: float = 15.0
    gp_sigma: float = 0.1
    gp_noise: float = 0.1
    epoch_breaks: bool = True
    input_after_go: bool = False
    readout_scale: str = "neuron"
    readout_offset: bool = True
    loss: str = "auto"
    eval_every: int = 10
    patience: int = 200
    init_scale: float = 1.0

    def __post_init__(self):
        _check_int("rank", self.rank, 1)
        _check_int("rnn_size", self.rnn_size, 1)
        if self.rank > self.rnn_size:
            raise ValueError(
                f"rank must be <= rnn_size, got rank={self.rank} and rnn_size={self.rnn_size}"
            )
        _check_int("iterations", self.iterations, 1)
        _check_int("seed", self.seed, 0)
        _check_float("learning_rate", self.learning_rate, 0.0, inclusive=False)
        _check_float("tau", self.tau, 0.0, inclusive=False)
        _check_int("substeps", self.substeps, 1)
        _check_float("trial_dropout", self.trial_dropout, 0.0, maximum=0.9)
        _check_float("activity_regularization", self.activity_regularization, 0.0)
        _check_float("input_regularization", self.input_regularization, 0.0)
        _check_float("gp_length", self.gp_length, 0.0, inclusive=False)
        _check_float("gp_sigma", self.gp_sigma, 0.0)
        _check_float("gp_noise", self.gp_noise, 0.0, inclusive=False)
        for name in ("epoch_breaks", "input_after_go", "readout_offset"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.readout_scale not in READOUT_SCALES:
            raise ValueError(
                f"readout_scale must be one of {READOUT_SCALES}, got {self.readout_scale!r}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        _check_int("eval_every", self.eval_every, 1)
        _check_int("patience", self.patience, 1)
        _check_float("init_scale", self.init_scale, 0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FitConfig":
        """Build a FitConfig from a mapping; unknown keys raise ValueError listing the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown FitConfig fields {unknown}; known fields are {sorted(known)}"
            )
        return cls(**values)

    def replace(self, **changes) -> "FitConfig":
        return dataclasses.replace(self, **changes)
