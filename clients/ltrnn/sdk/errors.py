"""Exceptions of the SDK, one type per gRPC status code the ltrnn services send.

Every exception keeps the server's message, which names the bad field and the fix, and the
status code as ``code``. :class:`InvalidArgument` is also a :class:`ValueError`, so code that
validates input the scikit-learn way catches bad arguments whether the client or the server
found them.
"""

from __future__ import annotations

import grpc


class LtrnnError(Exception):
    """Base class of every error the SDK raises for a failed call.

    Attributes
    ----------
    code : grpc.StatusCode or None
        Status code of the failed call; None for errors found on the client side.
    message : str
        The server's message (or the client's), without the status code.
    """

    code: grpc.StatusCode | None = None

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidArgument(LtrnnError, ValueError):
    """A field is missing, malformed or outside its allowed range (INVALID_ARGUMENT)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(LtrnnError, LookupError):
    """No dataset, job or model has the given id (NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(LtrnnError):
    """An idempotency key was reused for a different request (ALREADY_EXISTS)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(LtrnnError):
    """The request does not fit the current state, e.g. cancelling a finished job
    (FAILED_PRECONDITION)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(LtrnnError):
    """A request exceeds a size or count limit of the server (RESOURCE_EXHAUSTED)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(LtrnnError):
    """A bearer token is required and was missing or unknown (UNAUTHENTICATED)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(LtrnnError):
    """The token is known but may not make this call (PERMISSION_DENIED)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(LtrnnError, ConnectionError):
    """The server cannot be reached or is shutting down (UNAVAILABLE)."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(LtrnnError, TimeoutError):
    """The call did not finish within its timeout (DEADLINE_EXCEEDED)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(LtrnnError):
    """The call was cancelled before it finished (CANCELLED)."""

    code = grpc.StatusCode.CANCELLED


class Unimplemented(LtrnnError, NotImplementedError):
    """The server does not serve this method (UNIMPLEMENTED), e.g. an analysis call sent
    to a server that runs the fit service only."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(LtrnnError):
    """The server failed while handling a valid request (INTERNAL, UNKNOWN or DATA_LOSS)."""

    code = grpc.StatusCode.INTERNAL


_BY_CODE = {
    error.code: error
    for error in (
        InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, ResourceExhausted,
        Unauthenticated, PermissionDenied, Unavailable, DeadlineExceeded, Cancelled,
        Unimplemented, Internal,
    )
}
_BY_CODE[grpc.StatusCode.UNKNOWN] = Internal
_BY_CODE[grpc.StatusCode.DATA_LOSS] = Internal
_BY_CODE[grpc.StatusCode.OUT_OF_RANGE] = InvalidArgument


def from_rpc_error(error: grpc.RpcError) -> LtrnnError:
    """Return the SDK exception for a failed gRPC call, keeping its code and message.

    Codes without a type of their own (ABORTED) become a plain :class:`LtrnnError`.
    """
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    message = details or (f"the call failed with status {code.name}" if code else str(error))
    kind = _BY_CODE.get(code, LtrnnError)
    return kind(message, code)
