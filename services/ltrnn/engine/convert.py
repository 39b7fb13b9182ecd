"""Convert published sessions into Recordings, and crop recordings in time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ltrnn.engine.recording import COUNTS, Recording

#: Epoch labels of the two blocks of a Hennig et al. (2018) session, in recorded order.
#: Block 2 maps neural activity to cursor velocity with a changed decoder (``M2`` of
#: ``fDecoder`` and ``nDecoder`` differ from block 1), so block 1 is the baseline and
#: block 2 the perturbation.
HENNIG2018_EPOCHS = ("baseline", "perturbation")


def crop_bins(recording: Recording, max_bins: int | None) -> Recording:
    """Keep the first ``max_bins`` time bins of every trial.

    Parameters
    ----------
    recording : Recording
    max_bins : int or None
        Number of bins to keep, counted from the first bin and so including the
        preparatory window. It must keep at least one bin with time >= 0. None, or a value
        of at least ``recording.n_times``, returns ``recording`` unchanged.

    Returns
    -------
    Recording
        ``n_times`` is ``min(max_bins, recording.n_times)``.
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a Recording, got {type(recording).__name__}")
    n_preparatory = int(recording.preparatory.sum())
    max_bins = _check_max_bins(max_bins, n_preparatory)
    if max_bins is None or max_bins >= recording.n_times:
        return recording
    return Recording.from_arrays(
        recording.data[:, :, :max_bins], mask=recording.mask[:, :, :max_bins],
        condition=recording.condition, epoch=recording.epoch, trial_id=recording.trial_id,
        times=recording.times[:max_bins], kind=recording.kind,
    )


def _check_max_bins(max_bins, n_preparatory: int) -> int | None:
    if max_bins is None:
        return None
    if isinstance(max_bins, (bool, np.bool_)) or not isinstance(max_bins, (int, np.integer)):
        raise ValueError(f"max_bins must be an integer or None, got {max_bins!r}")
    if max_bins <= n_preparatory:
        raise ValueError(
            f"max_bins must be greater than the {n_preparatory} preparatory bins, so that "
            f"at least one bin after them is kept, got {max_bins}"
        )
    return int(max_bins)


def convert_hennig2018(mat_path, max_bins: int | None = None) -> Recording:
    """Convert a BCI session of Hennig et al. (2018) into a Recording of spike counts.

    The session file (``data/sessions/<date>.mat`` in the repository
    ``mobeets/neural-redundancy-elife2018``) stores each block as one long run of time
    bins. Trials start at the onsets (0 to 1) of ``isFreezePeriod``, which marks the first
    bins of each trial, while the cursor is held still.

    Parameters
    ----------
    mat_path : str or os.PathLike
        The MATLAB v5 session file.
    max_bins : int or None, default=None
        Keep only the first ``max_bins`` bins of every trial, freeze bins included; it must
        be greater than the number of freeze bins. None keeps whole trials.

    Returns
    -------
    Recording
        ``kind="counts"``. Trials of both blocks in recorded order, ``trial_id`` 0 ..
        K - 1. ``epoch`` is "baseline" for block 1 and "perturbation" for block 2.
        ``condition`` is the target direction in degrees ("0", "90", ...), read from
        ``thetas`` (the cursor-to-target angle) during the freeze period. ``times`` counts
        bins from the end of the freeze period, so the freeze bins have times -F .. -1
        (F = 5 in the published session). The file does not store the bin width, so times
        are in bins, not seconds. Trials differ in length: bins after a trial's end are
        NaN with ``mask`` False.

    Raises
    ------
    FileNotFoundError
        If ``mat_path`` does not exist.
    ValueError
        If the file is not a MATLAB v5 file or lacks the expected layout, naming the field.
    """
    if not isinstance(mat_path, (str, os.PathLike)):
        raise TypeError(f"mat_path must be a str or os.PathLike, got {type(mat_path).__name__}")
    path = Path(mat_path)
    # Checked early so that a bad value fails before the file is read. crop_bins checks
    # the bound again once the freeze length is known.
    _check_max_bins(max_bins, 0)
    blocks = _read_blocks(path)

    pieces = []
    for epoch, block in zip(HENNIG2018_EPOCHS, blocks):
        pieces.extend(_split_trials(block, epoch, path))

    n_freeze = {freeze for _, _, _, freeze in pieces}
    if len(n_freeze) != 1:
        raise ValueError(
            f"freeze periods in {path} differ in length ({sorted(n_freeze)} bins), so the "
            "trials cannot share one preparatory window"
        )
    n_freeze = n_freeze.pop()

    n_neurons = pieces[0][0].shape[1]
    n_times = max(counts.shape[0] for counts, _, _, _ in pieces)
    data = np.zeros((len(pieces), n_neurons, n_times), dtype=pieces[0][0].dtype)
    mask = np.zeros(data.shape, dtype=bool)
    for k, (counts, _, _, _) in enumerate(pieces):
        data[k, :, : counts.shape[0]] = counts.T
        mask[k, :, : counts.shape[0]] = True

    recording = Recording.from_arrays(
        data,
        mask=mask,
        condition=[condition for _, condition, _, _ in pieces],
        epoch=[epoch for _, _, epoch, _ in pieces],
        trial_id=np.arange(len(pieces)),
        times=np.arange(n_times) - n_freeze,
        kind=COUNTS,
    )
    return crop_bins(recording, max_bins)


def _read_blocks(path: Path) -> list:
    # scipy.io is imported here because only this converter needs it.
    import scipy.io

    if not path.exists():
        raise FileNotFoundError(f"session file not found: {path}")
    try:
        contents = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    # scipy raises IndexError for short files and NotImplementedError for v7.3 (HDF5) files.
    except (
        scipy.io.matlab.MatReadError, ValueError, TypeError, IndexError, NotImplementedError,
        OSError,
    ) as error:
        raise ValueError(f"{path} is not a readable MATLAB v5 .mat file: {error}") from error

    session = contents.get("D")
    blocks = getattr(session, "blocks", None)
    if blocks is None:
        raise ValueError(f"{path} has no struct 'D' with a field 'blocks'")
    blocks = np.atleast_1d(blocks)
    if blocks.shape != (len(HENNIG2018_EPOCHS),):
        raise ValueError(
            f"D.blocks in {path} must hold {len(HENNIG2018_EPOCHS)} blocks (baseline and "
            f"perturbation), got shape {blocks.shape}"
        )
    for number, block in enumerate(blocks, start=1):
        for name in ("spikes", "isFreezePeriod", "thetas"):
            if not hasattr(block, name):
                raise ValueError(f"D.blocks({number}) in {path} has no field {name!r}")
    n_neurons = {np.shape(block.spikes)[-1] for block in blocks}
    if len(n_neurons) != 1:
        raise ValueError(
            f"the blocks in {path} record different numbers of neurons: {sorted(n_neurons)}"
        )
    return list(blocks)


def _split_trials(block, epoch: str, path: Path) -> list[tuple[np.ndarray, str, str, int]]:
    """Split one block into (counts (bins, neurons), condition, epoch, freeze bins) per trial."""
    spikes = np.asarray(block.spikes)
    freeze = np.asarray(block.isFreezePeriod)
    thetas = np.asarray(block.thetas, dtype=np.float64)
    where = f"block {epoch!r} of {path}"

    if spikes.ndim != 2:
        raise ValueError(f"spikes in {where} must be (bins, neurons), got shape {spikes.shape}")
    n_bins = spikes.shape[0]
    if freeze.shape != (n_bins,) or thetas.shape != (n_bins,):
        raise ValueError(
            f"isFreezePeriod and thetas in {where} must have one value per bin ({n_bins},), "
            f"got shapes {freeze.shape} and {thetas.shape}"
        )
    if not np.isin(freeze, (0, 1)).all():
        raise ValueError(f"isFreezePeriod in {where} must contain only 0 and 1")
    freeze = freeze.astype(bool)
    if not freeze[0]:
        raise ValueError(
            f"{where} does not start with a freeze period, so its first bins belong to no trial"
        )

    starts = np.flatnonzero(np.diff(np.r_[False, freeze].astype(np.int8)) == 1)
    stops = np.r_[starts[1:], n_bins]
    trials = []
    for start, stop in zip(starts, stops):
        # The freeze bins of a trial are one run at its start, because every 0 -> 1 step
        # starts a new trial.
        n_freeze = int(freeze[start:stop].sum())
        target = thetas[start : start + n_freeze]
        if not np.isfinite(target).all():
            raise ValueError(
                f"thetas in {where} is missing during the freeze period of the trial starting "
                f"at bin {start}, so the trial has no target direction"
            )
        if not np.all(target == target[0]):
            raise ValueError(
                f"thetas in {where} changes during the freeze period of the trial starting at "
                f"bin {start}, so the target direction is ambiguous"
            )
        trials.append((spikes[start:stop], f"{target[0]:g}", epoch, n_freeze))
    return trials
