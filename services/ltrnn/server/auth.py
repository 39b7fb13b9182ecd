"""Bearer-token authentication for gRPC servers."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

import grpc

logger = logging.getLogger(__name__)

# Kubernetes probes and load balancers call the health service without credentials.
UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.Health/",)


def read_tokens(path) -> list[str]:
    """Read one token per line, skipping blank lines and lines starting with '#'.

    Raises
    ------
    ValueError
        When the file lists no token.
    """
    lines = Path(path).read_text().splitlines()
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise ValueError(
            f"auth token file {path} contains no token; put one token per line, or leave "
            "LTRNN_AUTH_TOKEN_FILE empty to turn authentication off"
        )
    return tokens


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Reject RPCs whose ``authorization`` metadata is not ``Bearer <one of the tokens>``."""

    def __init__(self, tokens: list[str]):
        self._tokens = [token.encode() for token in tokens]

    def _accepted(self, metadata) -> bool:
        for key, value in metadata or ():
            if key != "authorization" or not isinstance(value, str):
                continue
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer":
                return False
            supplied = token.strip().encode()
            # compare_digest on every token keeps the time independent of which one matched.
            matches = [hmac.compare_digest(supplied, known) for known in self._tokens]
            return any(matches)
        return False

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(UNAUTHENTICATED_PREFIXES) or self._accepted(
            handler_call_details.invocation_metadata
        ):
            return continuation(handler_call_details)
        logger.warning("rejected unauthenticated call to %s", method)
        return _rejection(continuation(handler_call_details))


def _rejection(handler):
    """A handler of the same kind as ``handler`` that aborts with UNAUTHENTICATED."""

    message = (
        "missing or unknown bearer token; send the metadata 'authorization: Bearer <token>' "
        "(the SDK and CLI read it from --token or LTRNN_TOKEN)"
    )

    def unary(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    def stream(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - makes this a generator, as streaming handlers must be

    if handler is None:
        return None
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            unary, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            stream, handler.request_deserializer, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            unary, handler.request_deserializer, handler.response_serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        stream, handler.request_deserializer, handler.response_serializer
    )
