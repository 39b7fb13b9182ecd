"""Recordings shipped with ltrnn, so that examples and tests run without downloads."""

from __future__ import annotations

from pathlib import Path

from ltrnn.engine.convert import crop_bins
from ltrnn.engine.io import load_npz
from ltrnn.engine.recording import Recording

#: One BCI session (2013-12-18) of Hennig et al. (2018), converted by
#: :func:`ltrnn.engine.convert.convert_hennig2018` with whole trials kept.
#: MIT licence: see ``hennig2018/LICENSE.txt`` next to the file.
HENNIG2018_PATH = Path(__file__).resolve().parent / "hennig2018" / "20131218.npz"


def load_hennig2018(max_bins: int | None = None) -> Recording:
    """Load the shipped Hennig et al. (2018) session as spike counts.

    334 trials (167 baseline, then 167 perturbation), 87 neurons, up to 142 bins per trial
    of which the first 5 (times -5 .. -1) are the freeze period. Bins are in units of the
    decoder's time step, which the source file does not store. See ``docs/data.md``.

    Parameters
    ----------
    max_bins : int or None, default=None
        Keep only the first ``max_bins`` bins of every trial, freeze bins included; it must
        be greater than 5. None keeps whole trials.

    Returns
    -------
    Recording
        The same arrays as ``convert_hennig2018(<source .mat>, max_bins)``.
    """
    return crop_bins(load_npz(HENNIG2018_PATH), max_bins)
