"""Both ltrnn services in this process, on a free loopback port, for use without a server."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path

from .client import Client, DEFAULT_TIMEOUT

logger = logging.getLogger(__name__)

# Running cells get this many seconds to finish when the embedded server stops. The rest go
# back to PENDING in the job store and resume on the next start with the same data_dir.
DEFAULT_GRACE_SECONDS = 5.0


class EmbeddedServer:
    """A running in-process server; get one from :func:`embedded_server`.

    Attributes
    ----------
    address : str
        ``127.0.0.1:<port>`` to connect to.
    data_dir : pathlib.Path
        Where datasets, models, results and the job store live.
    server : ltrnn.server.app.LtrnnServer
    """

    def __init__(self, server, data_dir: Path):
        self.server = server
        self.address = server.address
        self.data_dir = data_dir

    def __repr__(self) -> str:
        return f"EmbeddedServer(address={self.address!r}, data_dir={str(self.data_dir)!r})"

    def connect(self, timeout: float | None = DEFAULT_TIMEOUT) -> Client:
        """Return a :class:`Client` of this server; close it before the server stops."""
        return Client(self.address, token="", timeout=timeout)


@contextlib.contextmanager
def embedded_server(data_dir=None, ray_num_cpus: int | None = None,
                    grace_seconds: float = DEFAULT_GRACE_SECONDS, port: int = 0, **settings):
    """Run the fit and analysis services in this process for the duration of a ``with``.

    The server binds a free port on 127.0.0.1, keeps its job store and artifacts in
    ``data_dir`` and runs cells on a local Ray runtime (or on the one this process already
    started). Authentication and TLS are off, because only this machine can connect.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Artifact directory; created when missing. Default: a temporary directory removed on
        exit, so nothing is kept.
    ray_num_cpus : int, optional
        CPUs of the local Ray runtime; default all cores. Each cell takes one CPU unless the
        sweep requests more, so this is how many cells run at once.
    grace_seconds : float, default=5.0
        Time that running cells get to finish when the block exits; unfinished cells resume
        when a server next starts on the same ``data_dir``.
    port : int, default=0
        Port to bind on 127.0.0.1; 0 picks a free one.
    **settings
        Other fields of ``ltrnn.server.settings.Settings`` (e.g. ``max_cells``).

    Yields
    ------
    EmbeddedServer

    Examples
    --------
    >>> from ltrnn.sdk import embedded_server  # doctest: +SKIP
    >>> with embedded_server(ray_num_cpus=2) as server:  # doctest: +SKIP
    ...     client = server.connect()
    ...     job = client.sweep("session.npz", ranks=[1, 2, 3], iterations=600)
    ...     result = job.watch().result()
    """
    from ltrnn.server.app import create_server
    from ltrnn.server.settings import Settings

    known = {field.name for field in dataclasses.fields(Settings)}
    fixed = {"host", "port", "metrics_port", "auth_token_file", "tls_cert", "tls_key", "data_dir"}
    unknown = sorted(set(settings) - (known - fixed))
    if unknown:
        raise ValueError(
            f"embedded_server does not take the settings {unknown}; it takes "
            f"{sorted(known - fixed)}"
        )
    if ray_num_cpus is not None:
        if isinstance(ray_num_cpus, bool) or not isinstance(ray_num_cpus, int) or ray_num_cpus < 1:
            raise ValueError(f"ray_num_cpus must be an integer >= 1, got {ray_num_cpus!r}")
        settings["ray_num_cpus"] = ray_num_cpus

    temporary = None
    if data_dir is None:
        temporary = tempfile.mkdtemp(prefix="ltrnn-embedded-")
        data_dir = temporary
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = create_server(Settings(
            host="127.0.0.1", port=port, metrics_port=0, data_dir=str(data_dir),
            grace_seconds=grace_seconds, **settings,
        ))
        logger.info("embedded ltrnn server on %s, data in %s", server.address, data_dir)
        try:
            yield EmbeddedServer(server, data_dir)
        finally:
            server.stop()
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
