"""Input checks shared by the analysis functions.

Every check raises ValueError with a message that names the argument, shows the bad value
and states what is allowed.
"""

from __future__ import annotations

import numbers

import numpy as np


def describe(value, limit: int = 60) -> str:
    """Return a short repr of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer in [minimum, maximum]."""
    allowed = "an integer"
    if minimum is not None and maximum is not None:
        allowed = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        allowed = f"an integer >= {minimum}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {allowed}, got {describe(value)}.")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value}.")
    return value


def check_real(
    name: str,
    value,
    minimum: float,
    maximum: float,
    *,
    include_minimum: bool = True,
    include_maximum: bool = True,
) -> float:
    """Return ``value`` as a float, or raise if it is not a real number in the given interval."""
    left = "[" if include_minimum else "("
    right = "]" if include_maximum else ")"
    allowed = f"a real number in {left}{minimum}, {maximum}{right}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {allowed}, got {describe(value)}.")
    value = float(value)
    below = value < minimum if include_minimum else value <= minimum
    above = value > maximum if include_maximum else value >= maximum
    if not np.isfinite(value) or below or above:
        raise ValueError(f"{name} must be {allowed}, got {value!r}.")
    return value


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {describe(value)}.")
    return value


def as_real_array(name: str, value) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting complex, text and object input."""
    array = np.asarray(value)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(
            f"{name} must be an array of real numbers, got {describe(array)}."
        )
    return array.astype(np.float64, copy=False)


def check_ndim(name: str, array: np.ndarray, ndim: int, layout: str) -> None:
    """Raise unless ``array`` has exactly ``ndim`` dimensions, laid out as ``layout``."""
    if array.ndim != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimensions {layout}, got shape {array.shape}."
        )


def check_finite(
    name: str, array: np.ndarray, where: np.ndarray | None = None, maskable: bool = False
) -> None:
    """Raise if ``array`` contains NaN or inf (only entries where ``where`` is True count).

    ``maskable`` tells whether the caller accepts a mask, so the message can suggest one.
    """
    values = array if where is None else array[where]
    bad = ~np.isfinite(values)
    if bad.any():
        first = np.argwhere(~np.isfinite(array) & (True if where is None else where))[0]
        scope = "" if where is None else " at observed entries"
        fix = "replace them or mark them False in mask" if maskable else "replace them"
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values{scope} (first at index "
            f"{tuple(int(i) for i in first)}); {fix}."
        )


def matrix_rank_threshold(singular_values: np.ndarray, shape: tuple[int, ...], dtype) -> float:
    """Return numpy.linalg.matrix_rank's default threshold: max(shape) * eps * sigma_max."""
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else np.finfo(np.float64).eps
    return float(max(shape) * eps * (singular_values.max() if singular_values.size else 0.0))
