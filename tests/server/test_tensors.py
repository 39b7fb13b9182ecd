"""Tensor messages: raw little-endian bytes with dtype and shape."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from ltrnn.server.tensors import DTYPES, from_tensor, to_tensor
from ltrnn.v1 import common_pb2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_round_trip(dtype, shape):
    values = np.random.default_rng(0).integers(0, 2, size=shape).astype(dtype)
    if np.issubdtype(values.dtype, np.complexfloating):
        values = values + 1j * values
    tensor = to_tensor(values)
    assert tensor.dtype == dtype
    assert tuple(tensor.shape) == shape
    decoded = from_tensor(tensor)
    assert decoded.dtype == values.dtype
    np.testing.assert_array_equal(decoded, values)
    assert decoded.flags.writeable


def test_bytes_are_little_endian_c_order():
    values = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=">f8").T
    tensor = to_tensor(values)
    assert tensor.raw_data == struct.pack("<4d", 1.5, 3.25, -2.0, 4.0)
    assert to_tensor(np.array([1], dtype=">i4")).raw_data == b"\x01\x00\x00\x00"


@pytest.mark.parametrize(
    "tensor, options, match",
    [
        (common_pb2.Tensor(dtype="float128", shape=[1], raw_data=b"x" * 16), {}, "x.dtype must be one of"),
        (common_pb2.Tensor(dtype="object", shape=[1], raw_data=b"x" * 8), {}, "x.dtype must be one of"),
        (common_pb2.Tensor(dtype="float64", shape=[-1], raw_data=b""), {}, "sizes >= 0"),
        (common_pb2.Tensor(dtype="float64", shape=[2], raw_data=b"x" * 8), {}, "must have 16 bytes"),
        (common_pb2.Tensor(dtype="float64", shape=[2], raw_data=b"x" * 16), {"ndim": 3}, "3 dimensions"),
        (common_pb2.Tensor(dtype="float64", shape=[4], raw_data=b"x" * 32), {"max_bytes": 16}, "limit of 16 bytes"),
        (common_pb2.Tensor(dtype="int64", shape=[1], raw_data=b"x" * 8), {"dtypes": ("float64",)}, "one of \\['float64'\\]"),
    ],
)
def test_invalid_tensors_raise(tensor, options, match):
    with pytest.raises(ValueError, match=match):
        from_tensor(tensor, "x", **options)


def test_strings_cannot_be_encoded():
    with pytest.raises(ValueError, match="cannot encode dtype"):
        to_tensor(np.array(["a", "b"]))
