"""The server factory: gRPC services, health, reflection, metrics and graceful shutdown."""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ltrnn.v1 import analysis_pb2, analysis_pb2_grpc, fit_pb2, fit_pb2_grpc

from . import metrics
from .analysis_service import AnalysisServicer
from .artifacts import ArtifactStore
from .auth import BearerTokenInterceptor, read_tokens
from .settings import Settings
from .store import JobStore

logger = logging.getLogger(__name__)

FIT = "fit"
ANALYSIS = "analysis"
SERVICES = (FIT, ANALYSIS)
SERVICE_NAMES = {
    FIT: fit_pb2.DESCRIPTOR.services_by_name["FitService"].full_name,
    ANALYSIS: analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"].full_name,
}


def _bind_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


class LtrnnServer:
    """A gRPC server with the chosen ltrnn services, its job store, Ray runner and metrics.

    Parameters
    ----------
    settings : Settings
    services : sequence of {"fit", "analysis"}, default=("fit", "analysis")

    Examples
    --------
    >>> server = LtrnnServer(Settings(port=0, metrics_port=0)).start()  # doctest: +SKIP
    >>> server.port  # the bound port  # doctest: +SKIP
    >>> server.stop()  # doctest: +SKIP
    """

    def __init__(self, settings: Settings, services=SERVICES):
        services = tuple(services)
        unknown = sorted(set(services) - set(SERVICES))
        if not services or unknown:
            raise ValueError(f"services must be a non-empty subset of {SERVICES}, got {services}")
        self.settings = settings
        self.services = services
        self.port = None
        self.fit_servicer = None
        self.analysis_servicer = None
        self.runner = None
        self._server = None
        self._health = None
        self._metrics_http = None
        self._store = None
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        """``host:port`` that clients connect to (loopback for a wildcard host)."""
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return _bind_address(host, self.port)

    def start(self) -> "LtrnnServer":
        """Open the stores, resume unfinished jobs, bind the port and start serving.

        When a step fails, what the earlier steps started is stopped before the error
        propagates.
        """
        try:
            return self._start()
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._server is not None:
            self._server.stop(0)
        if self.runner is not None:
            self.runner.shutdown(0)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        if self._store is not None:
            self._store.close()

    def _start(self) -> "LtrnnServer":
        settings = self.settings
        artifacts = ArtifactStore(settings.data_dir)
        self._store = JobStore(settings.database_path)

        interceptors = [metrics.MetricsInterceptor()]
        if settings.auth_token_file:
            interceptors.append(BearerTokenInterceptor(read_tokens(settings.auth_token_file)))
        options = [
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_workers, thread_name_prefix="ltrnn-rpc"
            ),
            interceptors=interceptors,
            options=options,
        )

        if FIT in self.services:
            from .fit_service import FitServicer
            from .runner import CellRunner

            self.runner = CellRunner(settings, self._store, artifacts)
            self.fit_servicer = FitServicer(settings, self._store, artifacts, self.runner)
            self.runner.set_job_finished_callback(self.fit_servicer.write_sweep_result)
            fit_pb2_grpc.add_FitServiceServicer_to_server(self.fit_servicer, self._server)
        if ANALYSIS in self.services:
            self.analysis_servicer = AnalysisServicer(settings, self._store, artifacts)
            analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(
                self.analysis_servicer, self._server
            )

        self._health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = [SERVICE_NAMES[name] for name in self.services]
        reflection.enable_server_reflection(
            (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            self._server,
        )

        address = _bind_address(settings.host, settings.port)
        if settings.tls_cert:
            credentials = grpc.ssl_server_credentials(
                [(Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())]
            )
            self.port = self._server.add_secure_port(address, credentials)
        else:
            self.port = self._server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"could not bind the gRPC server to {address}; is the port in use?")

        if self.runner is not None:
            self.runner.start()
        if settings.metrics_port:
            self._metrics_http = metrics.start_metrics_server(settings.host, settings.metrics_port)
        self._server.start()
        for name in ("", *names):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info(
            "serving %s on %s (%s, authentication %s); data in %s, jobs in %s",
            ", ".join(names), _bind_address(settings.host, self.port),
            "TLS" if settings.tls_cert else "plaintext",
            "on" if settings.auth_token_file else "off",
            settings.data_dir, settings.database_path,
        )
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop intake and shut down within ``grace`` seconds (default: the setting).

        Health turns NOT_SERVING and new RPCs are rejected. Running RPCs get ``grace``
        seconds, and open WatchJob streams end with UNAVAILABLE, so clients reconnect with
        after_sequence. Running cells get ``grace`` seconds too. The runner puts the cells
        still running then back to PENDING for the next start.
        """
        if self._stopped.is_set() or self._server is None:
            return
        grace = self.settings.grace_seconds if grace is None else grace
        logger.info("stopping: %.0f s grace for running RPCs and cells", grace)
        self._health.enter_graceful_shutdown()
        if self.fit_servicer is not None:
            self.fit_servicer.close()
        if getattr(self, "analysis_servicer", None) is not None:
            self.analysis_servicer.close()
        stopped = self._server.stop(grace)
        if self.runner is not None:
            self.runner.shutdown(grace)
        stopped.wait()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        self._store.close()
        self._stopped.set()
        logger.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` has finished; False when ``timeout`` passed first."""
        return self._stopped.wait(timeout)


def create_server(settings: Settings, services=SERVICES) -> LtrnnServer:
    """Build and start a server; the caller stops it with ``server.stop()``."""
    return LtrnnServer(settings, services).start()


def serve(settings: Settings, services=SERVICES) -> int:
    """Run a server until SIGTERM or SIGINT, then stop it gracefully. Returns the exit code."""
    logging.basicConfig(
        level=settings.log_level_number,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server = create_server(settings, services)
    received = threading.Event()

    def request_stop(signum, frame):
        logger.info("received %s", signal.Signals(signum).name)
        received.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not received.wait(1.0):
        pass
    server.stop()
    return 0
