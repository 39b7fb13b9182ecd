"""Settings of the task-trained RNN experiment, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real


def _describe(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")


def _check_real(name: str, value, *, minimum: float | None = None, strict: bool = False) -> None:
    if minimum is None:
        allowed = "a finite number"
    else:
        allowed = f"a finite number {'>' if strict else '>='} {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be {allowed}, got {_describe(value)}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {allowed}, got {value:g}")


@dataclass(frozen=True)
class TaskRNNConfig:
    """Settings of the centre-out reaching experiment with a curl field.

    Times are in seconds and distances in units of the target distance's own unit (the
    defaults put the targets on the unit circle), so the curl strength is in 1/s.

    Parameters
    ----------
    n_units : int, default=200
        Number of RNN units N.
    n_targets : int, default=8
        Number of reach targets, evenly spaced on a circle starting at angle 0.
    target_distance : float, default=1.0
        Radius of the target circle.
    n_times : int, default=41
        Time bins T per trial.
    n_before_go : int, default=20
        Bins before the go cue; bin ``n_before_go`` has time 0.
    dt : float, default=0.025
        Bin width in seconds; the step of the Euler integration of network and hand.
    tau : float, default=0.1
        Time constant of the units in seconds; must be >= ``dt`` so that the Euler step
        ``dt / tau`` is at most 1.
    movement_bins : int, default=10
        Bins after the go cue in which the hand travels freely. From then to the end of
        the trial the loss penalises its distance to the target.
    init_gain : float, default=0.9
        Standard deviation of the initial recurrent weights times sqrt(n_units).
    curl_strength : float, default=2.0
        Curl field constant k in 1/s: the field adds k [[0, -1], [1, 0]] v to the hand's
        acceleration in curl-field trials. Negative values turn the field clockwise.
    baseline_trials, curl_trials, washout_trials : int, default=50, 100, 100
        Recorded trials per epoch (null field, curl field, null field again).
    learning_rate : float, default=0.05
        Step size of the plain SGD update of the recurrent weights after each recorded
        trial. Zero records a network that does not learn.
    pretrain_steps : int, default=1000
        Adam steps of pre-training on all targets in the null field.
    pretrain_learning_rate : float, default=3e-3
        Adam learning rate of pre-training.
    velocity_penalty : float, default=0.1
        Weight of the squared hand speed at the last bin.
    effort_penalty : float, default=1e-4
        Weight of the mean squared force output.
    rate_penalty : float, default=1e-3
        Weight of the mean squared firing rate tanh(x).
    seed : int, default=0
        Seed of the initial weights and of the order of targets.
    """

    n_units: int = 200
    n_targets: int = 8
    target_distance: float = 1.0
    n_times: int = 41
    n_before_go: int = 20
    dt: float = 0.025
    tau: float = 0.1
    movement_bins: int = 10
    init_gain: float = 0.9
    curl_strength: float = 2.0
    baseline_trials: int = 50
    curl_trials: int = 100
    washout_trials: int = 100
    learning_rate: float = 0.05
    pretrain_steps: int = 1000
    pretrain_learning_rate: float = 3e-3
    velocity_penalty: float = 0.1
    effort_penalty: float = 1e-4
    rate_penalty: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        _check_int("n_units", self.n_units, 1)
        _check_int("n_targets", self.n_targets, 1)
        _check_real("target_distance", self.target_distance, minimum=0.0, strict=True)
        _check_int("n_times", self.n_times, 2)

        _check_int("n_before_go", self.n_before_go, 1)
        if self.n_before_go >= self.n_times:
            raise ValueError(
                f"n_before_go must be smaller than n_times ({self.n_times}) so that the "
                f"trial has bins after the go cue, got {self.n_before_go}"
            )

        _check_real("dt", self.dt, minimum=0.0, strict=True)
        _check_real("tau", self.tau, minimum=0.0, strict=True)
        if self.tau < self.dt:
            raise ValueError(
                f"tau must be >= dt ({self.dt:g} s) so that the Euler step dt / tau is at "
                f"most 1, got {self.tau:g}"
            )

        _check_int("movement_bins", self.movement_bins, 0)
        after_go = self.n_times - self.n_before_go
        if self.movement_bins >= after_go:
            raise ValueError(
                f"movement_bins must be smaller than the {after_go} bins after the go cue "
                f"(n_times - n_before_go) so that some bins penalise the distance to the "
                f"target, got {self.movement_bins}"
            )

        _check_real("init_gain", self.init_gain, minimum=0.0)
        _check_real("curl_strength", self.curl_strength)

        for name in ("baseline_trials", "curl_trials", "washout_trials"):
            _check_int(name, getattr(self, name), 0)
        if self.n_trials == 0:
            raise ValueError(
                "baseline_trials, curl_trials and washout_trials are all 0; record at least "
                "one trial"
            )

        _check_real("learning_rate", self.learning_rate, minimum=0.0)
        _check_int("pretrain_steps", self.pretrain_steps, 0)
        _check_real("pretrain_learning_rate", self.pretrain_learning_rate, minimum=0.0,
                    strict=True)
        for name in ("velocity_penalty", "effort_penalty", "rate_penalty"):
            _check_real(name, getattr(self, name), minimum=0.0)
        _check_int("seed", self.seed, 0)

    @property
    def n_trials(self) -> int:
        """Number of recorded trials K over all epochs."""
        return self.baseline_trials + self.curl_trials + self.washout_trials

    def to_dict(self) -> dict:
        """Return the settings as a dict of plain Python values (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TaskRNNConfig":
        """Build a config from :meth:`to_dict` output; unknown keys raise ValueError."""
        if not isinstance(values, dict):
            raise ValueError(f"values must be a dict, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown TaskRNNConfig fields {unknown}; allowed fields are {sorted(known)}"
            )
        return cls(**values)
