"""The image entrypoint script, run outside a container.

Recording stand-ins for `ltrnn`, `ray` and `ltrnn-healthcheck` on PATH check the dispatch
table, so no Ray node starts. The service roles also start for real with the installed
`ltrnn` command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from deploy_helpers import DEPLOY

ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"
HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"
STUB = """#!/bin/sh
{{ echo "$$"; echo "$(basename "$0")"; for argument in "$@"; do echo "$argument"; done; }} > "{record}"
"""


@pytest.fixture
def stub_path(tmp_path):
    """PATH whose ltrnn, ray and ltrnn-healthcheck record their pid and argv to a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record"
    for name in ("ltrnn", "ray", "ltrnn-healthcheck"):
        stub = bin_dir / name
        stub.write_text(STUB.format(record=record))
        stub.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}", record


def _run_entrypoint(args, path):
    process = subprocess.Popen(
        ["sh", str(ENTRYPOINT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PATH": path},
    )
    stdout, stderr = process.communicate(timeout=30)
    return process.pid, process.returncode, stdout, stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], ["ltrnn", "serve"]),
        (["all", "--port", "6000"], ["ltrnn", "serve", "--port", "6000"]),
        (["serve"], ["ltrnn", "serve"]),
        (["fit"], ["ltrnn", "serve-fit"]),
        (["analysis", "--log-level", "DEBUG"], ["ltrnn", "serve-analysis", "--log-level", "DEBUG"]),
        (["--metrics-port", "0"], ["ltrnn", "serve", "--metrics-port", "0"]),
        (
            ["ray-head"],
            ["ray", "start", "--head", "--block", "--port=6379", "--ray-client-server-port=10001",
             "--dashboard-host=0.0.0.0"],
        ),
        (
            ["ray-worker", "ltrnn-ray-head-svc:6379", "--num-gpus=1"],
            ["ray", "start", "--block", "--address=ltrnn-ray-head-svc:6379", "--num-gpus=1"],
        ),
        (["healthcheck", "--timeout", "1"], ["ltrnn-healthcheck", "--timeout", "1"]),
        (["ltrnn", "--help"], ["ltrnn", "--help"]),
        (["ray", "status"], ["ray", "status"]),
    ],
)
def test_role_runs_command(stub_path, args, expected):
    path, record = stub_path
    pid, returncode, _, stderr = _run_entrypoint(args, path)
    assert returncode == 0, stderr
    recorded_pid, *argv = record.read_text().splitlines()
    assert argv == expected
    # exec: the command replaces the shell, so signals sent to the container reach it.
    assert int(recorded_pid) == pid


@pytest.mark.parametrize(
    "args, message",
    [
        (["worker"], "unknown role 'worker'; expected one of: all, fit, analysis"),
        (["ray-worker"], "role ray-worker needs the head's GCS address HOST:PORT"),
    ],
)
def test_bad_role_is_rejected(stub_path, args, message):
    path, record = stub_path
    _, returncode, _, stderr = _run_entrypoint(args, path)
    assert returncode == 64
    assert message in stderr
    assert not record.exists()


def test_help_lists_roles(stub_path):
    path, _ = stub_path
    _, returncode, stdout, _ = _run_entrypoint(["--help"], path)
    assert returncode == 0
    for role in ("all", "fit", "analysis", "ray-head", "ray-worker", "healthcheck"):
        assert f"\n  {role} " in stdout


# --- real services -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_serving(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before serving")
        result = subprocess.run(
            [sys.executable, str(HEALTHCHECK), "--address", f"127.0.0.1:{port}", "--timeout", "1"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if result.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"server on port {port} did not report SERVING within {timeout} s")


def test_analysis_role_serves_and_stops(tmp_path):
    # The analysis role starts no Ray runtime, so it is the quick one to run for real. The
    # other roles differ only in the command, which the stand-in tests above check.
    bin_dir = os.path.dirname(sys.executable)
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "LTRNN_HOST": "127.0.0.1",
        "LTRNN_PORT": str(port),
        "LTRNN_METRICS_PORT": "0",
        "LTRNN_DATA_DIR": str(tmp_path / "data"),
        "LTRNN_GRACE_SECONDS": "2",
    }
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "analysis"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_serving(port, process, timeout=120)
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert returncode == 0, log_path.read_text()[-4000:]
