"""Decoding and checking of the tensors and numbers of AnalysisService requests.

Every check raises :class:`~ltrnn.server.errors.RequestError` with a message that names the
request field (``a.basis``, ``tensor.raw_data``), the bad value and what is allowed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import exhausted, invalid
from ..tensors import from_tensor

REAL_DTYPES = ("float32", "float64")


def decode_tensor(
    message,
    name: str,
    field: str,
    *,
    max_bytes: int,
    dtypes: tuple[str, ...] = REAL_DTYPES,
    ndim: int | None = None,
    required: bool = True,
) -> np.ndarray | None:
    """Decode the Tensor field ``name`` of ``message``, reported as ``field`` in errors.

    Returns None when the field is unset and not ``required``. Real dtypes come back as
    float64, others as they are.

    Raises
    ------
    RequestError
        INVALID_ARGUMENT for a missing field, a dtype outside ``dtypes``, a wrong number of
        dimensions or a byte count that does not match dtype and shape; RESOURCE_EXHAUSTED
        when dtype and shape describe more than ``max_bytes`` bytes.
    """
    if not message.HasField(name):
        if required:
            raise invalid(f"{field} is missing; send it as a Tensor (dtype, shape, raw_data)")
        return None
    tensor = getattr(message, name)
    if tensor.dtype not in dtypes:
        raise invalid(f"{field}.dtype must be one of {list(dtypes)}, got {tensor.dtype!r}")
    shape = [int(size) for size in tensor.shape]
    if ndim is not None and len(shape) != ndim:
        raise invalid(f"{field} must have {ndim} dimensions, got shape {shape}")
    if any(size < 0 for size in shape):
        raise invalid(f"{field}.shape must have sizes >= 0, got {shape}")
    declared = math.prod(shape) * np.dtype(tensor.dtype).itemsize
    if declared > max_bytes:
        raise exhausted(
            f"{field} of shape {shape} and dtype {tensor.dtype} has {declared} bytes, above the "
            f"server limit of {max_bytes} bytes (LTRNN_MAX_MESSAGE_BYTES); send a smaller "
            "tensor or raise the limit"
        )
    try:
        array = from_tensor(tensor, field, dtypes=dtypes, ndim=ndim)
    except ValueError as error:
        raise invalid(str(error)) from None
    if tensor.dtype in REAL_DTYPES:
        array = array.astype(np.float64, copy=False)
    return array


def check_no_empty_axis(field: str, array: np.ndarray) -> None:
    if 0 in array.shape:
        raise invalid(f"{field} must not have an empty dimension, got shape {list(array.shape)}")


def first_index(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0])


def check_finite(field: str, array: np.ndarray, fix: str = "replace them") -> None:
    """Raise INVALID_ARGUMENT when ``array`` contains NaN or inf, with the first index."""
    bad = ~np.isfinite(array)
    if bad.any():
        raise invalid(
            f"{field} contains {int(bad.sum())} NaN or infinite values (first at index "
            f"{first_index(bad)}); {fix}"
        )


def check_norm(field: str, array: np.ndarray) -> None:
    """Raise INVALID_ARGUMENT when the Frobenius norm of ``array`` overflows float64.

    Squares of values above about 1e154 overflow, and every error, angle and rank computed
    from them would be NaN or inf.
    """
    with np.errstate(over="ignore"):
        norm = float(np.sqrt(np.sum(np.square(array))))
    if not math.isfinite(norm):
        largest = float(np.max(np.abs(array)))
        raise invalid(
            f"{field} has values up to {largest:.3g}, whose squared norm overflows float64; "
            "rescale it (for example divide by its largest value)"
        )


def integer_in(field: str, value: int, minimum: int, maximum: int | None = None,
               limit: str = "") -> int:
    """Return ``value`` if it lies in [minimum, maximum], else raise INVALID_ARGUMENT.

    ``limit`` names the server setting or constant behind ``maximum``, if any.
    """
    if value < minimum:
        raise invalid(f"{field} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        if limit:
            raise invalid(
                f"{field} is {value}, above the server limit {maximum} ({limit}); use a "
                "smaller value"
            )
        raise invalid(f"{field} must be an integer in [{minimum}, {maximum}], got {value}")
    return int(value)
