"""Conversion between NumPy arrays and ``ltrnn.v1.Tensor`` messages (raw little-endian bytes)."""

from __future__ import annotations

import math

import numpy as np

from ltrnn.v1 import common_pb2

DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
)


def to_tensor(array) -> common_pb2.Tensor:
    """Encode an array as a Tensor: C order, little-endian, dtype by its NumPy name.

    Raises
    ------
    ValueError
        If the dtype is not one of :data:`DTYPES` (e.g. strings or objects).
    """
    array = np.asarray(array)
    name = array.dtype.name
    if name not in DTYPES:
        raise ValueError(f"cannot encode dtype {name} as a Tensor; allowed dtypes are {DTYPES}")
    little = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    return common_pb2.Tensor(dtype=name, shape=list(array.shape), raw_data=little.tobytes())


def from_tensor(
    tensor: common_pb2.Tensor,
    field: str = "tensor",
    *,
    dtypes: tuple[str, ...] = DTYPES,
    ndim: int | None = None,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Decode a Tensor into a writable NumPy array in native byte order.

    Parameters
    ----------
    tensor : ltrnn.v1.Tensor
    field : str, default="tensor"
        Name of the request field, used in error messages.
    dtypes : tuple of str, default=DTYPES
        Accepted dtypes.
    ndim : int, optional
        Required number of dimensions.
    max_bytes : int, optional
        Largest accepted size of the data.

    Raises
    ------
    ValueError
        When the dtype, shape or byte count is invalid, naming ``field``.
    """
    if tensor.dtype not in dtypes:
        raise ValueError(
            f"{field}.dtype must be one of {list(dtypes)}, got {tensor.dtype!r}"
        )
    shape = tuple(int(size) for size in tensor.shape)
    if any(size < 0 for size in shape):
        raise ValueError(f"{field}.shape must have sizes >= 0, got {list(shape)}")
    if ndim is not None and len(shape) != ndim:
        raise ValueError(
            f"{field} must have {ndim} dimensions, got shape {list(shape)}"
        )
    dtype = np.dtype(tensor.dtype).newbyteorder("<")
    expected = math.prod(shape) * dtype.itemsize
    if max_bytes is not None and expected > max_bytes:
        raise ValueError(
            f"{field} has {expected} bytes, more than the limit of {max_bytes} bytes"
        )
    if len(tensor.raw_data) != expected:
        raise ValueError(
            f"{field}.raw_data must have {expected} bytes for dtype {tensor.dtype} and shape "
            f"{list(shape)}, got {len(tensor.raw_data)} bytes"
        )
    array = np.frombuffer(tensor.raw_data, dtype=dtype).reshape(shape)
    return array.astype(array.dtype.newbyteorder("="), copy=True)
