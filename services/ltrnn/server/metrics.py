"""Prometheus metrics of the service and a gRPC interceptor that times every RPC.

The metrics live in one registry per process (:data:`REGISTRY`). Ray workers report progress
to the service process, which updates the metrics, so no multiprocess mode is needed.
Servers started one after another in one process (as in the tests) share the registry, so
counters keep counting across them.
"""

from __future__ import annotations

import logging
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS_SUBMITTED = Counter(
    "ltrnn_jobs_submitted", "Jobs accepted, by kind.", ["kind"], registry=REGISTRY
)
JOBS_FINISHED = Counter(
    "ltrnn_jobs_finished", "Jobs that reached a final state, by state.", ["state"],
    registry=REGISTRY,
)
CELLS_FINISHED = Counter(
    "ltrnn_cells_finished", "Sweep cells that reached a final state, by state.", ["state"],
    registry=REGISTRY,
)
CELL_RETRIES = Counter(
    "ltrnn_cell_retries",
    "Cell restarts after a worker died or the service restarted, by reason.",
    ["reason"], registry=REGISTRY,
)
CELL_DURATION = Histogram(
    "ltrnn_cell_duration_seconds", "Wall-clock seconds of succeeded cells on their worker.",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200),
    registry=REGISTRY,
)
TRAINING_ITERATIONS = Counter(
    "ltrnn_training_iterations", "Training iterations reported by running cells.",
    registry=REGISTRY,
)
ITERATIONS_PER_SECOND = Gauge(
    "ltrnn_training_iterations_per_second",
    "Sum of the training speeds that the running cells last reported.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "ltrnn_queue_depth", "Cells submitted to Ray that have not started.", registry=REGISTRY
)
RUNNING_CELLS = Gauge("ltrnn_running_cells", "Cells running on a worker.", registry=REGISTRY)
UPLOADED_BYTES = Counter(
    "ltrnn_uploaded_bytes", "Dataset bytes received, counting rejected uploads.",
    registry=REGISTRY,
)
RPC_DURATION = Histogram(
    "ltrnn_rpc_duration_seconds", "RPC handling time in seconds, by method.", ["method"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600),
    registry=REGISTRY,
)
RPC_HANDLED = Counter(
    "ltrnn_rpc_handled", "RPCs completed, by method and status code.", ["method", "code"],
    registry=REGISTRY,
)

# Prometheus' rate() ignores the first sample of a series, so a labelled series that first
# appears at 1 would hide that event. Creating the known label values at 0 avoids it.
for _state in ("SUCCEEDED", "FAILED", "CANCELLED"):
    JOBS_FINISHED.labels(_state)
    CELLS_FINISHED.labels(_state)
for _kind in ("sweep", "tensor_rank"):
    JOBS_SUBMITTED.labels(_kind)


def start_metrics_server(host: str, port: int):
    """Serve ``/metrics`` over HTTP; returns the http.server object (call ``shutdown()``)."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    logger.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server


class MetricsInterceptor(grpc.ServerInterceptor):
    """Record the duration and status code of every RPC, streams included.

    A streaming response is timed until its last message has been produced (or the client
    left). The code is OK unless the handler aborted or raised, in which case it is the
    code set on the context: CANCELLED when the client left, UNKNOWN for an unhandled
    exception.
    """

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._wrap_stream(handler.unary_stream, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._wrap_unary(handler.stream_unary, method))
        return handler._replace(stream_stream=self._wrap_stream(handler.stream_stream, method))

    @staticmethod
    def _record(method: str, context, start: float, failed: bool) -> None:
        code = context.code()
        if code is None and failed and not context.is_active():
            code = grpc.StatusCode.CANCELLED
        elif code is None:
            code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
        RPC_DURATION.labels(method).observe(time.perf_counter() - start)
        RPC_HANDLED.labels(method, code.name).inc()

    def _wrap_unary(self, behaviour, method):
        def wrapper(request, context):
            start = time.perf_counter()
            failed = True
            try:
                response = behaviour(request, context)
                failed = False
                return response
            finally:
                self._record(method, context, start, failed)

        return wrapper

    def _wrap_stream(self, behaviour, method):
        def wrapper(request, context):
            start = time.perf_counter()
            failed = True
            try:
                yield from behaviour(request, context)
                failed = False
            finally:
                self._record(method, context, start, failed)

        return wrapper
