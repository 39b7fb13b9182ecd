"""Fitted models and recorded datasets read from the artifact store, with a small LRU cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import numpy as np

from ltrnn.engine.io import load_npz
from ltrnn.engine.recording import Recording
from ltrnn.engine.result import FitResult

from ..artifacts import ArtifactStore, check_id
from ..errors import not_found, precondition


class LRUCache:
    """A bounded least-recently-used map from ids to loaded objects, safe between threads."""

    def __init__(self, size: int):
        self._size = size
        self._values: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], object]):
        """Return the cached value of ``key``, calling ``load()`` on a miss."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = load()
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value


class ArtifactReader:
    """Loads models and recordings by id; errors name the request field that gave the id.

    Parameters
    ----------
    artifacts : ArtifactStore
    model_cache_size : int
        Models kept in memory.
    recording_cache_size : int, default=2
        Recordings kept in memory.
    """

    def __init__(self, artifacts: ArtifactStore, model_cache_size: int,
                 recording_cache_size: int = 2):
        self._artifacts = artifacts
        self._models = LRUCache(model_cache_size)
        self._recordings = LRUCache(recording_cache_size)

    def model(self, field: str, model_id: str) -> FitResult:
        """Return the fitted model ``model_id``.

        Raises
        ------
        InvalidIdError
            When the id is empty or could name a path.
        RequestError
            NOT_FOUND for an unknown id, FAILED_PRECONDITION for a file that does not load
            or contains NaN or infinite parameters.
        """
        check_id(field, model_id)
        path = self._artifacts.model_path(model_id)
        if not path.is_file():
            raise not_found(
                f"{field} {model_id!r} not found; take a model_id from GetSweepResult or GetJob"
            )

        def load() -> FitResult:
            try:
                model = FitResult.load(path)
            except (ValueError, KeyError, OSError) as error:
                raise precondition(f"{field} {model_id!r}: the model file cannot be read: {error}")
            arrays = ("column_factors", "trial_factors", "readout", "latents", "predictions")
            broken = [name for name in arrays if not np.all(np.isfinite(getattr(model, name)))]
            if broken:
                raise precondition(
                    f"{field} {model_id!r} has NaN or infinite values in {broken}, so it has no "
                    "subspace or trajectories to analyse; refit it"
                )
            return model

        return self._models.get(model_id, load)

    def recording(self, field: str, dataset_id: str) -> Recording:
        """Return the recording of an uploaded dataset; errors as in :meth:`model`."""
        check_id(field, dataset_id)
        path = self._artifacts.dataset_path(dataset_id)
        if not path.is_file():
            raise not_found(
                f"{field} {dataset_id!r} not found; upload it with FitService.UploadDataset"
            )

        def load() -> Recording:
            try:
                return load_npz(path)
            except (ValueError, KeyError, OSError) as error:
                raise precondition(
                    f"{field} {dataset_id!r}: the dataset file cannot be read: {error}"
                )

        return self._recordings.get(dataset_id, load)
