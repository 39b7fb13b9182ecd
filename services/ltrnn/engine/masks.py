"""Block cross-validation masks over (trials, neurons, time) with guard boxes.

Held-out entries come in boxes of consecutive trials and time bins. Training excludes a larger
box around every held-out box, so the ring between the two boxes is used by neither part and
the smoothness of trial factors and dynamics cannot carry held-out values into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter


def _check_half_widths(name, value):
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise ValueError(
            f"{name} must be three non-negative integers (trials, neurons, time), got {value!r}"
        )
    return tuple(value)


@dataclass(frozen=True)
class MaskConfig:
    """Settings of the block masks.

    Parameters
    ----------
    test_fraction : float, default=0.05
        Target fraction of all entries in test boxes.
    validation_fraction : float, default=0.05
        Target fraction of all entries in validation boxes; 0 turns early stopping off.
    inner : tuple of 3 int, default=(2, 0, 2)
        Half-widths (trials, neurons, time) of a held-out box: (2, 0, 2) is 5 trials x 1 neuron
        x 5 bins.
    outer : tuple of 3 int, default=(5, 0, 5)
        Half-widths of the box around each held-out box that training excludes.
    """

    test_fraction: float = 0.05
    validation_fraction: float = 0.05
    inner: tuple = (2, 0, 2)
    outer: tuple = (5, 0, 5)

    def __post_init__(self):
        for name in ("test_fraction", "validation_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0.0 <= value < 0.5
            ):
                raise ValueError(f"{name} must be a number in [0, 0.5), got {value!r}")
        inner = _check_half_widths("inner", self.inner)
        outer = _check_half_widths("outer", self.outer)
        if any(o < i for i, o in zip(inner, outer)):
            raise ValueError(
                f"outer half-widths {outer} must be >= inner half-widths {inner} in every dimension"
            )
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "outer", outer)


@dataclass(frozen=True)
class CVMasks:
    """Disjoint boolean masks of shape (n_trials, n_neurons, n_times)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def restrict(self, observed: np.ndarray) -> "CVMasks":
        """Return the masks intersected with the observed entries."""
        return CVMasks(self.train & observed, self.validation & observed, self.test & observed)


def _dilate(centres: np.ndarray, half_widths: tuple) -> np.ndarray:
    size = tuple(2 * h + 1 for h in half_widths)
    return maximum_filter(centres.astype(np.uint8), size=size, mode="constant") > 0


def _draw_centres(rng, shape, fraction, half_widths, exclude):
    volume = int(np.prod([2 * h + 1 for h in half_widths]))
    count = int(np.ceil(fraction * np.prod(shape) / volume))
    centres = np.zeros(shape, dtype=bool)
    if count == 0:
        return centres
    candidates = np.flatnonzero(~exclude.ravel())
    if candidates.size == 0:
        return centres
    chosen = rng.choice(candidates, size=min(count, candidates.size), replace=False)
    centres.ravel()[chosen] = True
    return centres


def make_block_masks(shape, config: MaskConfig | None = None, seed: int = 0) -> CVMasks:
    """Draw train, validation and test masks of blocks of consecutive trials and bins.

    Parameters
    ----------
    shape : tuple of 3 int
        (n_trials, n_neurons, n_times).
    config : MaskConfig, optional
        Fractions and box sizes; default ``MaskConfig()``.
    seed : int, default=0
        Seed of the box centres. Keep it fixed across the cells of a sweep so that every
        cell is scored on the same held-out entries.

    Returns
    -------
    CVMasks
        ``test`` is the union of the inner test boxes. ``validation`` is the union of inner
        validation boxes outside every test guard box. ``train`` is every entry outside all
        guard boxes. The three are disjoint.
    """
    config = MaskConfig() if config is None else config
    if not isinstance(config, MaskConfig):
        raise ValueError(f"config must be a MaskConfig, got {type(config).__name__}")
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 3
        or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)
    ):
        raise ValueError(f"shape must be three positive integers, got {shape!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)

    test_centres = _draw_centres(
        rng, shape, config.test_fraction, config.inner, np.zeros(shape, dtype=bool)
    )
    test = _dilate(test_centres, config.inner)
    test_guard = _dilate(test_centres, config.outer)

    validation_centres = _draw_centres(
        rng, shape, config.validation_fraction, config.inner, test_guard
    )
    validation = _dilate(validation_centres, config.inner) & ~test_guard
    validation_guard = _dilate(validation_centres, config.outer)

    train = ~(test_guard | validation_guard)
    if not train.any():
        raise ValueError(
            f"the masks leave no training entries for shape {shape}; lower test_fraction "
            f"({config.test_fraction}), validation_fraction ({config.validation_fraction}) "
            f"or the outer half-widths {config.outer}"
        )
    return CVMasks(train=train, validation=validation, test=test)
