"""Loopback load test: concurrent small analysis requests while small sweeps run.

The script starts ``ltrnn serve`` as a subprocess on a free loopback port (local Ray runtime
of 2 CPUs, temporary data directory), uploads a tiny synthetic recording and submits
``--sweeps`` sweeps. Then ``--clients`` threads, each with its own SDK client, send small
requests until each has sent ``--requests`` or ``--duration`` seconds have passed. Most
requests are Subspaces of two random 20 x 3 bases. Every ``--rank-every``-th request of a
client is a TensorRank of a 6 x 5 x 4 tensor at ranks 1 and 2. A sampler reads the server's resident memory
(VmRSS in /proc/<pid>/status) every ``--sample-seconds``.

It prints the latency percentiles, the errors by status code and the memory samples as
JSON, and a Markdown table. RESOURCE_EXHAUSTED is the only error expected by design; the
exit status is 1 when any other error occurred. Loopback only; the server is stopped with
SIGTERM at the end (SIGKILL of its process group if it does not stop).

Usage::

    python benchmarks/load_test.py [--clients 20] [--requests 100] [--duration 60] [--sweeps 4]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ltrnn.engine.io import save_npz
from ltrnn.engine.synthetic import simulate_recording
from ltrnn.sdk import Client
from ltrnn.sdk.errors import LtrnnError

EXPECTED_ERRORS = {"RESOURCE_EXHAUSTED"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB, read from /proc (Linux only)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemorySampler(threading.Thread):
    """Samples the RSS of one process every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self._start = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic() - self._start, rss_mib(self.pid)))
            except (FileNotFoundError, ProcessLookupError):
                return
            self.stop.wait(self.interval)


def client_loop(address, index, requests, deadline, rank_every, latencies, errors, lock):
    rng = np.random.default_rng(index + 1)
    with Client(address, timeout=60) as client:
        for number in range(requests):
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            try:
                if rank_every and number % rank_every == rank_every - 1:
                    client.tensor_rank(rng.standard_normal((6, 5, 4)), ranks=[1, 2], replicates=2)
                    kind = "TensorRank"
                else:
                    client.subspaces(rng.standard_normal((20, 3)), rng.standard_normal((20, 3)))
                    kind = "Subspaces"
            except LtrnnError as error:
                with lock:
                    errors[error.code.name if error.code else type(error).__name__] += 1
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies[kind].append(elapsed)


def percentile_ms(values, q) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


def summarise(latencies: dict) -> dict:
    """Count, p50, p99 and max in ms of each kind of request and of all together."""
    everything = [value for values in latencies.values() for value in values]
    return {
        kind: {"count": len(values), "p50": percentile_ms(values, 50),
               "p99": percentile_ms(values, 99), "max": percentile_ms(values, 100)}
        for kind, values in sorted({**latencies, "all": everything}.items())
    }


def run(args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="ltrnn-load-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    log_path = root / "server.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LTRNN_", "RAY_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "ltrnn.cli.main", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--metrics-port", "0", "--data-dir", str(root / "data"),
         "--ray-num-cpus", "2", "--grace-seconds", "0", "--log-level", "WARNING"],
        env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    sampler = MemorySampler(process.pid, args.sample_seconds)
    report = {"clients": args.clients, "requests_per_client": args.requests,
              "duration_limit_seconds": args.duration, "sweeps": args.sweeps}

    try:
        with Client(address, timeout=60) as setup:
            setup.wait_until_ready(timeout=180)
            sampler.start()
            recording, _ = simulate_recording(
                rank=2, n_trials=30, n_neurons=12, rnn_size=10, n_conditions=2, n_epochs=2,
                n_times=12, n_preparatory=3, seed=3,
            )
            path = save_npz(recording, root / "tiny.npz")
            dataset_id = setup.upload(path, progress=False)

            # Baseline: one client alone on the idle server, with the same mix of requests.
            baseline = collections.defaultdict(list)
            client_loop(address, -1, args.baseline_requests, math.inf, args.rank_every,
                        baseline, collections.Counter(), threading.Lock())
            report["baseline_latency_ms"] = summarise(baseline)

            jobs = [
                setup.sweep(dataset_id, ranks=[1, 2], rnn_sizes=[10], seeds=[seed],
                            iterations=args.sweep_iterations, progress=False)
                for seed in range(args.sweeps)
            ]

            latencies = collections.defaultdict(list)
            errors = collections.Counter()
            lock = threading.Lock()
            started = time.monotonic()
            deadline = started + args.duration
            threads = [
                threading.Thread(
                    target=client_loop,
                    args=(address, index, args.requests, deadline, args.rank_every, latencies,
                          errors, lock),
                )
                for index in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            report["load_seconds"] = time.monotonic() - started
            sweep_states = [job.refresh().state for job in jobs]

        everything = [value for values in latencies.values() for value in values]
        report["requests_ok"] = len(everything)
        report["throughput_per_second"] = len(everything) / report["load_seconds"]
        report["latency_ms"] = summarise(latencies)
        report["errors"] = dict(errors)
        report["unexpected_errors"] = {
            code: count for code, count in errors.items() if code not in EXPECTED_ERRORS
        }
        report["sweep_states_after_load"] = sweep_states
    finally:
        sampler.stop.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(root, ignore_errors=True)

    memory = [value for _, value in sampler.samples]
    report["rss_mib"] = {
        "first": memory[0] if memory else None, "max": max(memory) if memory else None,
        "last": memory[-1] if memory else None, "samples": len(memory),
        "series": [(round(t, 1), round(value, 1)) for t, value in sampler.samples],
    }
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    return report


def markdown(report: dict) -> str:
    lines = [
        "| requests | count | p50 ms | p99 ms | max ms | idle p50 ms | p50 x idle | p99 x idle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, values in report["latency_ms"].items():
        idle = report["baseline_latency_ms"].get(kind, {"p50": math.nan, "p99": math.nan})
        lines.append(
            f"| {kind} | {values['count']} | {values['p50']:.1f} | {values['p99']:.1f} | "
            f"{values['max']:.1f} | {idle['p50']:.1f} | {values['p50'] / idle['p50']:.1f} | "
            f"{values['p99'] / idle['p99']:.1f} |"
        )
    rss = report["rss_mib"]
    lines += [
        "",
        f"errors by code: {report['errors'] or 'none'}; load phase {report['load_seconds']:.1f} s, "
        f"{report['throughput_per_second']:.1f} requests/s",
        f"server RSS (MiB): first {rss['first']:.0f}, max {rss['max']:.0f}, last {rss['last']:.0f} "
        f"({rss['samples']} samples)",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=100, help="requests per client")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds after which clients stop sending")
    parser.add_argument("--sweeps", type=int, default=4, help="sweeps running during the load")
    parser.add_argument("--sweep-iterations", type=int, default=300,
                        help="training iterations of each sweep cell")
    parser.add_argument("--rank-every", type=int, default=10,
                        help="every N-th request of a client is a TensorRank (0: none)")
    parser.add_argument("--baseline-requests", type=int, default=50,
                        help="requests of one client on the idle server, the baseline")
    parser.add_argument("--sample-seconds", type=float, default=0.5,
                        help="seconds between two RSS samples of the server")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1 or args.duration <= 0:
        parser.error("--clients and --requests must be >= 1 and --duration > 0")
    report = run(args)
    print(json.dumps(report, indent=1))
    print()
    print(markdown(report))
    return 1 if report["unexpected_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
