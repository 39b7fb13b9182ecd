"""Read and write task-RNN experiments as .npz files without pickle."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .config import TaskRNNConfig
from .experiment import TaskRNNExperiment

FORMAT = "ltrnn.taskrnn/1"
"""Value of the ``format`` key, changed whenever the set or meaning of keys changes."""

_ARRAYS = (
    "weights", "rates", "hand_position", "hand_velocity", "target_index", "epoch", "loss",
    "endpoint_error", "lateral_error", "input_weights", "readout", "bias", "pretrain_loss",
)
_SCALARS = ("pretrain_seconds", "learning_seconds")


def save_experiment(experiment: TaskRNNExperiment, path) -> str:
    """Write an experiment to an uncompressed .npz file.

    The weights are float64 values with full mantissas, which zip compression barely
    shrinks, so writing them uncompressed saves seconds at no cost in size.

    The config is stored as JSON text under ``config``; every other key is a plain array,
    so the file loads with ``allow_pickle=False``.

    Returns
    -------
    str
        The path written: ``path`` with ".npz" appended when it lacks that suffix.
    """
    if not isinstance(experiment, TaskRNNExperiment):
        raise ValueError(
            f"experiment must be a TaskRNNExperiment, got {type(experiment).__name__}"
        )
    contents = {name: np.asarray(getattr(experiment, name)) for name in _ARRAYS}
    contents["epoch"] = contents["epoch"].astype(np.str_)
    for name in _SCALARS:
        contents[name] = np.float64(getattr(experiment, name))
    contents["config"] = np.str_(json.dumps(experiment.config.to_dict()))
    contents["format"] = np.str_(FORMAT)
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    np.savez(path, **contents)
    return path


def load_experiment(path) -> TaskRNNExperiment:
    """Read an experiment written by :func:`save_experiment`.

    Raises
    ------
    ValueError
        If the file is not such an experiment: wrong format tag, missing keys, or arrays
        whose shapes do not match the stored config.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from error
    with archive:
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"{path} contains a single array, not a task-RNN experiment")
        stored_format = str(archive["format"]) if "format" in archive.files else None
        if stored_format != FORMAT:
            raise ValueError(
                f"{path} is not a task-RNN experiment file: format is {stored_format!r}, "
                f"expected {FORMAT!r}"
            )
        missing = sorted(set(_ARRAYS + _SCALARS + ("config",)) - set(archive.files))
        if missing:
            raise ValueError(f"{path} is missing the keys {missing}")
        config = TaskRNNConfig.from_dict(json.loads(str(archive["config"])))
        values = {name: archive[name] for name in _ARRAYS}
        scalars = {name: float(archive[name]) for name in _SCALARS}
    values["epoch"] = values["epoch"].astype(np.str_)
    values["target_index"] = values["target_index"].astype(np.int64)
    return TaskRNNExperiment(config=config, **values, **scalars)
