"""Checks of SDK arguments that raise InvalidArgument naming the argument, value and rule."""

from __future__ import annotations

import math
import numbers

from .errors import InvalidArgument


def describe(value, limit: int = 60) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_integers(name: str, values, minimum: int | None = None) -> list[int]:
    """Return ``values`` as a non-empty list of ints, each >= ``minimum``.

    Raises
    ------
    InvalidArgument
        For a non-sequence, an empty sequence, a non-integer (bools included) or a value
        below ``minimum``.
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidArgument(f"{name} must be a list of integers, got {describe(values)}")
    values = list(values)
    if not values:
        raise InvalidArgument(f"{name} must contain at least one integer, got none")
    checked = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise InvalidArgument(f"{name} must contain integers, got {describe(value)}")
        value = int(value)
        if minimum is not None and value < minimum:
            raise InvalidArgument(f"{name} must contain integers >= {minimum}, got {value}")
        checked.append(value)
    return checked


def check_integer(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as an int >= ``minimum``; bools and fractional numbers are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be an integer, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_number(name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite float >= ``minimum`` (> with ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number, got {describe(value)}")
    value = float(value)
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        bound = ">" if strict else ">="
        raise InvalidArgument(f"{name} must be {bound} {minimum:g}, got {value:g}")
    return value
