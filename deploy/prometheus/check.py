#!/usr/bin/env python3
"""Scrape a real `ltrnn serve` with a real Prometheus on loopback and query its metrics.

The script starts `ltrnn serve` on 127.0.0.1 with a temporary data directory and its own
local Ray runtime. It then starts Prometheus (Debian package ``prometheus``) with a 1 s
scrape interval on the server's metrics port and runs a small sweep through the gRPC API.
Finally it queries Prometheus' HTTP API for the rate of finished sweep cells and for the
other expressions of docs/deploy.md. Exits 0 when the cell rate is above zero, 1 when it
is not, 2 when a program is missing.

Run it from the repository's virtual environment (only loopback addresses are used):

    apt-get install prometheus        # once, as root
    python deploy/prometheus/check.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltrnn.engine.io import save_npz
from ltrnn.engine.recording import Recording
from ltrnn.v1 import common_pb2, fit_pb2, fit_pb2_grpc, sweep_pb2

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 1024 * 1024
FINAL_JOB_STATES = {
    common_pb2.JOB_STATE_SUCCEEDED,
    common_pb2.JOB_STATE_FAILED,
    common_pb2.JOB_STATE_CANCELLED,
}
# The expressions that docs/deploy.md recommends, evaluated against the live server.
QUERIES = {
    "cells finished per second": "sum by (state) (rate(ltrnn_cells_finished_total[1m]))",
    "jobs finished per second": "sum by (state) (rate(ltrnn_jobs_finished_total[1m]))",
    "median cell seconds": (
        "histogram_quantile(0.5, sum by (le) (rate(ltrnn_cell_duration_seconds_bucket[1m])))"
    ),
    "p95 cell seconds": (
        "histogram_quantile(0.95, sum by (le) (rate(ltrnn_cell_duration_seconds_bucket[1m])))"
    ),
    "training iterations per second": "sum(rate(ltrnn_training_iterations_total[1m]))",
    "RPC error ratio": (
        'sum(rate(ltrnn_rpc_handled_total{code!="OK"}[1m]))'
        " / sum(rate(ltrnn_rpc_handled_total[1m]))"
    ),
}
CELL_RATE_QUERY = "rate(ltrnn_cells_finished_total[1m])"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _find_program(name: str, given: str | None) -> str | None:
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(name)


def _wait_for(description: str, condition, timeout: float, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{description}: the process exited with code {process.returncode}")
        if condition():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{description}: not reached within {timeout:.0f} s")


def _http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback URLs only
        return response.read()


def _prometheus_query(web_port: int, expression: str) -> list[dict]:
    query = urllib.parse.urlencode({"query": expression})
    body = json.loads(_http_get(f"http://{LOOPBACK}:{web_port}/api/v1/query?{query}"))
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus rejected {expression!r}: {body}")
    return body["data"]["result"]


def _serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


def _prometheus_ready(web_port: int) -> bool:
    try:
        _http_get(f"http://{LOOPBACK}:{web_port}/-/ready", timeout=1.0)
    except OSError:
        return False
    return True


def _small_recording(seed: int = 0) -> Recording:
    """24 trials x 12 neurons x 10 bins of smooth rates, two conditions, two epochs."""
    rng = np.random.default_rng(seed)
    n_trials, n_neurons, n_times = 24, 12, 10
    times = np.arange(n_times, dtype=float) - 2
    condition = np.array(["left", "right"] * (n_trials // 2))
    epoch = np.array(["baseline"] * (n_trials // 2) + ["learning"] * (n_trials // 2))
    profile = np.sin(np.linspace(0, np.pi, n_times))
    gains = rng.normal(size=(n_neurons, 1))
    sign = np.where(condition == "left", 1.0, -1.0)[:, None, None]
    data = sign * gains[None] * profile[None, None] + 0.1 * rng.normal(size=(n_trials, n_neurons, n_times))
    return Recording.from_arrays(data, condition=condition, epoch=epoch, times=times, kind="rates")


def _upload(stub, path: Path) -> str:
    content = path.read_bytes()
    header = fit_pb2.DatasetHeader(
        name="prometheus-check",
        format="npz",
        sha256=hashlib.sha256(content).hexdigest(),
        total_bytes=len(content),
    )

    def requests():
        yield fit_pb2.UploadDatasetRequest(header=header)
        for start in range(0, len(content), CHUNK_BYTES):
            yield fit_pb2.UploadDatasetRequest(chunk=content[start:start + CHUNK_BYTES])

    return stub.UploadDataset(requests(), timeout=60).dataset_id


def _run_sweep(address: str, workdir: Path, args: argparse.Namespace) -> None:
    dataset_path = save_npz(_small_recording(), workdir / "recording.npz")
    with grpc.insecure_channel(address) as channel:
        stub = fit_pb2_grpc.FitServiceStub(channel)
        dataset_id = _upload(stub, dataset_path)
        spec = sweep_pb2.SweepSpec(
            dataset_id=dataset_id,
            ranks=list(range(1, args.ranks + 1)),
            rnn_sizes=[8],
            seeds=list(range(args.seeds)),
            hyperparameters=sweep_pb2.FitHyperparameters(iterations=args.iterations),
            cell_resources=common_pb2.Resources(num_cpus=1, num_gpus=0),
            name="prometheus-check",
        )
        job = stub.SubmitSweep(fit_pb2.SubmitSweepRequest(sweep=spec), timeout=60).job
        print(f"submitted sweep {job.job_id} with {args.ranks * args.seeds} cells", flush=True)
        deadline = time.monotonic() + args.timeout
        while job.state not in FINAL_JOB_STATES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sweep {job.job_id} did not finish within {args.timeout} s")
            time.sleep(0.5)
            job = stub.GetJob(fit_pb2.GetJobRequest(job_id=job.job_id), timeout=30)
        counts = job.cell_counts
        print(
            f"sweep {job.job_id} {common_pb2.JobState.Name(job.state)}: "
            f"{counts.succeeded} succeeded, {counts.failed} failed, {counts.cancelled} cancelled",
            flush=True,
        )


def _write_prometheus_config(path: Path, metrics_port: int) -> None:
    path.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: ltrnn\n"
        "    static_configs:\n"
        f"      - targets: ['{LOOPBACK}:{metrics_port}']\n"
    )


def _stop(process: subprocess.Popen | None, name: str, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop within {timeout:.0f} s after SIGTERM; killing it", file=sys.stderr)
        process.kill()
        process.wait(timeout=30)


def _format_result(result: list[dict]) -> str:
    if not result:
        return "no data"
    parts = []
    for series in result:
        labels = ",".join(f"{key}={value}" for key, value in sorted(series["metric"].items()))
        parts.append(f"{{{labels}}} {float(series['value'][1]):.4g}")
    return "; ".join(parts)


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", help="prometheus executable (default: on PATH)")
    parser.add_argument("--ltrnn", help="ltrnn executable (default: beside this Python, then PATH)")
    parser.add_argument("--ranks", type=int, default=3, help="ranks 1..RANKS in the sweep (default: 3)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per rank (default: 2)")
    parser.add_argument("--iterations", type=int, default=300, help="training iterations per cell (default: 300)")
    parser.add_argument("--ray-num-cpus", type=int, default=2, help="CPUs of the server's local Ray (default: 2)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed for each step (default: 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory with the logs")
    args = parser.parse_args(argv)
    for name in ("ranks", "seeds", "iterations", "ray_num_cpus"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    return args


def main(argv=None) -> int:
    """Run the check; return the exit status."""
    args = _parse_args(argv)
    prometheus = _find_program("prometheus", args.prometheus)
    ltrnn = _find_program("ltrnn", args.ltrnn)
    if prometheus is None:
        print("prometheus not found; install it with: apt-get install prometheus", file=sys.stderr)
        return 2
    if ltrnn is None:
        print("ltrnn not found; install the project: pip install -e .", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="ltrnn-prometheus-check-"))
    grpc_port, metrics_port, web_port = _free_port(), _free_port(), _free_port()
    address = f"{LOOPBACK}:{grpc_port}"
    # Without LTRNN_* and RAY_* variables the server starts its own local Ray runtime.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LTRNN_", "RAY_"))}
    server = prometheus_process = None
    try:
        with open(workdir / "server.log", "w") as server_log:
            server = subprocess.Popen(
                [ltrnn, "serve", "--host", LOOPBACK, "--port", str(grpc_port),
                 "--metrics-port", str(metrics_port), "--data-dir", str(workdir / "data"),
                 "--ray-num-cpus", str(args.ray_num_cpus), "--grace-seconds", "5"],
                stdout=server_log, stderr=subprocess.STDOUT, env=env,
            )
        _wait_for("ltrnn serve reports SERVING", lambda: _serving(address), args.timeout, server)
        print(f"ltrnn serve on {address}, metrics on {LOOPBACK}:{metrics_port}", flush=True)

        config = workdir / "prometheus.yml"
        _write_prometheus_config(config, metrics_port)
        with open(workdir / "prometheus.log", "w") as prometheus_log:
            prometheus_process = subprocess.Popen(
                [prometheus, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address={LOOPBACK}:{web_port}"],
                stdout=prometheus_log, stderr=subprocess.STDOUT,
            )
        _wait_for("Prometheus ready", lambda: _prometheus_ready(web_port), 60, prometheus_process)
        print(f"Prometheus on {LOOPBACK}:{web_port}, scraping every 1 s", flush=True)

        _run_sweep(address, workdir, args)

        # Two scrapes after the last cell finished put its increase into the rate window.
        def cell_rate_positive():
            return any(float(series["value"][1]) > 0 for series in _prometheus_query(web_port, CELL_RATE_QUERY))

        try:
            _wait_for("a non-zero cell rate in Prometheus", cell_rate_positive, 30)
            positive = True
        except TimeoutError as error:
            print(error, file=sys.stderr)
            positive = False

        # A few more scrapes give the series created at the end of the sweep (jobs finished)
        # the two samples that rate() needs.
        time.sleep(3)
        print(f"{CELL_RATE_QUERY} = {_format_result(_prometheus_query(web_port, CELL_RATE_QUERY))}")
        for description, expression in QUERIES.items():
            print(f"{description}: {expression}\n    = {_format_result(_prometheus_query(web_port, expression))}")
        return 0 if positive else 1
    except (RuntimeError, TimeoutError, OSError, grpc.RpcError) as error:
        print(f"check failed: {error}", file=sys.stderr)
        for log_name in ("server.log", "prometheus.log"):
            log_path = workdir / log_name
            if log_path.exists():
                tail = log_path.read_text(errors="replace").splitlines()[-40:]
                print(f"--- last lines of {log_name} ---", *tail, sep="\n", file=sys.stderr)
        return 1
    finally:
        _stop(prometheus_process, "prometheus", 30)
        _stop(server, "ltrnn serve", 60)
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
