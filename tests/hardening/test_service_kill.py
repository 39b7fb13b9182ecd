"""SIGKILL of ``ltrnn serve`` during a sweep, through benchmarks/fault_test.py.

The script starts the server as a subprocess with its own local Ray runtime (about 15 to
30 s per start on 2 cores), so this module starts no Ray runtime of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fault_test.py"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def checks_of(report) -> dict:
    return report["checks"]


@pytest.fixture(scope="module")
def report():
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--ranks", "3", "--iterations", "200", "--timeout", "240"],
        capture_output=True, text=True, timeout=280,
    )
    assert finished.stdout.strip(), finished.stderr[-3000:]
    result = json.loads(finished.stdout)
    result["returncode"] = finished.returncode
    return result


def test_killed_service_resumes_sweep(report):
    checks = checks_of(report)
    assert checks["a cell finished before the kill"], report
    assert checks["job succeeded"], report
    assert checks["every cell succeeded"], report
    assert checks["lost cell resubmitted"], report
    assert report["returncode"] == 0, report


def test_finished_cells_not_refitted(report):
    assert checks_of(report)["finished cells not refitted"], report
    finished = report["cells_finished_before_kill"]
    assert all(report["attempts"][index] == 1 for index in finished), report


def test_no_artifact_corrupt(report):
    assert report["models_broken"] == []
    assert report["models_loaded"] == 3
    assert checks_of(report)["no partial files left"], report
    assert checks_of(report)["sweep result written"], report


def test_kill_reached_every_server_process(report):
    assert report["survivors_after_kill"] == [0]
    assert report["leftover_processes"] == 0
