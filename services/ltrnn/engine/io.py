"""Read and write recordings as ``.npz`` files (NumPy zip archives, no pickle).

File layout (every key but ``data`` is optional and takes the default of
:meth:`Recording.from_arrays` when absent):

========== ======================== ==========================================================
key        shape                    contents
========== ======================== ==========================================================
data       (n_trials, n_neurons,    rates (float32 or float64, NaN where missing) or counts
           n_times)                 (unsigned int; any value where ``mask`` is False)
mask       shape of ``data``, bool  True where observed
condition  (n_trials,), str         task condition of each trial
epoch      (n_trials,), str         block label; each label one contiguous run of trials
trial_id   (n_trials,), int         trial number in the session, strictly increasing
times      (n_times,), float        bin times; time < 0 marks the preparatory window
kind       (), str                  "rates" or "counts"
========== ======================== ==========================================================
"""

from __future__ import annotations

import contextlib
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from ltrnn.engine.recording import COUNTS, KINDS, Recording

KEYS = ("data", "mask", "condition", "epoch", "trial_id", "times", "kind")
RATES_DTYPES = ("auto", "float32", "float64")


def _check_path(path, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def load_npz(path) -> Recording:
    """Load a Recording from an ``.npz`` file written by :func:`save_npz` or by hand.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file. Keys are described in the module docstring; only ``data`` is
        required. Object arrays are rejected because loading them would unpickle code.

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an ``.npz`` archive, has an unknown key, stores an object array,
        or contains arrays that do not form a valid Recording. The message names the path.
    """
    path = _check_path(path)
    if not path.exists():
        raise FileNotFoundError(f"recording file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; expected an .npz recording file")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not an .npz file (NumPy zip archive); write one with "
            "ltrnn.engine.io.save_npz or numpy.savez"
        )

    arrays = _read_arrays(path)
    if "data" not in arrays:
        raise ValueError(f"{path} has no 'data' array; the keys are {sorted(arrays)}")
    kind = arrays.pop("kind", None)
    if kind is not None:
        if kind.ndim != 0 or kind.dtype.kind != "U":
            raise ValueError(
                f"'kind' in {path} must be a single string, one of {KINDS}, got an array of "
                f"dtype {kind.dtype} and shape {kind.shape}"
            )
        kind = str(kind[()])

    try:
        return Recording.from_arrays(arrays.pop("data"), kind=kind, **arrays)
    except ValueError as error:
        raise ValueError(f"invalid recording in {path}: {error}") from error


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            unknown = sorted(set(archive.files) - set(KEYS))
            if unknown:
                raise ValueError(
                    f"{path} has unknown keys {unknown}; the allowed keys are {list(KEYS)}"
                )
            for key in archive.files:
                try:
                    value = archive[key]
                except ValueError as error:
                    # NumPy raises ValueError when a member is an object array (pickled
                    # data, refused with allow_pickle=False) or not a valid .npy member.
                    if "allow_pickle" in str(error):
                        raise ValueError(
                            f"{key!r} in {path} is an object array, which would need "
                            "pickle to load; store labels as a string array, e.g. "
                            "np.asarray(labels, dtype=str)"
                        ) from None
                    raise ValueError(f"{key!r} in {path} is not a valid array: {error}") from None
                # NumPy returns the raw bytes of a member that lacks the .npy header.
                if not isinstance(value, np.ndarray):
                    raise ValueError(
                        f"{key!r} in {path} is not a valid array: the member is not in .npy "
                        "format"
                    )
                arrays[key] = value
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from error
    return arrays


def save_npz(recording: Recording, path, compress: bool = True, rates_dtype: str = "auto") -> Path:
    """Write a Recording to an ``.npz`` file, atomically.

    The file is written to a temporary file in the same directory and moved into place with
    ``os.replace``, so readers never see a partly written file.

    Parameters
    ----------
    recording : Recording
    path : str or os.PathLike
        Destination; its directory must exist. Written as given (no suffix is added).
    compress : bool, default=True
        Use ``numpy.savez_compressed`` (zip deflate) instead of ``numpy.savez``.
    rates_dtype : {"auto", "float32", "float64"}, default="auto"
        Storage dtype for ``kind="rates"``. "auto" uses float32 when every value converts
        to float32 exactly and float64 otherwise, so a load returns the same values.
        "float32" halves the size but rounds. Ignored for counts, which are stored as the
        smallest unsigned integer dtype that fits the maximum count, with missing entries
        set to 0 and marked by ``mask``.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
    path = _check_path(path)
    if not isinstance(compress, (bool, np.bool_)):
        raise ValueError(f"compress must be True or False, got {compress!r}")
    if rates_dtype not in RATES_DTYPES:
        raise ValueError(f"rates_dtype must be one of {RATES_DTYPES}, got {rates_dtype!r}")
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"directory for the recording file not found: {directory}")

    arrays = {
        "data": _stored_data(recording, rates_dtype),
        "mask": recording.mask,
        "condition": recording.condition.astype(np.str_),
        "epoch": recording.epoch.astype(np.str_),
        "trial_id": recording.trial_id,
        "times": recording.times,
        "kind": np.array(recording.kind, dtype=np.str_),
    }
    writer = np.savez_compressed if compress else np.savez
    # os.open with mode 0o666 lets the umask set the permissions, as a plain open() does.
    # tempfile.mkstemp would leave the final file readable by its owner only.
    temporary = directory / f".{path.name}.{uuid.uuid4().hex}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            writer(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def _stored_data(recording: Recording, rates_dtype: str) -> np.ndarray:
    data = recording.data
    if recording.kind == COUNTS:
        counts = np.where(recording.mask, data, 0)
        dtype = np.min_scalar_type(int(counts.max()))
        # Counts beyond uint64 have no integer dtype, so they stay float64 as in the Recording.
        return counts.astype(dtype) if dtype.kind == "u" else counts
    if rates_dtype == "float64":
        return data
    single = data.astype(np.float32)
    if rates_dtype == "float32":
        return single
    exact = np.array_equal(single.astype(np.float64), data, equal_nan=True)
    return single if exact else data
