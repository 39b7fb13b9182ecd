"""Observed against predicted activity for a few neurons."""

from __future__ import annotations

import numpy as np

from ._figures import check_array, check_labels, condition_colours, new_figure, sorted_labels

MAX_CONDITIONS = 4


def plot_reconstruction(observed, predicted, times=None, condition=None, neurons=None,
                        ylabel: str = "activity per bin"):
    """Plot condition-mean observed (dots) and predicted (lines) activity of a few neurons.

    Parameters
    ----------
    observed : array-like of shape (n, M, T)
        Recorded activity of n trials; NaN where missing.
    predicted : array-like of shape (n, M, T)
        The model's predicted mean activity on the same trials.
    times : array-like of shape (T,), optional
    condition : sequence of str of length n, optional
        Condition of each trial; the most frequent four conditions are drawn.
    neurons : sequence of int, optional
        Neurons to draw; default the four whose observed activity varies most.
    ylabel : str, default="activity per bin"

    Returns
    -------
    matplotlib.figure.Figure
    """
    observed = check_array("observed", observed, 3)
    predicted = check_array("predicted", predicted, 3)
    if observed.shape != predicted.shape:
        raise ValueError(
            f"observed and predicted must have the same shape, got {observed.shape} and "
            f"{predicted.shape}"
        )
    n_trials, n_neurons, n_times = observed.shape
    times = np.arange(n_times, dtype=float) if times is None else check_array("times", times, 1)
    labels = np.asarray(
        ["all"] * n_trials if condition is None else check_labels("condition", condition, n_trials)
    )
    if neurons is None:
        spread = np.full(n_neurons, -1.0)
        for neuron in range(n_neurons):
            values = observed[:, neuron][~np.isnan(observed[:, neuron])]
            if values.size:
                spread[neuron] = values.var()
        neurons = np.argsort(-spread)[: min(4, n_neurons)]
    neurons = [int(index) for index in neurons]
    bad = [index for index in neurons if not 0 <= index < n_neurons]
    if bad or not neurons:
        raise ValueError(f"neurons must be indices in [0, {n_neurons - 1}], got {neurons}")

    colours = condition_colours(sorted_labels(labels.tolist()))
    names, counts = np.unique(labels, return_counts=True)
    frequent = {str(name) for name in names[np.argsort(-counts, kind="stable")][:MAX_CONDITIONS]}
    conditions = [label for label in sorted_labels(labels.tolist()) if label in frequent]
    columns = min(2, len(neurons))
    rows = int(np.ceil(len(neurons) / columns))
    figure = new_figure(4.5 * columns, 2.6 * rows + 0.6)
    axes_grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for axes, neuron in zip(axes_grid, neurons):
        for label in conditions:
            chosen = labels == label
            seen = _mean_observed(observed[chosen, neuron])
            model = predicted[chosen, neuron].mean(axis=0)
            axes.plot(times, seen, ".", color=colours[label], markersize=4)
            axes.plot(times, model, "-", color=colours[label], linewidth=1.2, label=label)
        axes.set_title(f"neuron {neuron}", fontsize=9)
        axes.set_xlabel("time (bins)")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
    for axes in axes_grid[len(neurons):]:
        axes.set_visible(False)
    axes_grid[0].legend(fontsize=7, title="condition (line: model)", title_fontsize=7)
    figure.suptitle("observed (dots) and predicted (lines) condition means", fontsize=10)
    return figure


def _mean_observed(values: np.ndarray) -> np.ndarray:
    """Mean over trials of (trials, T) values, ignoring NaN; NaN where a bin has none."""
    count = np.sum(~np.isnan(values), axis=0)
    total = np.nansum(values, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
