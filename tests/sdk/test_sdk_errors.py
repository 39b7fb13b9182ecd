"""Mapping of gRPC status codes to the SDK's exception types."""

from __future__ import annotations

import grpc
import pytest

from ltrnn import sdk
from ltrnn.sdk.errors import from_rpc_error


class StatusError(grpc.RpcError):
    """A failed call as grpc reports it: a status code and the server's details."""

    def __init__(self, code, details):
        self._code = code
        self._details = details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, sdk.InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, sdk.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, sdk.AlreadyExists),
        (grpc.StatusCode.FAILED_PRECONDITION, sdk.FailedPrecondition),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, sdk.ResourceExhausted),
        (grpc.StatusCode.UNAUTHENTICATED, sdk.Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, sdk.PermissionDenied),
        (grpc.StatusCode.UNAVAILABLE, sdk.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, sdk.DeadlineExceeded),
        (grpc.StatusCode.CANCELLED, sdk.Cancelled),
        (grpc.StatusCode.UNIMPLEMENTED, sdk.Unimplemented),
        (grpc.StatusCode.INTERNAL, sdk.Internal),
        (grpc.StatusCode.UNKNOWN, sdk.Internal),
        (grpc.StatusCode.DATA_LOSS, sdk.Internal),
        (grpc.StatusCode.OUT_OF_RANGE, sdk.InvalidArgument),
        (grpc.StatusCode.ABORTED, sdk.LtrnnError),
    ],
)
def test_status_code_mapped(code, expected):
    error = from_rpc_error(StatusError(code, "sweep.ranks is empty; give at least one rank"))
    assert type(error) is expected
    assert isinstance(error, sdk.LtrnnError)
    assert error.code == code
    assert str(error) == "sweep.ranks is empty; give at least one rank"


def test_error_without_details_names_code():
    error = from_rpc_error(StatusError(grpc.StatusCode.INTERNAL, ""))
    assert str(error) == "the call failed with status INTERNAL"


def test_builtin_bases():
    assert issubclass(sdk.InvalidArgument, ValueError)
    assert issubclass(sdk.NotFound, LookupError)
    assert issubclass(sdk.Unavailable, ConnectionError)
    assert issubclass(sdk.DeadlineExceeded, TimeoutError)
    assert issubclass(sdk.Unimplemented, NotImplementedError)
