"""Helpers of the server tests: uploads, stubs, event streams, metrics and polling."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import time
import urllib.request

import grpc
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ltrnn.v1 import fit_pb2, fit_pb2_grpc, jobs_pb2

CHUNK_BYTES = 1024 * 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def upload_requests(content: bytes, *, sha256: str | None = None, name: str = "test"):
    header = fit_pb2.DatasetHeader(
        name=name, format="npz", sha256=sha256 or hashlib.sha256(content).hexdigest(),
        total_bytes=len(content),
    )
    yield fit_pb2.UploadDatasetRequest(header=header)
    for offset in range(0, len(content), CHUNK_BYTES):
        yield fit_pb2.UploadDatasetRequest(chunk=content[offset:offset + CHUNK_BYTES])


def fit_stub(server) -> fit_pb2_grpc.FitServiceStub:
    channel = grpc.insecure_channel(
        server.address,
        options=[("grpc.max_receive_message_length", server.settings.max_message_bytes)],
    )
    return fit_pb2_grpc.FitServiceStub(channel)


def watch_until(stub, job_id: str, stop, *, after: int = 0, timeout: float = 120.0):
    """Read WatchJob events up to the first one where ``stop(event)`` is true; return them.

    Raises AssertionError when the stream ends first, with the last events in the message.
    """
    events = []
    stream = stub.WatchJob(
        fit_pb2.WatchJobRequest(job_id=job_id, after_sequence=after), timeout=timeout
    )
    for event in stream:
        events.append(event)
        if stop(event):
            stream.cancel()
            return events
    raise AssertionError(f"job {job_id} ended before the awaited event; last events: {events[-3:]}")


def watch_all(stub, job_id: str, *, after: int = 0, timeout: float = 120.0):
    """Read every WatchJob event after ``after`` until the stream ends; return them."""
    request = fit_pb2.WatchJobRequest(job_id=job_id, after_sequence=after)
    return list(stub.WatchJob(request, timeout=timeout))


def job_ended(event: jobs_pb2.JobEvent) -> bool:
    return event.HasField("job_state") and event.job_state.state in (3, 4, 5)


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1):
    """Poll ``condition()`` until it returns a true value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def random_npz(n_bytes: int, seed: int = 0) -> bytes:
    """An uncompressed recording file of about ``n_bytes`` bytes of float64 rates."""
    n_times = max(2, n_bytes // (64 * 64 * 8))
    data = np.random.default_rng(seed).standard_normal((64, 64, n_times))
    stream = io.BytesIO()
    np.savez(stream, data=data)
    return stream.getvalue()


def metric_value(server, name: str, **labels) -> float:
    """Read one sample of the server's /metrics page; 0 when the series does not exist yet."""
    url = f"http://127.0.0.1:{server.settings.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def kill_ray_worker(pid: int) -> None:
    """SIGKILL a Ray worker process, after checking that ``pid`` is one (never this process)."""
    assert pid > 0
    assert pid != os.getpid()
    with open(f"/proc/{pid}/cmdline", "rb") as stream:
        command = stream.read().split(b"\0")[0].decode(errors="replace")
    assert command.startswith("ray::"), f"pid {pid} is not a Ray worker: {command!r}"
    os.kill(pid, signal.SIGKILL)
