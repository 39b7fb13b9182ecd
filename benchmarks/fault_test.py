"""Fault test: SIGKILL ``ltrnn serve`` during a sweep, restart it, check that the sweep resumes.

The script starts ``ltrnn serve`` as a subprocess on a free loopback port with a temporary
data directory and a local Ray runtime of 2 CPUs, uploads a tiny synthetic recording and
submits a sweep whose cells run one after another. Once at least one cell has finished it
sends SIGKILL to the server's whole process group (the server, its Ray runtime and the
workers), starts the server again on the same data directory and follows the job to its
end. It then checks that

- the job ends SUCCEEDED with every cell SUCCEEDED,
- cells that finished before the kill keep their model id, attempt count, start time and
  model file modification time (they were not fitted again),
- the cell that was running is marked "lost when the service stopped" and ran again,
- every model file in the data directory loads with ``FitResult.load``.

It prints one JSON object with the timings and the result of each check, and exits with 1
when a check fails. Loopback only; the run stops by itself after ``--timeout`` seconds.

Usage::

    python benchmarks/fault_test.py [--ranks 3] [--iterations 300] [--kills 1]
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
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltrnn.engine.io import save_npz
from ltrnn.engine.result import FitResult
from ltrnn.engine.synthetic import simulate_recording
from ltrnn.v1 import common_pb2, fit_pb2, fit_pb2_grpc, sweep_pb2

CHUNK_BYTES = 1024 * 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    """Start ``ltrnn serve`` in a new session, so that killpg reaches Ray's processes too."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LTRNN_", "RAY_"))}
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "ltrnn.cli.main", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--metrics-port", "0", "--data-dir", str(data_dir),
         "--ray-num-cpus", "2", "--grace-seconds", "0"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_serving(process: subprocess.Popen, channel, log_path: Path, timeout: float) -> float:
    """Wait until the health check reports SERVING; return the seconds it took."""
    started = time.monotonic()
    health = health_pb2_grpc.HealthStub(channel)
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode} before serving; log:\n"
                f"{log_path.read_text()[-3000:]}"
            )
        try:
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return time.monotonic() - started
        except grpc.RpcError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the server did not serve within {timeout} s")


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group of ``process`` (it leads its own session) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def group_members(pgid: int) -> list[int]:
    """Return the live (not zombie) pids whose process group is ``pgid``, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def upload(stub, content: bytes) -> str:
    def requests():
        header = fit_pb2.DatasetHeader(
            name="fault-test", format="npz", sha256=hashlib.sha256(content).hexdigest(),
            total_bytes=len(content),
        )
        yield fit_pb2.UploadDatasetRequest(header=header)
        for offset in range(0, len(content), CHUNK_BYTES):
            yield fit_pb2.UploadDatasetRequest(chunk=content[offset:offset + CHUNK_BYTES])

    return stub.UploadDataset(requests(), timeout=60).dataset_id


def tiny_recording_bytes(directory: Path) -> bytes:
    recording, _ = simulate_recording(
        rank=2, n_trials=30, n_neurons=12, rnn_size=10, n_conditions=2, n_epochs=2,
        n_times=12, n_preparatory=3, seed=3,
    )
    return save_npz(recording, directory / "tiny.npz").read_bytes()


def cell_snapshot(cell, data_dir: Path) -> dict:
    path = data_dir / "models" / f"{cell.model_id}.npz"
    return {
        "model_id": cell.model_id,
        "attempts": cell.attempts,
        "start_time": cell.start_time.ToNanoseconds(),
        "model_mtime_ns": path.stat().st_mtime_ns if cell.model_id else None,
    }


def run(ranks: int, iterations: int, kills: int, timeout: float, keep: bool) -> dict:
    deadline = time.monotonic() + timeout
    root = Path(tempfile.mkdtemp(prefix="ltrnn-fault-"))
    data_dir, log_path = root / "data", root / "server.log"
    port = free_port()
    report = {"ranks": ranks, "iterations": iterations, "kills": kills, "checks": {}}
    checks = report["checks"]
    process = start_server(data_dir, port, log_path)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        report["first_start_seconds"] = wait_serving(process, channel, log_path, 180)
        stub = fit_pb2_grpc.FitServiceStub(channel)
        dataset_id = upload(stub, tiny_recording_bytes(root))
        # Each cell reserves 1.5 of the 2 CPUs, so cells run one at a time and the kill
        # lands between finished and unfinished cells.
        spec = sweep_pb2.SweepSpec(
            dataset_id=dataset_id, ranks=list(range(1, ranks + 1)), rnn_sizes=[10], seeds=[0],
            hyperparameters=sweep_pb2.FitHyperparameters(
                iterations=iterations, eval_every=10, patience=iterations
            ),
            cell_resources=common_pb2.Resources(num_cpus=1.5),
        )
        job_id = stub.SubmitSweep(fit_pb2.SubmitSweepRequest(sweep=spec), timeout=60).job.job_id
        report["job_id"] = job_id

        finished_before = {}
        for kill in range(kills):
            # Wait for one more finished cell than before this kill.
            target = len(finished_before) + 1
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError("the run passed --timeout before the kill")
                job = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id), timeout=30)
                done = [cell for cell in job.cells if cell.state == common_pb2.CELL_STATE_SUCCEEDED]
                if len(done) >= target or job.state != common_pb2.JOB_STATE_RUNNING and done:
                    break
                time.sleep(0.2)
            if job.cell_counts.succeeded == job.cell_counts.total:
                report["note"] = f"every cell finished before kill {kill + 1}; use more ranks"
                break
            for cell in done:
                finished_before[cell.index] = cell_snapshot(cell, data_dir)
            members = group_members(process.pid)
            channel.close()
            kill_group(process)
            time.sleep(1.0)
            report.setdefault("killed_processes", []).append(len(members))
            report.setdefault("survivors_after_kill", []).append(len(group_members(process.pid)))
            restart = time.monotonic()
            process = start_server(data_dir, port, log_path)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            wait_serving(process, channel, log_path, 180)
            report.setdefault("restart_seconds", []).append(time.monotonic() - restart)
            stub = fit_pb2_grpc.FitServiceStub(channel)

        report["cells_finished_before_kill"] = sorted(finished_before)
        remaining = max(deadline - time.monotonic(), 1.0)
        events = list(stub.WatchJob(fit_pb2.WatchJobRequest(job_id=job_id), timeout=remaining))
        job = stub.GetJob(fit_pb2.GetJobRequest(job_id=job_id), timeout=30)
        report["job_state"] = common_pb2.JobState.Name(job.state)
        report["attempts"] = [cell.attempts for cell in job.cells]
        checks["job succeeded"] = job.state == common_pb2.JOB_STATE_SUCCEEDED
        checks["every cell succeeded"] = all(
            cell.state == common_pb2.CELL_STATE_SUCCEEDED for cell in job.cells
        )
        checks["a cell finished before the kill"] = bool(finished_before)
        checks["finished cells not refitted"] = bool(finished_before) and all(
            cell_snapshot(job.cells[index], data_dir) == before
            for index, before in finished_before.items()
        )
        checks["lost cell resubmitted"] = any(
            event.HasField("cell_state") and "lost when the service stopped" in event.cell_state.message
            for event in events
        )
        loaded, broken = 0, []
        for path in sorted((data_dir / "models").glob("*.npz")):
            try:
                FitResult.load(path)
                loaded += 1
            except Exception as error:  # noqa: BLE001 - every failure is reported
                broken.append(f"{path.name}: {type(error).__name__}: {error}")
        report["models_loaded"] = loaded
        report["models_broken"] = broken
        checks["every model file loads"] = loaded == len(job.cells) and not broken
        # The result table is written just after the job turns final, so wait for it
        # before looking for partial files.
        result_path = data_dir / "results" / f"{job_id}.json"
        while not result_path.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        checks["sweep result written"] = result_path.is_file()
        checks["no partial files left"] = not any((data_dir / "tmp").iterdir())
        channel.close()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                kill_group(process)
        leftovers = group_members(process.pid)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        report["leftover_processes"] = len(leftovers)
        report["server_log"] = str(log_path) if keep else ""
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    report["passed"] = all(checks.values())
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=3, help="cells of the sweep (ranks 1..N)")
    parser.add_argument("--iterations", type=int, default=300, help="training iterations per cell")
    parser.add_argument("--kills", type=int, default=1, help="SIGKILLs of the server, each after one more finished cell")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before the run gives up")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and server log")
    args = parser.parse_args(argv)
    if args.ranks < 2 or args.kills < 1 or args.kills >= args.ranks:
        parser.error("--ranks must be >= 2 and --kills in [1, ranks - 1]")
    started = time.monotonic()
    report = run(args.ranks, args.iterations, args.kills, args.timeout, args.keep)
    report["total_seconds"] = time.monotonic() - started
    print(json.dumps(report, indent=1))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
