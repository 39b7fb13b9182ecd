"""The recorded experiment: weights, rates and behaviour of every trial."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from ..recording import RATES, Recording
from .config import TaskRNNConfig
from .task import bin_times, target_labels, target_positions

BASELINE = "baseline"
CURL = "curl"
WASHOUT = "washout"
EPOCHS = (BASELINE, CURL, WASHOUT)
SIDES = ("column", "row")


def _describe(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, eq=False)
class TaskRNNExperiment:
    """Ground-truth learning experiment of a task-trained RNN.

    Trial k's rates and hand path come from the network with recurrent weights
    ``weights[k]``; the SGD step of trial k turns them into ``weights[k + 1]``.

    Attributes
    ----------
    config : TaskRNNConfig
    weights : ndarray of shape (n_trials, n_units, n_units)
        Recurrent weights W^(k) before trial k's update; row i contains the weights onto unit i.
    rates : ndarray of shape (n_trials, n_units, n_times)
        tanh(x) of every unit and bin, the activity that an ltrRNN fits as rates.
    hand_position, hand_velocity : ndarray of shape (n_trials, n_times, 2)
    target_index : ndarray of int64, shape (n_trials,)
        Index of each trial's target into :attr:`targets`.
    epoch : ndarray of str, shape (n_trials,)
        "baseline", "curl" or "washout".
    loss : ndarray of shape (n_trials,)
        Task loss of each trial, the one its SGD step descends.
    endpoint_error : ndarray of shape (n_trials,)
        Distance from hand to target at the last bin.
    lateral_error : ndarray of shape (n_trials,)
        Signed largest deviation from the straight path after the go cue, positive
        counter-clockwise.
    input_weights : ndarray of shape (n_units, 3)
        B, for the inputs target x, target y, go signal.
    readout : ndarray of shape (2, n_units)
        C, from rates to hand force.
    bias : ndarray of shape (n_units,)
    pretrain_loss : ndarray of shape (pretrain_steps,)
        Pre-training loss at each Adam step, before that step's update.
    pretrain_seconds, learning_seconds : float
        Wall-clock time of pre-training and of the recorded trials.
    """

    config: TaskRNNConfig
    weights: np.ndarray
    rates: np.ndarray
    hand_position: np.ndarray
    hand_velocity: np.ndarray
    target_index: np.ndarray
    epoch: np.ndarray
    loss: np.ndarray
    endpoint_error: np.ndarray
    lateral_error: np.ndarray
    input_weights: np.ndarray
    readout: np.ndarray
    bias: np.ndarray
    pretrain_loss: np.ndarray
    pretrain_seconds: float = 0.0
    learning_seconds: float = 0.0

    def __post_init__(self):
        config = self.config
        if not isinstance(config, TaskRNNConfig):
            raise ValueError(f"config must be a TaskRNNConfig, got {type(config).__name__}")
        K, N, T = config.n_trials, config.n_units, config.n_times
        expected = {
            "weights": (K, N, N),
            "rates": (K, N, T),
            "hand_position": (K, T, 2),
            "hand_velocity": (K, T, 2),
            "target_index": (K,),
            "epoch": (K,),
            "loss": (K,),
            "endpoint_error": (K,),
            "lateral_error": (K,),
            "input_weights": (N, 3),
            "readout": (2, N),
            "bias": (N,),
            "pretrain_loss": (config.pretrain_steps,),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ValueError(
                    f"{name} must have shape {shape} for this config, got {value.shape}"
                )
            object.__setattr__(self, name, value)
        if np.any((self.target_index < 0) | (self.target_index >= config.n_targets)):
            raise ValueError(
                f"target_index must lie in [0, {config.n_targets}), got values from "
                f"{self.target_index.min()} to {self.target_index.max()}"
            )
        unknown = sorted(set(self.epoch.tolist()) - set(EPOCHS))
        if unknown:
            raise ValueError(f"epoch labels must be among {EPOCHS}, got {unknown}")

    @property
    def n_trials(self) -> int:
        return self.config.n_trials

    @property
    def n_units(self) -> int:
        return self.config.n_units

    @property
    def times(self) -> np.ndarray:
        """Bin times in seconds, shape (n_times,); negative before the go cue."""
        return bin_times(self.config)

    @property
    def targets(self) -> np.ndarray:
        """Target positions, shape (n_targets, 2)."""
        return target_positions(self.config)

    @property
    def condition(self) -> np.ndarray:
        """Target label of each trial (direction in degrees as text), shape (n_trials,)."""
        return np.array(target_labels(self.config), dtype=np.str_)[self.target_index]

    @property
    def curl_strength(self) -> np.ndarray:
        """Field constant of each trial in 1/s, shape (n_trials,); 0 in null-field trials."""
        return np.where(self.epoch == CURL, self.config.curl_strength, 0.0)

    def weight_changes(self) -> np.ndarray:
        """Return the learning tensor W^(k) - W^(0), shape (n_trials, n_units, n_units).

        W^(0) is the weight matrix of the first recorded trial, so the first slice is 0.
        """
        return self.weights - self.weights[0]

    def top_weight_change_subspace(self, dim: int, side: str = "column") -> np.ndarray:
        """Find the dominant subspace of the weight changes.

        Parameters
        ----------
        dim : int
            Dimension of the subspace, 1 .. n_units.
        side : {"column", "row"}, default="column"
            "column": left singular vectors of the changes side by side, shape
            (n_units, n_trials * n_units), i.e. the space the changes write into (the
            ltrRNN's span{a_r}). "row": the space the changes read from (span{b_r}).

        Returns
        -------
        ndarray of shape (n_units, dim)
            Orthonormal basis, ordered by singular value.
        """
        n_units = self.n_units
        if isinstance(dim, bool) or not isinstance(dim, Integral) or not 1 <= dim <= n_units:
            raise ValueError(f"dim must be an integer in [1, {n_units}], got {_describe(dim)}")
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {_describe(side)}")
        changes = self.weight_changes()
        if side == "row":
            changes = changes.transpose(0, 2, 1)
        stacked = changes.transpose(1, 0, 2).reshape(n_units, -1)
        basis, _, _ = np.linalg.svd(stacked, full_matrices=False)
        return basis[:, :dim]

    def select_units(self, units=None, seed: int = 0) -> np.ndarray:
        """Pick the units that :meth:`to_recording` shows as recorded neurons.

        Parameters
        ----------
        units : None, int or array-like of int, default=None
            None: every unit. An int M: M distinct units drawn at random with ``seed``,
            sorted. An array: those unit indices, in the given order.
        seed : int, default=0

        Returns
        -------
        ndarray of int64, shape (n_recorded,)
        """
        n_units = self.n_units
        if units is None:
            return np.arange(n_units, dtype=np.int64)
        if isinstance(units, Integral) and not isinstance(units, bool):
            if not 1 <= units <= n_units:
                raise ValueError(
                    f"units must be None, a count in [1, {n_units}] or unit indices, got {units}"
                )
            if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer, got {_describe(seed)}")
            chosen = np.random.default_rng(seed).choice(n_units, size=units, replace=False)
            return np.sort(chosen).astype(np.int64)
        index = np.asarray(units)
        if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(
                f"units must be None, a count in [1, {n_units}] or a non-empty 1-D array of "
                f"unit indices, got {_describe(units)}"
            )
        if index.min() < 0 or index.max() >= n_units:
            raise ValueError(
                f"units must index units in [0, {n_units}), got values from {index.min()} "
                f"to {index.max()}"
            )
        if len(np.unique(index)) != len(index):
            raise ValueError("units must not repeat a unit index")
        return index.astype(np.int64)

    def to_recording(self, units=None, seed: int = 0) -> Recording:
        """Return the rates as a Recording of kind "rates".

        Conditions are target labels, epochs "baseline" / "curl" / "washout" (those with
        trials), trial ids 0 .. n_trials - 1 and times in seconds from the go cue.

        Parameters
        ----------
        units, seed
            Which units become recorded neurons; see :meth:`select_units`.
        """
        index = self.select_units(units, seed)
        return Recording.from_arrays(
            self.rates[:, index, :],
            condition=self.condition,
            epoch=self.epoch,
            trial_id=np.arange(self.n_trials, dtype=np.int64),
            times=self.times,
            kind=RATES,
        )

    def summary(self, window: int | None = None) -> dict:
        """Summarise the behaviour at the start and end of each epoch.

        Parameters
        ----------
        window : int, optional
            Trials averaged at each end of an epoch. Default: ``n_targets``, so that each
            average covers every target once at an epoch's start.

        Returns
        -------
        dict
            ``{epoch: {"trials", "endpoint_first", "endpoint_last", "lateral_first",
            "lateral_last", "loss_first", "loss_last"}}`` for each epoch with trials, with
            mean endpoint errors, mean absolute lateral errors and mean losses over the
            first and the last ``window`` trials.
        """
        if window is None:
            window = self.config.n_targets
        if isinstance(window, bool) or not isinstance(window, Integral) or window < 1:
            raise ValueError(f"window must be a positive integer, got {_describe(window)}")
        result = {}
        for label in EPOCHS:
            trials = np.flatnonzero(self.epoch == label)
            if trials.size == 0:
                continue
            first, last = trials[:window], trials[-window:]
            result[label] = {
                "trials": int(trials.size),
                "endpoint_first": float(self.endpoint_error[first].mean()),
                "endpoint_last": float(self.endpoint_error[last].mean()),
                "lateral_first": float(np.abs(self.lateral_error[first]).mean()),
                "lateral_last": float(np.abs(self.lateral_error[last]).mean()),
                "loss_first": float(self.loss[first].mean()),
                "loss_last": float(self.loss[last].mean()),
            }
        return result

    def save(self, path) -> str:
        """Write the experiment to an .npz file (no pickled objects); return the path written.

        ".npz" is appended to a path without that suffix.
        """
        from .io import save_experiment

        return save_experiment(self, path)

    @classmethod
    def load(cls, path) -> "TaskRNNExperiment":
        """Read an experiment written by :meth:`save`."""
        from .io import load_experiment

        return load_experiment(path)
