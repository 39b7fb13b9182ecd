"""Latent trajectories of a fitted model in span{a_r}, averaged per condition."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from ._figures import check_array, check_labels, condition_colours, new_figure, sorted_labels


def plot_latents(latents, condition, times=None, trials=None):
    """Plot condition-mean latent trajectories in the subspace span{a_r}.

    With rank >= 2 the left panel shows the trajectories in the plane of the first two
    coordinates, a dot at the go cue (the first bin with time >= 0); the right panel shows
    each coordinate over time.

    Parameters
    ----------
    latents : array-like of shape (K, T, R)
        Trajectories in the coordinates of an orthonormal basis of span{a_r}.
    condition : sequence of str of length K
    times : array-like of shape (T,), optional
        Bin times; default 0 .. T - 1.
    trials : array-like of int, optional
        Trials to average; default all.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = check_array("latents", latents, 3)
    n_trials, n_times, rank = values.shape
    labels = np.asarray(check_labels("condition", condition, n_trials))
    times = np.arange(n_times, dtype=float) if times is None else check_array("times", times, 1)
    if times.shape != (n_times,):
        raise ValueError(f"times must have shape ({n_times},), got {times.shape}")
    if trials is not None:
        trials = np.asarray(trials, dtype=int)
        values, labels = values[trials], labels[trials]
    conditions = sorted_labels(labels.tolist())
    colours = condition_colours(conditions)
    means = {label: values[labels == label].mean(axis=0) for label in conditions}
    go = int(np.argmax(times >= 0)) if np.any(times >= 0) else 0

    figure = new_figure(10.0 if rank >= 2 else 6.0, 4.2)
    if rank >= 2:
        plane, over_time = figure.subplots(1, 2)
        for label in conditions:
            mean = means[label]
            plane.plot(mean[:, 0], mean[:, 1], color=colours[label], linewidth=1.2, label=label)
            plane.plot(mean[go, 0], mean[go, 1], "o", color=colours[label], markersize=4)
        plane.set_xlabel("latent 1")
        plane.set_ylabel("latent 2")
        plane.set_title("condition means in span{a_r} (dot: go cue)", fontsize=10)
        if len(conditions) <= 12:
            plane.legend(fontsize=7, title="condition", title_fontsize=8)
    else:
        over_time = figure.subplots(1, 1)
    styles = ("-", "--", ":", "-.")
    shown = min(rank, len(styles))
    for component in range(shown):
        for label in conditions:
            over_time.plot(times, means[label][:, component], color=colours[label],
                           linestyle=styles[component], linewidth=1.0)
    keys = [Line2D([], [], color="0.2", linestyle=styles[c], label=f"latent {c + 1}")
            for c in range(shown)]
    over_time.legend(handles=keys, fontsize=7)
    over_time.axvline(0.0, color="0.5", linewidth=0.8)
    over_time.set_xlabel("time (bins; < 0 before the go cue)")
    over_time.set_ylabel("latent value")
    title = "first four latents over time" if rank > shown else "latents over time"
    over_time.set_title(f"{title} (colour: condition)", fontsize=10)
    over_time.grid(alpha=0.3)
    return figure
