"""Figures of sweeps and fitted models (matplotlib, drawn with the Agg canvas, PNG and PDF).

Every ``plot_*`` function takes NumPy arrays and returns a ``matplotlib.figure.Figure``;
:func:`save_figure` writes it. No function touches pyplot, so importing this package never
changes the backend of a notebook.
"""

from ._figures import epoch_runs, save_figure
from .factors import plot_eigenvalues, plot_trial_factors
from .latents import plot_latents
from .rank_curve import plot_rank_curve
from .reconstruction import plot_reconstruction

__all__ = [
    "epoch_runs",
    "plot_eigenvalues",
    "plot_latents",
    "plot_rank_curve",
    "plot_reconstruction",
    "plot_trial_factors",
    "save_figure",
]
