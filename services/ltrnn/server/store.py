"""The job store: jobs, their cells and their event logs in one SQLite file.

The store is the one source of truth for job state. Every change of a cell writes the cell
row, the derived job state and the matching events in one transaction. A reader (or a
restarted service) therefore never reads a cell change without its event, or the reverse.

The schema version lives in ``PRAGMA user_version``. :data:`MIGRATIONS` lists the steps from
an empty file to the current version, and opening a file newer than this code fails.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from ltrnn.v1 import common_pb2, jobs_pb2, sweep_pb2

logger = logging.getLogger(__name__)

PENDING = common_pb2.CELL_STATE_PENDING
RUNNING = common_pb2.CELL_STATE_RUNNING
SUCCEEDED = common_pb2.CELL_STATE_SUCCEEDED
FAILED = common_pb2.CELL_STATE_FAILED
CANCELLED = common_pb2.CELL_STATE_CANCELLED
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)

# Job and cell states share their numbers (PENDING = 1 ... CANCELLED = 5) in common.proto,
# so one set of constants serves both columns.
if (common_pb2.JOB_STATE_PENDING, common_pb2.JOB_STATE_CANCELLED) != (PENDING, CANCELLED):
    raise ImportError("JobState and CellState in common.proto must use the same numbers")

STATE_NAMES = {
    PENDING: "PENDING", RUNNING: "RUNNING", SUCCEEDED: "SUCCEEDED", FAILED: "FAILED",
    CANCELLED: "CANCELLED",
}

MIGRATIONS = (
    """
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        kind INTEGER NOT NULL,
        state INTEGER NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        ended REAL,
        idempotency_key TEXT UNIQUE,
        request_digest TEXT NOT NULL,
        spec BLOB NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        last_sequence INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_by_created ON jobs (created DESC, job_id DESC);
    CREATE TABLE cells (
        job_id TEXT NOT NULL REFERENCES jobs (job_id),
        cell_index INTEGER NOT NULL,
        rank INTEGER NOT NULL,
        rnn_size INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        state INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        progress BLOB,
        train_loss REAL,
        validation_loss REAL,
        test_loss REAL,
        model_id TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        iterations_run INTEGER NOT NULL DEFAULT 0,
        seconds REAL NOT NULL DEFAULT 0,
        started REAL,
        ended REAL,
        PRIMARY KEY (job_id, cell_index)
    );
    CREATE TABLE events (
        job_id TEXT NOT NULL REFERENCES jobs (job_id),
        sequence INTEGER NOT NULL,
        time REAL NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (job_id, sequence)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(RuntimeError):
    """The database file was written by a newer ltrnn than this one."""


@dataclass(frozen=True)
class CellRecord:
    """One row of the ``cells`` table."""

    job_id: str
    index: int
    rank: int
    rnn_size: int
    seed: int
    state: int
    attempts: int
    progress: bytes | None
    train_loss: float | None
    validation_loss: float | None
    test_loss: float | None
    model_id: str
    error: str
    iterations_run: int
    seconds: float
    started: float | None
    ended: float | None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class JobRecord:
    """One row of the ``jobs`` table."""

    job_id: str
    kind: int
    state: int
    created: float
    updated: float
    ended: float | None
    idempotency_key: str | None
    request_digest: str
    spec: bytes
    error: str
    last_sequence: int

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


_CELL_COLUMNS = (
    "job_id, cell_index, rank, rnn_size, seed, state, attempts, progress, train_loss, "
    "validation_loss, test_loss, model_id, error, iterations_run, seconds, started, ended"
)
_JOB_COLUMNS = (
    "job_id, kind, state, created, updated, ended, idempotency_key, request_digest, spec, "
    "error, last_sequence"
)


def timestamp(seconds: float | None) -> Timestamp | None:
    """Convert Unix seconds to a protobuf Timestamp (None stays None)."""
    if seconds is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


class JobStore:
    """Jobs, cells and event logs in a SQLite file (WAL mode), safe to share between threads.

    Parameters
    ----------
    path : str or os.PathLike
        The database file; its directory is created if missing.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._changed = threading.Condition(threading.Lock())
        self._connection = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- schema --------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            version = self._connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"job store {self.path} has schema version {version}, newer than the "
                    f"version {SCHEMA_VERSION} this ltrnn supports; upgrade ltrnn or point "
                    "--database at another file"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    for statement in MIGRATIONS[target - 1].split(";"):
                        if statement.strip():
                            self._connection.execute(statement)
                    self._connection.execute(f"PRAGMA user_version = {target}")
                    self._connection.execute("COMMIT")
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
                logger.info("job store %s migrated to schema version %d", self.path, target)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._connection.execute("PRAGMA user_version").fetchone()[0]

    # -- transactions and events ---------------------------------------------------------

    def _transaction(self):
        return _Transaction(self)

    def _append_event(self, job_id: str, event: jobs_pb2.JobEvent, now: float) -> jobs_pb2.JobEvent:
        (sequence,) = self._connection.execute(
            "SELECT last_sequence + 1 FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        event.sequence = sequence
        event.job_id = job_id
        event.time.CopyFrom(timestamp(now))
        self._connection.execute(
            "INSERT INTO events (job_id, sequence, time, payload) VALUES (?, ?, ?, ?)",
            (job_id, sequence, now, event.SerializeToString()),
        )
        self._connection.execute(
            "UPDATE jobs SET last_sequence = ?, updated = ? WHERE job_id = ?",
            (sequence, now, job_id),
        )
        return event

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for_change(self, timeout: float) -> None:
        """Block until any job gets a new event, or ``timeout`` seconds pass."""
        with self._changed:
            self._changed.wait(timeout)

    def events_after(self, job_id: str, after: int, limit: int = 500) -> list[jobs_pb2.JobEvent]:
        """Return up to ``limit`` events of a job with sequence > ``after``, in order."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT payload FROM events WHERE job_id = ? AND sequence > ? "
                "ORDER BY sequence LIMIT ?",
                (job_id, after, limit),
            ).fetchall()
        return [jobs_pb2.JobEvent.FromString(payload) for (payload,) in rows]

    # -- jobs ----------------------------------------------------------------------------

    def create_job(
        self,
        *,
        kind: int,
        spec: bytes,
        cells: list[tuple[int, int, int]],
        request_digest: str,
        idempotency_key: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Store a new PENDING job with PENDING cells, or return the job of the same key.

        Parameters
        ----------
        kind : int
            A ``JobKind`` value.
        spec : bytes
            The serialised request, kept for resumption and for GetJob.
        cells : list of (rank, rnn_size, seed)
        request_digest : str
            Hash of the request, compared when an idempotency key is reused.
        idempotency_key : str, optional

        Returns
        -------
        job : JobRecord
        created : bool
            False when a job with ``idempotency_key`` existed; that job is returned whatever
            its request was, and the caller compares ``request_digest``.
        """
        now = time.time()
        with self._transaction():
            if idempotency_key:
                existing = self._job_row(
                    "SELECT {} FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                )
                if existing is not None:
                    return existing, False
            job_id = uuid.uuid4().hex
            self._connection.execute(
                f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, '', 0)",
                (job_id, kind, PENDING, now, now, idempotency_key or None, request_digest, spec),
            )
            self._connection.executemany(
                "INSERT INTO cells (job_id, cell_index, rank, rnn_size, seed, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, i, r, n, s, PENDING) for i, (r, n, s) in enumerate(cells)],
            )
            self._append_event(
                job_id,
                jobs_pb2.JobEvent(
                    job_state=jobs_pb2.JobStateChanged(
                        state=PENDING, message=f"job accepted with {len(cells)} cells"
                    )
                ),
                now,
            )
        self._notify()
        return self.get_job(job_id), True

    def _job_row(self, query: str, parameters) -> JobRecord | None:
        row = self._connection.execute(query.format(_JOB_COLUMNS), parameters).fetchone()
        return None if row is None else JobRecord(*row)

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._job_row("SELECT {} FROM jobs WHERE job_id = ?", (job_id,))

    def list_jobs(
        self,
        *,
        limit: int,
        state: int = 0,
        kind: int = 0,
        before: tuple[float, str] | None = None,
    ) -> list[JobRecord]:
        """Return up to ``limit`` jobs, newest first, older than ``before`` (created, job_id)."""
        clauses, parameters = [], []
        if state:
            clauses.append("state = ?")
            parameters.append(state)
        if kind:
            clauses.append("kind = ?")
            parameters.append(kind)
        if before is not None:
            clauses.append("(created < ? OR (created = ? AND job_id < ?))")
            parameters.extend([before[0], before[0], before[1]])
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        query = f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY created DESC, job_id DESC LIMIT ?"
        with self._lock:
            rows = self._connection.execute(query, (*parameters, limit)).fetchall()
        return [JobRecord(*row) for row in rows]

    def unfinished_jobs(self) -> list[JobRecord]:
        """Return the PENDING and RUNNING jobs, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN (?, ?) ORDER BY created",
                (PENDING, RUNNING),
            ).fetchall()
        return [JobRecord(*row) for row in rows]

    def cancel_job(self, job_id: str, message: str) -> list[int]:
        """Mark an unfinished job and its unfinished cells CANCELLED.

        Returns
        -------
        list of int
            Indices of the cells that were cancelled; empty when the job had already ended.
        """
        now = time.time()
        with self._transaction():
            job = self._job_row("SELECT {} FROM jobs WHERE job_id = ?", (job_id,))
            if job is None or job.final:
                return []
            indices = [
                index for (index,) in self._connection.execute(
                    "SELECT cell_index FROM cells WHERE job_id = ? AND state IN (?, ?) "
                    "ORDER BY cell_index",
                    (job_id, PENDING, RUNNING),
                )
            ]
            for index in indices:
                self._connection.execute(
                    "UPDATE cells SET state = ?, error = ?, ended = ? "
                    "WHERE job_id = ? AND cell_index = ?",
                    (CANCELLED, message, now, job_id, index),
                )
                self._append_event(job_id, _cell_event(index, CANCELLED, 0, message), now)
            self._set_job_state(job_id, CANCELLED, message, now)
        self._notify()
        return indices

    def fail_job(self, job_id: str, error: str) -> None:
        """Mark an unfinished job FAILED with ``error`` and its unfinished cells FAILED too."""
        now = time.time()
        with self._transaction():
            job = self._job_row("SELECT {} FROM jobs WHERE job_id = ?", (job_id,))
            if job is None or job.final:
                return
            for (index,) in self._connection.execute(
                "SELECT cell_index FROM cells WHERE job_id = ? AND state IN (?, ?)",
                (job_id, PENDING, RUNNING),
            ).fetchall():
                self._connection.execute(
                    "UPDATE cells SET state = ?, error = ?, ended = ? "
                    "WHERE job_id = ? AND cell_index = ?",
                    (FAILED, error, now, job_id, index),
                )
                self._append_event(job_id, _cell_event(index, FAILED, 0, error), now)
            self._set_job_state(job_id, FAILED, error, now)
        self._notify()

    def _set_job_state(self, job_id: str, state: int, message: str, now: float) -> None:
        ended = now if state in FINAL_STATES else None
        error = message if state == FAILED else ""
        self._connection.execute(
            "UPDATE jobs SET state = ?, ended = ?, error = ? WHERE job_id = ?",
            (state, ended, error, job_id),
        )
        self._append_event(
            job_id,
            jobs_pb2.JobEvent(job_state=jobs_pb2.JobStateChanged(state=state, message=message)),
            now,
        )

    def _refresh_job_state(self, job_id: str, now: float) -> None:
        """Derive the job state from its cells and record a change, unless the job has ended."""
        (state,) = self._connection.execute(
            "SELECT state FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        if state in FINAL_STATES:
            return
        counts = dict(self._connection.execute(
            "SELECT state, COUNT(*) FROM cells WHERE job_id = ? GROUP BY state", (job_id,)
        ).fetchall())
        unfinished = counts.get(PENDING, 0) + counts.get(RUNNING, 0)
        if unfinished == 0:
            if counts.get(SUCCEEDED, 0):
                new, message = SUCCEEDED, f"{counts[SUCCEEDED]} of {sum(counts.values())} cells succeeded"
            else:
                new, message = FAILED, "every cell failed; see the cells' errors"
        elif counts.get(RUNNING, 0) or counts.get(SUCCEEDED, 0) or counts.get(FAILED, 0):
            new, message = RUNNING, ""
        else:
            new, message = PENDING, ""
        if new != state:
            self._set_job_state(job_id, new, message, now)

    # -- cells ---------------------------------------------------------------------------

    def get_cells(self, job_id: str) -> list[CellRecord]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_CELL_COLUMNS} FROM cells WHERE job_id = ? ORDER BY cell_index",
                (job_id,),
            ).fetchall()
        return [CellRecord(*row) for row in rows]

    def get_cell(self, job_id: str, index: int) -> CellRecord | None:
        with self._lock:
            row = self._connection.execute(
                f"SELECT {_CELL_COLUMNS} FROM cells WHERE job_id = ? AND cell_index = ?",
                (job_id, index),
            ).fetchone()
        return None if row is None else CellRecord(*row)

    def cell_counts(self, job_id: str) -> dict[int, int]:
        with self._lock:
            return dict(self._connection.execute(
                "SELECT state, COUNT(*) FROM cells WHERE job_id = ? GROUP BY state", (job_id,)
            ).fetchall())

    def count_cells(self, state: int) -> int:
        """Count cells in ``state`` over every job."""
        with self._lock:
            return self._connection.execute(
                "SELECT COUNT(*) FROM cells WHERE state = ?", (state,)
            ).fetchone()[0]

    def start_cell(self, job_id: str, index: int, attempt: int, message: str = "") -> bool:
        """Mark a cell RUNNING on its ``attempt``-th start. False when the cell has ended."""
        now = time.time()
        with self._transaction():
            cell = self._cell_state(job_id, index)
            if cell is None or cell in FINAL_STATES:
                return False
            self._connection.execute(
                "UPDATE cells SET state = ?, attempts = ?, started = ?, error = '' "
                "WHERE job_id = ? AND cell_index = ?",
                (RUNNING, attempt, now, job_id, index),
            )
            self._append_event(job_id, _cell_event(index, RUNNING, attempt, message), now)
            self._refresh_job_state(job_id, now)
        self._notify()
        return True

    def record_progress(self, job_id: str, index: int, progress: jobs_pb2.CellProgress) -> bool:
        """Store a running cell's latest progress and append a progress event."""
        now = time.time()
        with self._transaction():
            if self._cell_state(job_id, index) != RUNNING:
                return False
            self._connection.execute(
                "UPDATE cells SET progress = ? WHERE job_id = ? AND cell_index = ?",
                (progress.SerializeToString(), job_id, index),
            )
            self._append_event(
                job_id,
                jobs_pb2.JobEvent(
                    cell_progress=jobs_pb2.CellProgressed(cell_index=index, progress=progress)
                ),
                now,
            )
        self._notify()
        return True

    def finish_cell(
        self,
        job_id: str,
        index: int,
        *,
        model_id: str,
        losses: dict,
        iterations_run: int,
        seconds: float,
    ) -> bool:
        """Mark a cell SUCCEEDED with its model and losses. False when the cell has ended."""
        now = time.time()
        with self._transaction():
            state = self._cell_state(job_id, index)
            if state is None or state in FINAL_STATES:
                return False
            (attempt,) = self._connection.execute(
                "SELECT attempts FROM cells WHERE job_id = ? AND cell_index = ?", (job_id, index)
            ).fetchone()
            self._connection.execute(
                "UPDATE cells SET state = ?, model_id = ?, train_loss = ?, validation_loss = ?, "
                "test_loss = ?, iterations_run = ?, seconds = ?, ended = ?, error = '' "
                "WHERE job_id = ? AND cell_index = ?",
                (
                    SUCCEEDED, model_id, losses["train"], losses["validation"], losses["test"],
                    iterations_run, seconds, now, job_id, index,
                ),
            )
            self._append_event(job_id, _cell_event(index, SUCCEEDED, attempt, ""), now)
            self._append_event(
                job_id,
                jobs_pb2.JobEvent(
                    cell_finished=jobs_pb2.CellFinished(
                        cell_index=index, model_id=model_id,
                        losses=sweep_pb2.FitLosses(**losses), iterations_run=iterations_run,
                        seconds=seconds,
                    )
                ),
                now,
            )
            self._refresh_job_state(job_id, now)
        self._notify()
        return True

    def fail_cell(self, job_id: str, index: int, error: str) -> bool:
        """Mark a cell FAILED with ``error``. False when the cell has ended."""
        now = time.time()
        with self._transaction():
            state = self._cell_state(job_id, index)
            if state is None or state in FINAL_STATES:
                return False
            (attempt,) = self._connection.execute(
                "SELECT attempts FROM cells WHERE job_id = ? AND cell_index = ?", (job_id, index)
            ).fetchone()
            self._connection.execute(
                "UPDATE cells SET state = ?, error = ?, ended = ? WHERE job_id = ? AND cell_index = ?",
                (FAILED, error, now, job_id, index),
            )
            self._append_event(job_id, _cell_event(index, FAILED, attempt, error), now)
            self._refresh_job_state(job_id, now)
        self._notify()
        return True

    def requeue_cell(self, job_id: str, index: int, message: str) -> bool:
        """Put a RUNNING cell back to PENDING so it is submitted again (progress is kept)."""
        now = time.time()
        with self._transaction():
            if self._cell_state(job_id, index) != RUNNING:
                return False
            (attempt,) = self._connection.execute(
                "SELECT attempts FROM cells WHERE job_id = ? AND cell_index = ?", (job_id, index)
            ).fetchone()
            self._connection.execute(
                "UPDATE cells SET state = ? WHERE job_id = ? AND cell_index = ?",
                (PENDING, job_id, index),
            )
            self._append_event(job_id, _cell_event(index, PENDING, attempt, message), now)
        self._notify()
        return True

    def _cell_state(self, job_id: str, index: int) -> int | None:
        row = self._connection.execute(
            "SELECT state FROM cells WHERE job_id = ? AND cell_index = ?", (job_id, index)
        ).fetchone()
        return None if row is None else row[0]


def _cell_event(index: int, state: int, attempt: int, message: str) -> jobs_pb2.JobEvent:
    return jobs_pb2.JobEvent(
        cell_state=jobs_pb2.CellStateChanged(
            cell_index=index, state=state, attempt=attempt, message=message
        )
    )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the store's lock; rolls back on error."""

    def __init__(self, store: JobStore):
        self._store = store

    def __enter__(self):
        self._store._lock.acquire()
        try:
            self._store._connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._store._lock.release()
            raise
        return self

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None:
                self._store._connection.execute("COMMIT")
            else:
                self._store._connection.execute("ROLLBACK")
        finally:
            self._store._lock.release()
        return False
