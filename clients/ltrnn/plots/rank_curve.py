"""Held-out loss against rank: the figure that shows where added rank stops helping."""

from __future__ import annotations

import math

import numpy as np

from ._figures import new_figure

PANELS = (
    ("validation_loss", "validation loss (chooses the rank)"),
    ("test_loss", "test loss (never used for choices)"),
)


def _baseline_value(value, panel: str) -> float | None:
    if isinstance(value, dict):
        value = value.get(panel.removesuffix("_loss"))
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def plot_rank_curve(rows, chosen_rank: int = 0, baselines=None):
    """Plot validation and test loss against rank, one line per RNN size.

    Each line is the mean over seeds with its standard error; dots are single seeds.

    Parameters
    ----------
    rows : list of dict
        Cells of a sweep with "rank", "rnn_size", "state", "validation_loss" and
        "test_loss" (``SweepResult.table()``). Only succeeded cells are drawn.
    chosen_rank : int, default=0
        Rank to mark; 0 marks none.
    baselines : dict, optional
        Name -> test loss, or name -> {"validation": float, "test": float}, of reference
        predictors drawn as horizontal dotted lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [row for row in rows if row.get("state", "SUCCEEDED") == "SUCCEEDED"]
    if not rows:
        raise ValueError("rows contain no succeeded cell, so there is no loss to plot")
    sizes = sorted({int(row["rnn_size"]) for row in rows})
    ranks = sorted({int(row["rank"]) for row in rows})
    figure = new_figure(9.0, 3.8)
    axes_list = figure.subplots(1, 2, sharex=True)
    offsets = np.linspace(-0.08, 0.08, len(sizes)) if len(sizes) > 1 else [0.0]
    for axes, (key, title) in zip(axes_list, PANELS):
        for size, offset in zip(sizes, offsets):
            means, errors, xs = [], [], []
            for rank in ranks:
                values = np.array([
                    row[key] for row in rows
                    if int(row["rank"]) == rank and int(row["rnn_size"]) == size
                    and row[key] is not None and math.isfinite(row[key])
                ])
                if values.size == 0:
                    continue
                axes.plot(np.full(values.size, rank + offset), values, ".", color="0.6",
                          markersize=4, zorder=1)
                xs.append(rank + offset)
                means.append(values.mean())
                spread = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else 0.0
                errors.append(spread)
            if xs:
                axes.errorbar(xs, means, yerr=errors, marker="o", capsize=3, label=f"N = {size}",
                              zorder=2)
        for name, value in (baselines or {}).items():
            level = _baseline_value(value, key)
            if level is not None:
                axes.axhline(level, linestyle=":", color="0.3", linewidth=1.0)
                axes.annotate(name, (1.0, level), xycoords=("axes fraction", "data"),
                              xytext=(-4, 3), textcoords="offset points", ha="right",
                              fontsize=8, color="0.3")
        if chosen_rank:
            axes.axvline(chosen_rank, color="tab:red", linestyle="--", linewidth=1.0,
                         label=f"chosen rank {chosen_rank}")
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("tensor rank R")
        axes.set_xticks(ranks)
        axes.grid(alpha=0.3)
    axes_list[0].set_ylabel("normalised loss (1 = grand mean)")
    axes_list[0].legend(fontsize=8)
    return figure
