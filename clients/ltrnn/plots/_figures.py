"""Figure creation and saving without pyplot, so plotting never changes a global backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FORMATS = ("png", "pdf", "svg")
DPI = 150


def new_figure(width: float, height: float) -> Figure:
    """Return an empty figure of ``width`` x ``height`` inches drawn by the Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, out_dir, name: str, formats=("png", "pdf")) -> list[Path]:
    """Write ``figure`` as ``out_dir/name.<format>`` for each format; returns the paths.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    out_dir : str or os.PathLike
        Created when missing.
    name : str
        File name without suffix.
    formats : sequence of {"png", "pdf", "svg"}, default=("png", "pdf")
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    bad = [value for value in formats if value not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty list from {FORMATS}, got {formats}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for extension in formats:
        path = out_dir / f"{name}.{extension}"
        figure.savefig(path, dpi=DPI)
        written.append(path)
    return written


def epoch_runs(epoch) -> list[tuple[str, int, int]]:
    """Return (label, first trial, end trial) of each contiguous run of epoch labels."""
    labels = [str(label) for label in epoch]
    runs = []
    start = 0
    for index in range(1, len(labels) + 1):
        if index == len(labels) or labels[index] != labels[start]:
            runs.append((labels[start], start, index))
            start = index
    return runs


def mark_epochs(axes, epoch, label: bool = True) -> None:
    """Draw a dashed line at each epoch boundary and, with ``label``, name each epoch."""
    if epoch is None:
        return
    runs = epoch_runs(epoch)
    for _, start, _ in runs[1:]:
        axes.axvline(start - 0.5, color="0.4", linestyle="--", linewidth=0.8)
    if label and len(runs) > 1:
        transform = axes.get_xaxis_transform()
        for name, start, end in runs:
            axes.text((start + end - 1) / 2, 1.01, name, transform=transform, ha="center",
                      va="bottom", fontsize=8, color="0.3")


def check_array(name: str, value, ndim: int, dtype=float) -> np.ndarray:
    """Return ``value`` as an array with ``ndim`` dimensions or raise ValueError naming it."""
    array = np.asarray(value, dtype=dtype)
    if array.ndim != ndim or 0 in array.shape:
        raise ValueError(
            f"{name} must be a non-empty array with {ndim} dimensions, got shape {array.shape}"
        )
    return array


def check_labels(name: str, labels, length: int) -> list[str]:
    """Return ``labels`` as a list of ``length`` strings or raise ValueError naming it."""
    labels = [str(label) for label in np.asarray(labels).ravel()]
    if len(labels) != length:
        raise ValueError(f"{name} must have {length} labels, got {len(labels)}")
    return labels


def sorted_labels(labels) -> list[str]:
    """Return the distinct labels sorted, numbers by value ("2" before "10"), then text."""

    def key(label: str):
        try:
            return (0, float(label), "")
        except ValueError:
            return (1, 0.0, label)

    return sorted({str(label) for label in labels}, key=key)


def condition_colours(conditions: list[str]) -> dict:
    """Map each condition to a colour of the tab10 (or tab20) palette, cycling beyond it.

    Give the conditions in :func:`sorted_labels` order so that every figure of one
    recording colours a condition alike.
    """
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(conditions) <= 10 else "tab20"]
    count = palette.N
    return {label: palette(index % count) for index, label in enumerate(conditions)}
