"""Trial factors and per-trial eigenvalues of a fitted model across learning."""

from __future__ import annotations

import numpy as np

from ._figures import check_array, check_labels, mark_epochs, new_figure


def plot_trial_factors(trial_factors, epoch=None):
    """Plot each component's trial factor c[:, r] across trials, epoch boundaries dashed.

    Parameters
    ----------
    trial_factors : array-like of shape (K, R)
    epoch : sequence of str of length K, optional
        Epoch label of each trial.

    Returns
    -------
    matplotlib.figure.Figure
    """
    factors = check_array("trial_factors", trial_factors, 2)
    n_trials, rank = factors.shape
    if epoch is not None:
        epoch = check_labels("epoch", epoch, n_trials)
    figure = new_figure(8.0, 1.2 + 1.3 * rank)
    axes_list = np.atleast_1d(figure.subplots(rank, 1, sharex=True, squeeze=False)[:, 0])
    for component, axes in enumerate(axes_list):
        axes.plot(np.arange(n_trials), factors[:, component], color=f"C{component}", linewidth=1.2)
        axes.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
        mark_epochs(axes, epoch, label=component == 0)
        axes.set_ylabel(f"c[:, {component + 1}]")
        axes.grid(alpha=0.3)
    axes_list[-1].set_xlabel("trial (recorded order)")
    figure.suptitle("trial factors across learning", fontsize=10)
    return figure


def plot_eigenvalues(eigenvalues, epoch=None):
    """Plot each trial's nonzero eigenvalues of W^(k) in the complex plane and their moduli.

    The line Re = 1 marks where the linearised dynamics tau dx/dt = -x + W x at the origin
    become unstable (tanh has slope 1 at 0).

    Parameters
    ----------
    eigenvalues : array-like of shape (K, R), complex
    epoch : sequence of str of length K, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = check_array("eigenvalues", eigenvalues, 2, dtype=complex)
    n_trials, rank = values.shape
    if epoch is not None:
        epoch = check_labels("epoch", epoch, n_trials)
    figure = new_figure(10.0, 4.0)
    plane, modulus = figure.subplots(1, 2, width_ratios=(1.0, 1.4))
    trials = np.repeat(np.arange(n_trials), rank)
    points = plane.scatter(values.real.ravel(), values.imag.ravel(), c=trials, cmap="viridis",
                           s=6, alpha=0.8)
    plane.axvline(1.0, color="tab:red", linestyle="--", linewidth=0.8, label="Re = 1")
    plane.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
    plane.set_xlabel("real part")
    plane.set_ylabel("imaginary part")
    plane.set_title("eigenvalues of W^(k)", fontsize=10)
    plane.legend(fontsize=8, loc="upper left")
    figure.colorbar(points, ax=plane, label="trial")
    for component in range(rank):
        modulus.plot(np.arange(n_trials), np.abs(values[:, component]), linewidth=1.0,
                     label=f"|lambda_{component + 1}|")
    mark_epochs(modulus, epoch)
    modulus.set_xlabel("trial (recorded order)")
    modulus.set_ylabel("modulus")
    modulus.legend(fontsize=8)
    modulus.grid(alpha=0.3)
    return figure
