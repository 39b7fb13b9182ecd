"""The Ray task that fits one sweep cell, and the actor that carries its progress back.

Ray workers import this module, so it imports only the engine, NumPy, torch and Ray. The
imports sit at module level, so a worker runs them once, when Ray loads the task function.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import ray
import torch

from ltrnn.engine.config import FitConfig
from ltrnn.engine.fitting import fit
from ltrnn.engine.io import load_npz
from ltrnn.engine.masks import MaskConfig

# Seconds between two progress reports of one cell. The reply to a report states whether the
# cell was cancelled and is read at the next report, so cancellation takes about twice this.
PROGRESS_INTERVAL = 0.5


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class ProgressBoard:
    """Collects starts and the latest progress of running cells, and the cancelled cells.

    Workers call :meth:`started` and :meth:`report`, which return True once the cell is
    cancelled. The service drains the board a few times per second. Keys are ``(job_id, cell_index)``. The actor asks for no CPU, so it
    never takes a slot from a cell.
    """

    def __init__(self):
        self._starts = []
        self._latest = {}
        self._cancelled = set()

    def started(self, key, pid: int, node: str) -> bool:
        self._starts.append((key, pid, node))
        return key in self._cancelled

    def report(self, key, progress: dict) -> bool:
        self._latest[key] = progress
        return key in self._cancelled

    def cancel(self, keys) -> None:
        self._cancelled.update(keys)

    def drain(self):
        starts, latest = self._starts, self._latest
        self._starts, self._latest = [], {}
        return starts, latest


class _BoardClient:
    """Sends starts and progress to the board and collects its "cancelled" replies.

    Only non-blocking Ray calls are used here: a task blocked in ``ray.get`` gives its CPUs
    back to Ray, which then starts another cell on them and oversubscribes the node.
    """

    def __init__(self, board, key):
        self._board = board
        self._key = key
        self._replies = []
        self.cancelled = False

    def _collect(self) -> None:
        if not self._replies:
            return
        ready, self._replies = ray.wait(
            self._replies, num_returns=len(self._replies), timeout=0
        )
        for reply in ready:
            self.cancelled = self.cancelled or bool(ray.get(reply))

    def started(self, pid: int, node: str) -> None:
        self._replies.append(self._board.started.remote(self._key, pid, node))

    def report(self, values: dict) -> bool:
        """Send a progress report; return True once the board has replied "cancelled"."""
        self._collect()
        self._replies.append(self._board.report.remote(self._key, values))
        return self.cancelled


def _threads_for(num_cpus: float) -> int:
    # Cells fill every reserved CPU, and on a busy 2-core machine two threads made a fit 2.5
    # times slower than one (benchmarks/bench_engine.py). A cell that reserves more CPUs gets
    # one thread per whole CPU.
    return max(1, int(num_cpus))


@ray.remote
def run_cell(task: dict, dataset: bytes, board) -> dict:
    """Fit one cell and return its model file and summary.

    Parameters
    ----------
    task : dict
        "key" (job_id, cell_index), "config" (FitConfig.to_dict()), "mask_config"
        (MaskConfig keyword arguments), "mask_seed", "num_cpus", "num_gpus".
    dataset : bytes
        The recording's .npz file.
    board : ProgressBoard
        Where progress goes; its answer stops the fit when the cell was cancelled.

    Returns
    -------
    dict
        "model" (bytes of the saved FitResult), "losses", "iterations_run", "seconds",
        "pid".
    """
    key = tuple(task["key"])
    pid = os.getpid()
    node = ray.get_runtime_context().get_node_id()
    client = _BoardClient(board, key)
    client.started(pid, node)
    torch.set_num_threads(_threads_for(task["num_cpus"]))

    start = time.perf_counter()
    last_report = [-float("inf")]

    def progress(report) -> bool:
        now = time.perf_counter()
        final = report.iteration >= report.iterations
        if now - last_report[0] < PROGRESS_INTERVAL and not final:
            return False
        last_report[0] = now
        values = {
            "iteration": report.iteration, "iterations": report.iterations,
            "train_loss": report.train_loss, "validation_loss": report.validation_loss,
            "elapsed_seconds": report.elapsed_seconds, "pid": pid, "node": node,
        }
        return client.report(values)

    with tempfile.TemporaryDirectory(prefix="ltrnn-cell-") as directory:
        dataset_path = Path(directory) / "dataset.npz"
        dataset_path.write_bytes(dataset)
        recording = load_npz(dataset_path)
        result = fit(
            recording,
            FitConfig.from_dict(task["config"]),
            mask_config=MaskConfig(**task["mask_config"]),
            mask_seed=task["mask_seed"],
            progress=progress,
            device="cuda" if task["num_gpus"] > 0 else "cpu",
        )
        model_path = Path(directory) / "model.npz"
        result.save(model_path)
        content = model_path.read_bytes()
    return {
        "model": content,
        "losses": {name: float(value) for name, value in result.losses.items()},
        "iterations_run": int(result.iterations_run),
        "seconds": time.perf_counter() - start,
        "pid": pid,
    }
