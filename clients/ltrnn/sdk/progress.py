"""Progress display of uploads and jobs: a tqdm bar on terminals and in notebooks, plain log
lines elsewhere (CI logs, files, pipes)."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

from ltrnn.v1 import common_pb2

MODES = ("auto", "bar", "log", "none")
# In log mode, a summary line of a running job is written at most this often, in seconds.
LOG_INTERVAL_SECONDS = 10.0


def in_notebook() -> bool:
    """Return True inside a Jupyter kernel, where tqdm draws a widget instead of text."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        instance = shell.get_ipython()
    except AttributeError:
        return False
    return instance is not None and type(instance).__name__ == "ZMQInteractiveShell"


def resolve_mode(progress, stream=None) -> str:
    """Map the ``progress`` argument of SDK calls to one of "bar", "log" or "none".

    True and "auto" give a bar when ``stream`` (default stderr) is a terminal or the code
    runs in a notebook, and log lines otherwise; False gives "none".
    """
    if progress is True:
        progress = "auto"
    elif progress is False or progress is None:
        progress = "none"
    if progress not in MODES:
        raise ValueError(f"progress must be True, False or one of {MODES}, got {progress!r}")
    if progress != "auto":
        return progress
    stream = sys.stderr if stream is None else stream
    is_terminal = getattr(stream, "isatty", lambda: False)()
    return "bar" if is_terminal or in_notebook() else "log"


def _bar(**kwargs):
    from tqdm.auto import tqdm

    return tqdm(**kwargs)


class ByteProgress:
    """Progress of a transfer of ``total`` bytes (upload or export)."""

    def __init__(self, total: int, description: str, progress=True, stream=None):
        self._mode = resolve_mode(progress, stream)
        self._stream = sys.stderr if stream is None else stream
        self._description = description
        self._total = total
        self._bar = None
        if self._mode == "bar":
            self._bar = _bar(
                total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024,
                file=self._stream, leave=False,
            )
        elif self._mode == "log":
            print(f"{description}: {_format_bytes(total)}", file=self._stream, flush=True)

    def update(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self, outcome: str = "") -> None:
        if self._bar is not None:
            self._bar.close()
        if self._mode == "log" and outcome:
            print(f"{self._description}: {outcome}", file=self._stream, flush=True)


def _format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


@dataclass
class _CellView:
    rank: int
    rnn_size: int
    seed: int
    state: int
    iteration: int = 0

    def label(self, index: int) -> str:
        if not self.rnn_size:
            # Cells of a tensor rank job are (rank, replicate) pairs, with no RNN size.
            return f"cell {index} (rank {self.rank}, replicate {self.seed})"
        return f"cell {index} (rank {self.rank}, N={self.rnn_size}, seed {self.seed})"


_FINAL_CELL_STATES = (
    common_pb2.CELL_STATE_SUCCEEDED, common_pb2.CELL_STATE_FAILED, common_pb2.CELL_STATE_CANCELLED,
)


def _state_name(enum, value: int) -> str:
    return enum.Name(value).split("_STATE_")[-1]


class JobProgress:
    """Turns the events of one job into a progress bar or log lines.

    The bar counts training iterations over all cells: a cell that ended (early stopping,
    failure, cancellation) counts as all its iterations done, so the bar reaches 100% when
    the job ends.

    Parameters
    ----------
    job : ltrnn.v1.Job
        The job as GetJob returns it, with its cells.
    progress : bool or {"auto", "bar", "log", "none"}, default=True
    stream : file, optional
        Where the display goes; default stderr.
    log_interval : float, default=10.0
        Seconds between summary lines in log mode.
    """

    def __init__(self, job, progress=True, stream=None, log_interval: float = LOG_INTERVAL_SECONDS):
        self._mode = resolve_mode(progress, stream)
        self._stream = sys.stderr if stream is None else stream
        self._job_id = job.job_id
        self._log_interval = log_interval
        self._last_summary = time.monotonic()
        self._cells = {
            cell.index: _CellView(cell.rank, cell.rnn_size, cell.seed, cell.state)
            for cell in job.cells
        }
        iterations = job.sweep.hyperparameters.iterations if job.HasField("sweep") else 0
        self._iterations = int(iterations) or 1
        self._best_validation = math.inf
        self._bar = None
        if self._mode == "bar":
            self._bar = _bar(
                total=self._iterations * max(len(self._cells), 1),
                desc=f"job {self._job_id[:8]}", unit="it", file=self._stream, dynamic_ncols=True,
            )
        elif self._mode == "log" and job.HasField("sweep"):
            self._log(f"watching {len(self._cells)} cells of {self._iterations} iterations each")
        elif self._mode == "log":
            self._log(f"watching {len(self._cells)} fits")

    def _log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} job {self._job_id[:8]}: {text}", file=self._stream, flush=True)

    def _cell(self, index: int) -> _CellView:
        if index not in self._cells:
            self._cells[index] = _CellView(0, 0, 0, common_pb2.CELL_STATE_PENDING)
        return self._cells[index]

    def _done_iterations(self) -> int:
        done = 0
        for cell in self._cells.values():
            finished = cell.state in _FINAL_CELL_STATES
            done += self._iterations if finished else min(cell.iteration, self._iterations)
        return done

    def _counts(self) -> str:
        states = [cell.state for cell in self._cells.values()]
        finished = sum(state in _FINAL_CELL_STATES for state in states)
        running = sum(state == common_pb2.CELL_STATE_RUNNING for state in states)
        text = f"{finished}/{len(states)} cells done, {running} running"
        if math.isfinite(self._best_validation):
            text += f", best validation loss {self._best_validation:.4f}"
        return text

    def update(self, event) -> None:
        """Take one ltrnn.v1.JobEvent into the display."""
        kind = event.WhichOneof("event")
        if kind == "job_state":
            self._on_job_state(event.job_state)
        elif kind == "cell_state":
            self._on_cell_state(event.cell_state)
        elif kind == "cell_progress":
            cell = self._cell(event.cell_progress.cell_index)
            cell.iteration = event.cell_progress.progress.iteration
        elif kind == "cell_finished":
            self._on_cell_finished(event.cell_finished)
        self._refresh()

    def _on_job_state(self, change) -> None:
        if self._mode != "log":
            return
        text = _state_name(common_pb2.JobState, change.state)
        self._log(text + (f": {change.message}" if change.message else ""))

    def _on_cell_state(self, change) -> None:
        cell = self._cell(change.cell_index)
        cell.state = change.state
        if change.state == common_pb2.CELL_STATE_PENDING:
            cell.iteration = 0
        if self._mode != "log" or change.state == common_pb2.CELL_STATE_SUCCEEDED:
            return
        if change.state == common_pb2.CELL_STATE_RUNNING:
            text = f"started (attempt {change.attempt})"
        else:
            text = _state_name(common_pb2.CellState, change.state).lower()
        if change.message:
            text += f": {change.message}"
        self._log(f"{cell.label(change.cell_index)} {text}")

    def _on_cell_finished(self, finished) -> None:
        cell = self._cell(finished.cell_index)
        cell.state = common_pb2.CELL_STATE_SUCCEEDED
        losses = finished.losses
        if math.isfinite(losses.validation):
            self._best_validation = min(self._best_validation, losses.validation)
        if self._mode != "log":
            return
        timing = f"{finished.iterations_run} iterations in {finished.seconds:.0f} s"
        if math.isfinite(losses.validation) or math.isfinite(losses.test):
            self._log(
                f"{cell.label(finished.cell_index)} succeeded: validation loss "
                f"{losses.validation:.4f}, test loss {losses.test:.4f}, {timing}"
            )
        else:
            # Fits of other jobs (CP fits of a tensor-rank job) report no held-out losses.
            self._log(f"{cell.label(finished.cell_index)} succeeded: {timing}")

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.n = self._done_iterations()
            self._bar.set_postfix_str(self._counts(), refresh=False)
            self._bar.refresh()
        elif self._mode == "log":
            now = time.monotonic()
            if now - self._last_summary >= self._log_interval:
                self._last_summary = now
                total = self._iterations * max(len(self._cells), 1)
                share = 100.0 * self._done_iterations() / total
                self._log(f"{share:.0f}% of iterations, {self._counts()}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
