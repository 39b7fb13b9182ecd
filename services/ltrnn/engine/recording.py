"""Recordings across learning: a (trials, neurons, time) tensor with per-trial metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RATES = "rates"
COUNTS = "counts"
KINDS = (RATES, COUNTS)


def _describe(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, eq=False)
class Recording:
    """A recording of M neurons over K trials and T time bins, in recorded trial order.

    Build one with :meth:`from_arrays`, which validates every field; the constructor
    validates too, so an invalid Recording cannot exist.

    Attributes
    ----------
    data : ndarray of shape (n_trials, n_neurons, n_times), float64
        Firing rates or spike counts. Missing entries are NaN.
    mask : ndarray of bool, same shape as ``data``
        True where an entry is observed. ``data`` is NaN exactly where ``mask`` is False.
    condition : ndarray of shape (n_trials,), str
        Task condition of each trial (e.g. reach target), as text labels.
    epoch : ndarray of shape (n_trials,), str
        Block label of each trial; each label forms one contiguous run of trials.
    trial_id : ndarray of shape (n_trials,), int64
        Trial number in the session, strictly increasing (gaps allowed).
    times : ndarray of shape (n_times,), float64
        Bin times, strictly increasing. Bins with time < 0 are the preparatory window.
    kind : {"rates", "counts"}
        "counts" means non-negative integer spike counts (Poisson loss); "rates" means real
        values (Gaussian loss).
    """

    data: np.ndarray
    mask: np.ndarray
    condition: np.ndarray
    epoch: np.ndarray
    trial_id: np.ndarray
    times: np.ndarray
    kind: str = RATES
    _checked: bool = field(default=False, repr=False)

    def __post_init__(self):
        if not self._checked:
            checked = Recording.from_arrays(
                self.data, mask=self.mask, condition=self.condition, epoch=self.epoch,
                trial_id=self.trial_id, times=self.times, kind=self.kind,
            )
            for name in ("data", "mask", "condition", "epoch", "trial_id", "times", "kind"):
                object.__setattr__(self, name, getattr(checked, name))
            object.__setattr__(self, "_checked", True)

    @classmethod
    def from_arrays(
        cls,
        data,
        *,
        mask=None,
        condition=None,
        epoch=None,
        trial_id=None,
        times=None,
        kind: str | None = None,
    ) -> "Recording":
        """Validate arrays and build a Recording.

        Parameters
        ----------
        data : array-like of shape (n_trials, n_neurons, n_times)
            Rates or counts; NaN marks missing entries.
        mask : array-like of bool, same shape as ``data``, optional
            True where observed. Entries that are NaN in ``data`` are treated as missing
            whatever the mask contains. Default: every finite entry is observed.
        condition : array-like of shape (n_trials,), optional
            Hashable labels, stored as text. Default: one condition, "0".
        epoch : array-like of shape (n_trials,), optional
            Block labels; each label must form one contiguous run. Default: one epoch, "all".
        trial_id : array-like of int, shape (n_trials,), optional
            Strictly increasing trial numbers. Default: 0 .. n_trials - 1.
        times : array-like of shape (n_times,), optional
            Strictly increasing bin times. Default: 0 .. n_times - 1 (no preparatory window).
        kind : {"rates", "counts"}, optional
            Default: "counts" when every observed value is a non-negative integer and the
            input dtype is an integer type, else "rates".

        Raises
        ------
        ValueError
            Naming the argument, the bad value and what is allowed.
        """
        data = np.asarray(data)
        if data.dtype == object or not (
            np.issubdtype(data.dtype, np.number) or data.dtype == bool
        ):
            raise ValueError(
                f"data must be a numeric array, got dtype {data.dtype}; convert it with "
                "np.asarray(data, dtype=float)"
            )
        if np.iscomplexobj(data):
            raise ValueError("data must be real-valued, got a complex array")
        if data.ndim != 3:
            raise ValueError(
                f"data must have 3 dimensions (trials, neurons, time), got shape {data.shape}"
            )
        if 0 in data.shape:
            raise ValueError(
                f"data must be non-empty in every dimension, got shape {data.shape}"
            )
        integer_input = np.issubdtype(data.dtype, np.integer) or data.dtype == bool
        values = data.astype(np.float64)
        n_trials, n_neurons, n_times = values.shape

        observed = ~np.isnan(values)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != values.shape:
                raise ValueError(
                    f"mask must have the shape of data {values.shape}, got {mask.shape}"
                )
            if mask.dtype != bool:
                if not np.isin(mask, (0, 1)).all():
                    raise ValueError(
                        "mask must be boolean (True where observed), got values other than 0 and 1"
                    )
                mask = mask.astype(bool)
            observed &= mask
        # Checked after the mask so that an inf under mask=False counts as missing, as the
        # message below promises.
        infinite = np.isinf(values) & observed
        if infinite.any():
            where = tuple(int(i) for i in np.argwhere(infinite)[0])
            raise ValueError(
                f"data contains inf at index {where}; use NaN (or mask=False) for missing entries"
            )
        if not observed.any():
            raise ValueError("data has no observed entries: every entry is NaN or masked out")
        values = np.where(observed, values, np.nan)

        kind = cls._check_kind(kind, values, observed, integer_input)
        condition = cls._check_labels("condition", condition, n_trials, default="0")
        epoch = cls._check_labels("epoch", epoch, n_trials, default="all")
        cls._check_contiguous(epoch)
        trial_id = cls._check_trial_id(trial_id, n_trials)
        times = cls._check_times(times, n_times)

        return cls(
            data=values, mask=observed, condition=condition, epoch=epoch,
            trial_id=trial_id, times=times, kind=kind, _checked=True,
        )

    @staticmethod
    def _check_kind(kind, values, observed, integer_input) -> str:
        observed_values = values[observed]
        whole = bool(np.all(observed_values == np.round(observed_values)))
        non_negative = bool(np.all(observed_values >= 0))
        if kind is None:
            return COUNTS if integer_input and whole and non_negative else RATES
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {_describe(kind)}")
        if kind == COUNTS:
            if not non_negative:
                raise ValueError(
                    f"kind='counts' needs non-negative spike counts, but data has the value "
                    f"{observed_values.min():g}; use kind='rates' for real-valued data"
                )
            if not whole:
                bad = observed_values[observed_values != np.round(observed_values)][0]
                raise ValueError(
                    f"kind='counts' needs integer spike counts, but data has the value {bad:g}; "
                    "use kind='rates' for real-valued data"
                )
        return kind

    @staticmethod
    def _check_labels(name, labels, n_trials, default) -> np.ndarray:
        if labels is None:
            # No dtype argument: dtype=np.str_ would make a 1-character array and cut the
            # label "all" to "a".
            return np.full(n_trials, default)
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != n_trials:
            raise ValueError(
                f"{name} must have one label per trial, shape ({n_trials},), "
                f"got shape {labels.shape}"
            )
        if labels.dtype.kind == "f" and np.isnan(labels).any():
            raise ValueError(f"{name} contains NaN; every trial needs a label")
        return labels.astype(np.str_)

    @staticmethod
    def _check_contiguous(epoch) -> None:
        starts = [0] + [i for i in range(1, len(epoch)) if epoch[i] != epoch[i - 1]]
        labels = [str(epoch[i]) for i in starts]
        for label in set(labels):
            if labels.count(label) > 1:
                runs = [starts[i] for i, value in enumerate(labels) if value == label]
                raise ValueError(
                    f"epoch labels must form contiguous runs of trials, but {label!r} "
                    f"starts again at trials {runs}; give each block its own label"
                )

    @staticmethod
    def _check_trial_id(trial_id, n_trials) -> np.ndarray:
        if trial_id is None:
            return np.arange(n_trials, dtype=np.int64)
        trial_id = np.asarray(trial_id)
        if trial_id.shape != (n_trials,):
            raise ValueError(
                f"trial_id must have one number per trial, shape ({n_trials},), "
                f"got shape {trial_id.shape}"
            )
        if not np.issubdtype(trial_id.dtype, np.integer):
            if not np.issubdtype(trial_id.dtype, np.floating) or not np.all(
                np.isfinite(trial_id) & (trial_id == np.round(trial_id))
            ):
                raise ValueError(
                    f"trial_id must contain integers, got dtype {trial_id.dtype}"
                )
        trial_id = trial_id.astype(np.int64)
        steps = np.diff(trial_id)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise ValueError(
                "trial_id must be strictly increasing (trials in recorded order), but "
                f"trial {i + 1} has id {trial_id[i + 1]} after id {trial_id[i]}"
            )
        return trial_id

    @staticmethod
    def _check_times(times, n_times) -> np.ndarray:
        if times is None:
            return np.arange(n_times, dtype=np.float64)
        try:
            # A copy, so that later edits to the caller's array cannot change the Recording.
            times = np.array(times, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"times must be numbers (bin times), got {_describe(times)}"
            ) from None
        if times.shape != (n_times,):
            raise ValueError(
                f"times must have one value per time bin, shape ({n_times},), "
                f"got shape {times.shape}"
            )
        if not np.all(np.isfinite(times)):
            raise ValueError("times must be finite, got NaN or inf")
        if np.any(np.diff(times) <= 0):
            raise ValueError("times must be strictly increasing")
        return times

    @property
    def n_trials(self) -> int:
        return self.data.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.data.shape[1]

    @property
    def n_times(self) -> int:
        return self.data.shape[2]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.data.shape

    @property
    def preparatory(self) -> np.ndarray:
        """Boolean (n_times,): bins before the go cue (time < 0)."""
        return self.times < 0

    @property
    def conditions(self) -> list[str]:
        """Distinct condition labels in order of first appearance."""
        return list(dict.fromkeys(self.condition.tolist()))

    @property
    def condition_index(self) -> np.ndarray:
        """Integer code (n_trials,) of each trial's condition into :attr:`conditions`."""
        lookup = {label: i for i, label in enumerate(self.conditions)}
        return np.array([lookup[c] for c in self.condition.tolist()], dtype=np.int64)

    @property
    def epochs(self) -> list[str]:
        """Epoch labels in recorded order."""
        return list(dict.fromkeys(self.epoch.tolist()))

    @property
    def epoch_index(self) -> np.ndarray:
        """Integer code (n_trials,) of each trial's epoch into :attr:`epochs`."""
        lookup = {label: i for i, label in enumerate(self.epochs)}
        return np.array([lookup[e] for e in self.epoch.tolist()], dtype=np.int64)

    @property
    def epoch_starts(self) -> list[int]:
        """Index of the first trial of each epoch."""
        return [0] + [i for i in range(1, self.n_trials) if self.epoch[i] != self.epoch[i - 1]]

    def subset_trials(self, index) -> "Recording":
        """Return a Recording of the selected trials (kept in recorded order).

        Parameters
        ----------
        index : array-like of int, or of bool with shape (n_trials,)
            Trial positions (not trial ids) to keep, or a boolean selection.
        """
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (self.n_trials,):
                raise ValueError(
                    f"a boolean index must have shape ({self.n_trials},), got {index.shape}"
                )
            index = np.flatnonzero(index)
        if index.size == 0:
            raise ValueError("index must select at least one trial, got none")
        if not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"index must contain integers or booleans, got dtype {index.dtype}")
        index = np.sort(index)
        if np.any(np.diff(index) == 0):
            raise ValueError(
                f"index must not repeat a trial, got {_describe(index.tolist())}"
            )
        return Recording.from_arrays(
            self.data[index], mask=self.mask[index], condition=self.condition[index],
            epoch=self.epoch[index], trial_id=self.trial_id[index], times=self.times,
            kind=self.kind,
        )
