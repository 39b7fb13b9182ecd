"""The artifact store: content-addressed datasets and models, and sweep results, on disk.

Layout under the root directory::

    datasets/<sha256>.npz    recording files as uploaded
    datasets/<sha256>.json   name, size and creation time of each
    models/<sha256>.npz      fitted models (ltrnn.engine.result.FitResult.save)
    models/<sha256>.json     the job and cell that produced each
    results/<job_id>.json    sweep result tables
    tmp/                     partial files; moved into place with os.replace

Every file is written to ``tmp/`` first and renamed into place, so a reader sees a whole
file or none. The id of a dataset or model is the sha256 of its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from pathlib import Path

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
CHUNK_BYTES = 1024 * 1024


class InvalidIdError(ValueError):
    """An id that is empty, too long, or could name a path."""


def check_id(field: str, value: str) -> str:
    """Return ``value`` if it is a safe id, else raise InvalidIdError naming ``field``.

    Ids are 1 to 128 letters, digits, '_' and '-', so no id can name a path ('/', '\\' and
    '.' are never part of one).
    """
    if not isinstance(value, str) or not value:
        raise InvalidIdError(f"{field} is missing; give the id returned by the server")
    if not ID_PATTERN.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidIdError(
            f"{field} {shown!r} is not a valid id: ids are 1 to 128 letters, digits, '_' and '-', "
            "never paths; give the id returned by the server"
        )
    return value


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class ArtifactStore:
    """Datasets, models and results under one directory.

    Parameters
    ----------
    root : str or os.PathLike
        Created with its sub-directories if missing.
    """

    def __init__(self, root):
        self.root = Path(root)
        try:
            for name in ("datasets", "models", "results", "tmp"):
                (self.root / name).mkdir(parents=True, exist_ok=True)
            # Write one file, so that a read-only directory fails here and not at the first
            # upload or finished cell.
            probe = self.temporary_path(".probe")
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise OSError(
                error.errno,
                f"the data directory {self.root} is not a writable directory ({error.strerror}: "
                f"{error.filename}); set --data-dir or LTRNN_DATA_DIR to a writable directory",
            ) from error
        self.clean_temporary()

    def clean_temporary(self, older_than: float = 3600.0) -> None:
        """Delete partial files older than ``older_than`` seconds (left by a crashed writer)."""
        cutoff = time.time() - older_than
        for path in (self.root / "tmp").iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def temporary_path(self, suffix: str = "") -> Path:
        """Return a fresh path in ``tmp/`` on the store's file system."""
        return self.root / "tmp" / f"{uuid.uuid4().hex}{suffix}"

    # -- datasets ------------------------------------------------------------------------

    def dataset_path(self, dataset_id: str) -> Path:
        return self.root / "datasets" / f"{check_id('dataset_id', dataset_id)}.npz"

    def has_dataset(self, dataset_id: str) -> bool:
        return self.dataset_path(dataset_id).is_file()

    def add_dataset(self, temporary: Path, sha256: str, info: dict) -> bool:
        """Move a verified upload into place under its sha256.

        Returns
        -------
        bool
            False when the dataset existed already; ``temporary`` is deleted then.
        """
        target = self.dataset_path(sha256)
        if target.is_file():
            temporary.unlink(missing_ok=True)
            return False
        self._write_json(self.root / "datasets" / f"{sha256}.json", info)
        os.replace(temporary, target)
        return True

    def dataset_info(self, dataset_id: str) -> dict:
        """Return the stored metadata of a dataset ({} for a file without metadata)."""
        return self._read_json(self.root / "datasets" / f"{check_id('dataset_id', dataset_id)}.json")

    # -- models --------------------------------------------------------------------------

    def model_path(self, model_id: str) -> Path:
        return self.root / "models" / f"{check_id('model_id', model_id)}.npz"

    def has_model(self, model_id: str) -> bool:
        return self.model_path(model_id).is_file()

    def add_model(self, content: bytes, info: dict) -> str:
        """Store a model file given as bytes and return its id (the sha256 of the bytes)."""
        model_id = hashlib.sha256(content).hexdigest()
        target = self.model_path(model_id)
        if not target.is_file():
            self._write_json(self.root / "models" / f"{model_id}.json", info)
            self._write_bytes(target, content)
        return model_id

    def model_info(self, model_id: str) -> dict:
        """Return the stored metadata of a model ({} when there is none)."""
        return self._read_json(self.root / "models" / f"{check_id('model_id', model_id)}.json")

    # -- results -------------------------------------------------------------------------

    def write_result(self, job_id: str, result: dict) -> Path:
        path = self.root / "results" / f"{check_id('job_id', job_id)}.json"
        self._write_json(path, result)
        return path

    def read_result(self, job_id: str) -> dict:
        return self._read_json(self.root / "results" / f"{check_id('job_id', job_id)}.json")

    # -- atomic writes -------------------------------------------------------------------

    def _write_bytes(self, target: Path, content: bytes) -> None:
        temporary = self.temporary_path(target.suffix)
        try:
            with open(temporary, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _write_json(self, target: Path, values: dict) -> None:
        self._write_bytes(target, json.dumps(values, indent=1, allow_nan=True).encode())

    @staticmethod
    def _read_json(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
