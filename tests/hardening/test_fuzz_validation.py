"""Property-based fuzzing of tensor decoding and sweep validation (no server needed).

Random Tensor messages and random SweepSpecs must either pass or fail with the errors that
the services turn into INVALID_ARGUMENT or RESOURCE_EXHAUSTED; any other exception would
reach the client as UNKNOWN.
"""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltrnn.engine.config import FitConfig
from ltrnn.server.errors import RequestError
from ltrnn.server.settings import Settings
from ltrnn.server.sweeps import cell_grid, fit_config, mask_settings, normalise_sweep
from ltrnn.server.tensors import DTYPES, from_tensor, to_tensor
from ltrnn.engine.masks import MaskConfig
from ltrnn.v1 import common_pb2, sweep_pb2

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Settings(max_cells=40, max_rank=16, max_rnn_size=64, max_iterations=5000)
ALLOWED_CODES = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# -- tensors --------------------------------------------------------------------------------

dtype_names = st.one_of(
    st.sampled_from(DTYPES),
    st.sampled_from(["", "object", "str", "<f8", ">i4", "float", "V8", "datetime64", "U3"]),
    st.text(max_size=12),
)
shapes = st.lists(
    st.one_of(st.integers(-3, 6), st.integers(INT64[0], INT64[1])), max_size=5
)


@st.composite
def tensors(draw):
    dtype = draw(dtype_names)
    shape = draw(shapes)
    if draw(st.booleans()) and dtype in DTYPES and all(0 <= size <= 6 for size in shape):
        # A byte count that matches dtype and shape, so decoding gets past the size check.
        size = math.prod(shape) * np.dtype(dtype).itemsize
        raw = draw(st.binary(min_size=size, max_size=size))
    else:
        raw = draw(st.binary(max_size=64))
    return common_pb2.Tensor(dtype=dtype, shape=shape, raw_data=raw)


@FUZZ
@given(
    tensor=tensors(),
    ndim=st.one_of(st.none(), st.integers(0, 4)),
    max_bytes=st.one_of(st.none(), st.integers(0, 256)),
    accepted=st.one_of(st.just(DTYPES), st.lists(st.sampled_from(DTYPES), min_size=1).map(tuple)),
)
def test_tensor_decoding_fuzz(tensor, ndim, max_bytes, accepted):
    try:
        array = from_tensor(tensor, "field", dtypes=accepted, ndim=ndim, max_bytes=max_bytes)
    except ValueError as error:
        assert str(error).startswith("field"), str(error)
        return
    assert array.shape == tuple(tensor.shape)
    assert array.dtype.name == tensor.dtype
    assert tensor.dtype in accepted
    assert ndim is None or array.ndim == ndim
    assert max_bytes is None or array.nbytes <= max_bytes
    assert array.flags.writeable
    assert array.tobytes() == np.frombuffer(
        tensor.raw_data, dtype=np.dtype(tensor.dtype).newbyteorder("<")
    ).astype(array.dtype).tobytes()


@FUZZ
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.integers(0, 4), max_size=4),
    data=st.data(),
)
def test_tensor_round_trip_fuzz(dtype, shape, data):
    size = math.prod(shape) * np.dtype(dtype).itemsize
    raw = data.draw(st.binary(min_size=size, max_size=size))
    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    decoded = from_tensor(to_tensor(array))
    assert decoded.shape == array.shape
    assert decoded.tobytes() == array.astype(decoded.dtype).tobytes()


# -- sweeps ---------------------------------------------------------------------------------

special_floats = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e-308])


def field_values(field):
    """A strategy for one FitHyperparameters field, from its protobuf type."""
    if field.cpp_type == descriptor.FieldDescriptor.CPPTYPE_DOUBLE:
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True), special_floats,
                         st.floats(0.0, 2.0))
    if field.cpp_type == descriptor.FieldDescriptor.CPPTYPE_INT32:
        return st.one_of(st.integers(*INT32), st.integers(-2, 200))
    if field.cpp_type == descriptor.FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    known = {"loss": ["gaussian", "poisson", "auto"], "readout_scale": ["none", "neuron"]}
    return st.one_of(st.sampled_from(known.get(field.name, ["x"])), st.text(max_size=8))


@st.composite
def hyperparameters(draw):
    message = sweep_pb2.FitHyperparameters()
    for field in sweep_pb2.FitHyperparameters.DESCRIPTOR.fields:
        if draw(st.integers(0, 3)) == 0:
            setattr(message, field.name, draw(field_values(field)))
    return message


def either(draw, valid, random):
    """Draw from ``valid`` or ``random``, so that about half the fields stay valid and the
    checks after the first one run too."""
    return draw(valid) if draw(st.booleans()) else draw(random)


def int_lists(low, high, max_size=6):
    return st.lists(st.one_of(st.integers(low, high), st.integers(-3, 70)), max_size=max_size)


def unique_lists(low, high):
    return st.lists(st.integers(low, high), min_size=1, max_size=3, unique=True)


@st.composite
def sweep_specs(draw):
    spec = sweep_pb2.SweepSpec(
        dataset_id=either(draw, st.just("a" * 64), st.one_of(
            st.sampled_from(["", "../x", "/etc/passwd", "a b", "x" * 129]), st.text(max_size=20),
        )),
        ranks=either(draw, unique_lists(1, 4), int_lists(*INT32)),
        rnn_sizes=either(draw, unique_lists(8, 20), int_lists(*INT32)),
        seeds=either(draw, unique_lists(0, 5), int_lists(*INT64)),
        name=either(draw, st.just("fuzz"), st.text(max_size=210)),
    )
    if draw(st.booleans()):
        spec.hyperparameters.CopyFrom(draw(hyperparameters()))
    masks = spec.masks
    if draw(st.booleans()):
        for name in ("test_fraction", "validation_fraction"):
            if draw(st.booleans()):
                setattr(masks, name, draw(st.one_of(st.floats(), special_floats)))
        masks.inner.extend(draw(st.lists(st.integers(*INT32), max_size=3)))
        masks.outer.extend(draw(st.lists(st.integers(-2, 10), max_size=3)))
        masks.seed = draw(st.integers(*INT64))
    resources = spec.cell_resources
    if draw(st.booleans()):
        resources.num_cpus = draw(st.one_of(st.floats(), special_floats, st.floats(0.1, 4.0)))
    if draw(st.booleans()):
        resources.num_gpus = draw(st.one_of(st.floats(), special_floats, st.floats(0.0, 1.0)))
    return spec


@FUZZ
@given(spec=sweep_specs())
def test_sweep_validation_fuzz(spec):
    try:
        normalised = normalise_sweep(spec, LIMITS)
    except RequestError as error:
        assert error.code in ALLOWED_CODES, (error.code, error.message)
        assert error.message
        return
    # A sweep that passes validation must give a valid engine config for every cell, since
    # the runner builds them later, outside any request.
    cells = cell_grid(normalised)
    assert 1 <= len(cells) <= LIMITS.max_cells
    for rank, rnn_size, seed in cells:
        config = fit_config(normalised, rank, rnn_size, seed)
        assert isinstance(config, FitConfig)
        assert config.iterations <= LIMITS.max_iterations
    mask_config, mask_seed = mask_settings(normalised)
    MaskConfig(**mask_config)
    assert mask_seed >= 0
    resources = normalised.cell_resources
    assert math.isfinite(resources.num_cpus)
    assert resources.num_cpus > 0
    assert math.isfinite(resources.num_gpus)
    assert resources.num_gpus >= 0


@pytest.mark.timeout(30)
def test_million_duplicate_seeds_rejected_quickly():
    spec = sweep_pb2.SweepSpec(dataset_id="a" * 64, ranks=[1], rnn_sizes=[10], seeds=[7] * 10**6)
    with pytest.raises(RequestError, match=r"sweep\.seeds contains duplicates \[7\]"):
        normalise_sweep(spec, LIMITS)
