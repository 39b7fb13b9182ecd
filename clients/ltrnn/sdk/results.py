"""Result objects of the SDK: sweep tables, fitted models and analyses, with NumPy arrays.

Every object is built from the API message by a ``from_message`` class method and turns into
JSON-ready built-in types with ``to_dict``. Missing numbers (the losses of a failed cell, a
validation loss without validation entries) are NaN in the objects and None in ``to_dict``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltrnn.server.tensors import from_tensor
from ltrnn.v1 import common_pb2

LOSS_NAMES = ("train", "validation", "test")


def state_name(value: int) -> str:
    """Return "SUCCEEDED" for CELL_STATE_SUCCEEDED or JOB_STATE_SUCCEEDED, and so on."""
    return common_pb2.JobState.Name(value).removeprefix("JOB_STATE_")


def json_ready(value):
    """Turn NumPy values, NaN and infinities into JSON-ready built-in values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, complex):
        return [json_ready(value.real), json_ready(value.imag)]
    return value


def _array(message, name: str, **kwargs) -> np.ndarray | None:
    if not message.HasField(name):
        return None
    return from_tensor(getattr(message, name), name, **kwargs)


@dataclass(frozen=True)
class CellResult:
    """One row of a sweep's table: one fit of the grid.

    Losses are normalised (1 = no better than the grand mean) and NaN unless the cell
    succeeded.
    """

    cell_index: int
    rank: int
    rnn_size: int
    seed: int
    state: str
    train_loss: float
    validation_loss: float
    test_loss: float
    model_id: str
    iterations_run: int
    seconds: float
    error: str

    @classmethod
    def from_message(cls, message) -> "CellResult":
        return cls(
            cell_index=message.cell_index, rank=message.rank, rnn_size=message.rnn_size,
            seed=message.seed, state=state_name(message.state),
            train_loss=message.losses.train, validation_loss=message.losses.validation,
            test_loss=message.losses.test, model_id=message.model_id,
            iterations_run=message.iterations_run, seconds=message.seconds, error=message.error,
        )

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"

    def to_dict(self) -> dict:
        return json_ready(self.__dict__)


@dataclass(frozen=True)
class RankSummary:
    """Losses of one rank, averaged over the seeds of its best RNN size."""

    rank: int
    rnn_size: int
    n_fits: int
    mean_validation_loss: float
    validation_standard_error: float
    mean_test_loss: float
    mean_train_loss: float

    @classmethod
    def from_message(cls, message) -> "RankSummary":
        return cls(
            rank=message.rank, rnn_size=message.rnn_size, n_fits=message.n_fits,
            mean_validation_loss=message.mean_validation_loss,
            validation_standard_error=message.validation_standard_error,
            mean_test_loss=message.mean_test_loss, mean_train_loss=message.mean_train_loss,
        )

    def to_dict(self) -> dict:
        return json_ready(self.__dict__)


TABLE_COLUMNS = (
    "cell_index", "rank", "rnn_size", "seed", "state", "train_loss", "validation_loss",
    "test_loss", "iterations_run", "seconds", "model_id", "error",
)


@dataclass
class SweepResult:
    """The table of a rank sweep and the rank chosen from it.

    Attributes
    ----------
    job_id : str
    state : str
        State of the job when the result was read ("SUCCEEDED", "RUNNING", ...).
    cells : list of CellResult
        One row per cell, in cell order (rank, then RNN size, then seed).
    ranks : list of RankSummary
        One row per rank with a succeeded cell, in increasing rank.
    chosen_rank : int
        0 while no cell has succeeded.
    rule : str
        The rule behind ``chosen_rank``, with the numbers it compared.
    chosen_model_id : str
        The best seed at the chosen rank and its best RNN size; empty without one.
    """

    job_id: str
    state: str
    cells: list
    ranks: list
    chosen_rank: int
    rule: str
    chosen_model_id: str
    _client: object = field(default=None, repr=False, compare=False)

    @classmethod
    def from_message(cls, message, client=None) -> "SweepResult":
        return cls(
            job_id=message.job_id, state=state_name(message.state),
            cells=[CellResult.from_message(cell) for cell in message.cells],
            ranks=[RankSummary.from_message(rank) for rank in message.ranks],
            chosen_rank=message.chosen_rank, rule=message.rule,
            chosen_model_id=message.chosen_model_id, _client=client,
        )

    def table(self) -> list[dict]:
        """Return the cells as a list of dicts (NaN losses stay NaN)."""
        return [dict(cell.__dict__) for cell in self.cells]

    def columns(self) -> dict:
        """Return the table column by column as NumPy arrays, e.g. for ``pandas.DataFrame``."""
        return {
            name: np.array([getattr(cell, name) for cell in self.cells]) for name in TABLE_COLUMNS
        }

    def to_dict(self) -> dict:
        """Return the result as JSON-ready built-in types."""
        return {
            "job_id": self.job_id,
            "state": self.state,
            "cells": [cell.to_dict() for cell in self.cells],
            "ranks": [rank.to_dict() for rank in self.ranks],
            "chosen_rank": self.chosen_rank,
            "rule": self.rule,
            "chosen_model_id": self.chosen_model_id,
        }

    def format_table(self) -> str:
        """Return the table as aligned text, one line per cell, the chosen rank marked."""
        header = (
            f"{'rank':>4} {'N':>5} {'seed':>4} {'state':<9} {'train':>7} {'valid':>7} "
            f"{'test':>7} {'iters':>6} {'seconds':>8}"
        )
        lines = [header]
        for cell in self.cells:
            chosen = cell.model_id and cell.model_id == self.chosen_model_id
            marker = "  <- chosen" if chosen else ""
            lines.append(
                f"{cell.rank:>4} {cell.rnn_size:>5} {cell.seed:>4} {cell.state:<9} "
                f"{_number(cell.train_loss)} {_number(cell.validation_loss)} "
                f"{_number(cell.test_loss)} {cell.iterations_run:>6} {cell.seconds:>8.1f}{marker}"
            )
        return "\n".join(lines)

    def chosen_model(self, latents: bool = True) -> "Model":
        """Fetch the chosen model from the server this result came from."""
        if self._client is None:
            raise ValueError("this SweepResult has no client; use Client.model(chosen_model_id)")
        if not self.chosen_model_id:
            raise ValueError(f"job {self.job_id} has no chosen model: {self.rule}")
        return self._client.model(self.chosen_model_id, latents=latents)

    def plot(self, out_dir, formats=("png", "pdf"), baselines=None, models: bool = True,
             recording=None) -> list[Path]:
        """Write the loss-against-rank figure and, with ``models``, the chosen model's figures.

        Parameters
        ----------
        out_dir : str or os.PathLike
            Created when missing.
        formats : sequence of {"png", "pdf", "svg"}, default=("png", "pdf")
        baselines : dict, optional
            Test losses of reference predictors to draw as horizontal lines, e.g.
            ``{"condition mean (PSTH)": 0.79}``.
        models : bool, default=True
            Also plot the chosen model (needs the client this result came from).
        recording : Recording, optional
            The fitted recording; adds the observed-against-predicted figure.

        Returns
        -------
        list of Path
            The files written.
        """
        from ltrnn.plots import plot_rank_curve, save_figure

        figure = plot_rank_curve(self.table(), chosen_rank=self.chosen_rank, baselines=baselines)
        written = save_figure(figure, out_dir, "rank_curve", formats)
        if models and self._client is not None and self.chosen_model_id:
            written += self.chosen_model().plot(out_dir, formats=formats, recording=recording)
        return written


def _number(value: float) -> str:
    return f"{value:>7.4f}" if math.isfinite(value) else f"{'-':>7}"


@dataclass
class Model:
    """A fitted ltrRNN with its factors as NumPy arrays.

    W^(k) = sum_r trial_factors[k, r] column_factors[:, r] row_factors[:, r]^T. Shapes use K
    trials, M neurons, T bins, N units and R rank.

    Attributes
    ----------
    model_id, job_id : str
    cell_index, rank, rnn_size, seed : int
    config : dict
        The engine FitConfig of the fit.
    loss_kind : {"gaussian", "poisson"}
    losses : dict
        "train", "validation", "test", normalised.
    column_factors, row_factors : ndarray (N, R)
    trial_factors : ndarray (K, R)
    readout : ndarray (M, N)
    eigenvalues : ndarray (K, R), complex
    subspace_basis : ndarray (N, R)
    latents : ndarray (K, T, R) or None
        Only when requested from the server.
    predictions : ndarray (K, M, T) or None
        Only when requested from the server.
    history : dict of ndarray
        "iteration", "train_loss", "validation_loss" at each evaluation.
    iterations_run, best_iteration : int
    seconds_per_iteration : float
    stopped_reason : str
    recording : dict
        "condition", "epoch" (K labels each), "trial_id" (K,), "times" (T,), "kind",
        "conditions", "epochs", "shape".
    file_bytes : int
    """

    model_id: str
    job_id: str
    cell_index: int
    rank: int
    rnn_size: int
    seed: int
    config: dict
    loss_kind: str
    losses: dict
    column_factors: np.ndarray
    row_factors: np.ndarray
    trial_factors: np.ndarray
    readout: np.ndarray
    eigenvalues: np.ndarray
    subspace_basis: np.ndarray
    latents: np.ndarray | None
    predictions: np.ndarray | None
    history: dict
    iterations_run: int
    best_iteration: int
    seconds_per_iteration: float
    stopped_reason: str
    recording: dict
    file_bytes: int
    _client: object = field(default=None, repr=False, compare=False)

    @classmethod
    def from_message(cls, message, client=None) -> "Model":
        meta = message.recording
        recording = {
            "shape": list(meta.shape),
            "condition": list(meta.condition),
            "epoch": list(meta.epoch),
            "trial_id": _array(meta, "trial_id"),
            "times": _array(meta, "times"),
            "kind": meta.kind,
            "conditions": list(meta.conditions),
            "epochs": list(meta.epochs),
        }
        return cls(
            model_id=message.model_id, job_id=message.job_id, cell_index=message.cell_index,
            rank=message.rank, rnn_size=message.rnn_size, seed=message.seed,
            config=json.loads(message.config_json) if message.config_json else {},
            loss_kind=message.loss_kind,
            losses={name: getattr(message.losses, name) for name in LOSS_NAMES},
            column_factors=_array(message, "column_factors"),
            row_factors=_array(message, "row_factors"),
            trial_factors=_array(message, "trial_factors"),
            readout=_array(message, "readout"),
            eigenvalues=_array(message, "eigenvalues"),
            subspace_basis=_array(message, "subspace_basis"),
            latents=_array(message, "latents"),
            predictions=_array(message, "predictions"),
            history={
                "iteration": _array(message, "history_iteration"),
                "train_loss": _array(message, "history_train_loss"),
                "validation_loss": _array(message, "history_validation_loss"),
            },
            iterations_run=message.iterations_run, best_iteration=message.best_iteration,
            seconds_per_iteration=message.seconds_per_iteration,
            stopped_reason=message.stopped_reason, recording=recording,
            file_bytes=message.file_bytes, _client=client,
        )

    def _require_client(self):
        if self._client is None:
            raise ValueError(f"model {self.model_id} has no client; fetch it with Client.model")
        return self._client

    def simulate(self, trials=None, conditions=None) -> tuple[np.ndarray, np.ndarray]:
        """Run the model on the server for chosen trial factors and conditions.

        Parameters
        ----------
        trials : sequence of int, optional
            Indices of fitted trials whose trial factors to use; default every trial.
        conditions : sequence of str, optional
            Condition label of each simulated trial; default each trial's own condition.

        Returns
        -------
        predictions : ndarray (n, M, T)
        latents : ndarray (n, T, R)
        """
        return self._require_client().simulate(self.model_id, trials, conditions)

    def export(self, path) -> Path:
        """Download the model file (.npz, read by ``ltrnn.engine.result.FitResult.load``)."""
        return self._require_client().export_model(self.model_id, path)

    def summary(self) -> dict:
        """Return the scalars of the model (no arrays) as JSON-ready types."""
        return json_ready({
            "model_id": self.model_id, "job_id": self.job_id, "cell_index": self.cell_index,
            "rank": self.rank, "rnn_size": self.rnn_size, "seed": self.seed,
            "loss_kind": self.loss_kind, "losses": self.losses,
            "iterations_run": self.iterations_run, "best_iteration": self.best_iteration,
            "seconds_per_iteration": self.seconds_per_iteration,
            "stopped_reason": self.stopped_reason, "config": self.config,
            "shape": self.recording["shape"], "conditions": self.recording["conditions"],
            "epochs": self.recording["epochs"],
        })

    def plot(self, out_dir, formats=("png", "pdf"), recording=None, neurons=None) -> list[Path]:
        """Write the trial factor, latent, eigenvalue and (with ``recording``) fit figures.

        Parameters
        ----------
        out_dir : str or os.PathLike
        formats : sequence of {"png", "pdf", "svg"}, default=("png", "pdf")
        recording : Recording, optional
            The recording the model was fitted to, for the observed-against-predicted
            figure; the server stores datasets but has no call to download one.
        neurons : sequence of int, optional
            Neurons of that figure; default the four of largest variance.

        Returns
        -------
        list of Path
        """
        from ltrnn import plots

        epoch = self.recording["epoch"]
        condition = self.recording["condition"]
        written = plots.save_figure(
            plots.plot_trial_factors(self.trial_factors, epoch=epoch), out_dir,
            "trial_factors", formats,
        )
        written += plots.save_figure(
            plots.plot_eigenvalues(self.eigenvalues, epoch=epoch), out_dir, "eigenvalues", formats
        )
        latents = self.latents
        if latents is None:
            latents = self._require_client().model(self.model_id, latents=True).latents
        written += plots.save_figure(
            plots.plot_latents(latents, condition, times=self.recording["times"]), out_dir,
            "latents", formats,
        )
        if recording is not None:
            trials = _plot_trials(recording.shape)
            predictions, _ = self.simulate(trials=trials)
            figure = plots.plot_reconstruction(
                recording.data[trials], predictions, times=recording.times,
                condition=recording.condition[trials], neurons=neurons,
            )
            written += plots.save_figure(figure, out_dir, "observed_vs_predicted", formats)
        return written


def _plot_trials(shape, max_bytes: int = 8 * 1024 * 1024) -> list[int]:
    """Evenly spaced trials whose simulated activity stays under ``max_bytes`` on the wire."""
    n_trials, n_neurons, n_times = shape
    budget = max(1, max_bytes // (n_neurons * n_times * 8 * 2))
    if n_trials <= budget:
        return list(range(n_trials))
    return sorted({int(i) for i in np.linspace(0, n_trials - 1, budget)})


@dataclass(frozen=True)
class TensorRankResult:
    """CP fits of a tensor over a range of ranks and the suggested rank.

    Attributes
    ----------
    ranks : ndarray (n_ranks,), int
    errors : ndarray (n_ranks, replicates)
        Relative reconstruction error on the fitted entries.
    heldout_errors : ndarray (n_ranks, replicates) or None
        Relative error on held-out entries; None without held-out entries.
    similarity : ndarray (n_ranks,)
        Mean factor similarity of the replicates with the best replicate of their rank.
    suggested_rank : int
    rule : str
    """

    ranks: np.ndarray
    errors: np.ndarray
    heldout_errors: np.ndarray | None
    similarity: np.ndarray
    suggested_rank: int
    rule: str

    @classmethod
    def from_message(cls, message) -> "TensorRankResult":
        return cls(
            ranks=np.asarray(message.ranks, dtype=np.int64),
            errors=_array(message, "errors"),
            heldout_errors=_array(message, "heldout_errors"),
            similarity=_array(message, "similarity"),
            suggested_rank=message.suggested_rank, rule=message.rule,
        )

    def to_dict(self) -> dict:
        return json_ready({
            "ranks": self.ranks, "errors": self.errors, "heldout_errors": self.heldout_errors,
            "similarity": self.similarity, "suggested_rank": self.suggested_rank,
            "rule": self.rule,
        })


@dataclass(frozen=True)
class LearningRanksResult:
    """Ranks of the weight changes of a learning tensor against the linear-RNN bound."""

    slice_ranks: np.ndarray
    effective_ranks: np.ndarray
    multilinear_rank: tuple
    cp_rank_estimate: int
    matrix_rank_bound: int
    cp_rank_bound: int
    within_bound: bool
    cp_rank_rule: str

    @classmethod
    def from_message(cls, message) -> "LearningRanksResult":
        return cls(
            slice_ranks=_array(message, "slice_ranks"),
            effective_ranks=_array(message, "effective_ranks"),
            multilinear_rank=tuple(int(value) for value in message.multilinear_rank),
            cp_rank_estimate=message.cp_rank_estimate,
            matrix_rank_bound=message.matrix_rank_bound,
            cp_rank_bound=message.cp_rank_bound,
            within_bound=message.within_bound,
            cp_rank_rule=message.cp_rank_rule,
        )

    def to_dict(self) -> dict:
        return json_ready(self.__dict__)


@dataclass(frozen=True)
class SubspacesResult:
    """Principal angles between two subspaces.

    Attributes
    ----------
    angles : ndarray (min(r_a, r_b),)
        In radians, increasing.
    cosines : ndarray
        Their cosines (canonical correlations).
    variance_captured_a, variance_captured_b : float
        Fraction of the samples' variance each subspace captures; NaN without samples.
    description_a, description_b : str
        What each side was: its source, space and shape, in words.
    """

    angles: np.ndarray
    cosines: np.ndarray
    variance_captured_a: float
    variance_captured_b: float
    description_a: str
    description_b: str

    @classmethod
    def from_message(cls, message) -> "SubspacesResult":
        return cls(
            angles=_array(message, "angles"), cosines=_array(message, "cosines"),
            variance_captured_a=message.variance_captured_a,
            variance_captured_b=message.variance_captured_b,
            description_a=message.description_a,
            description_b=message.description_b,
        )

    @property
    def degrees(self) -> np.ndarray:
        return np.degrees(self.angles)

    def to_dict(self) -> dict:
        return json_ready({
            "angles": self.angles, "angles_degrees": self.degrees, "cosines": self.cosines,
            "variance_captured_a": self.variance_captured_a,
            "variance_captured_b": self.variance_captured_b,
            "description_a": self.description_a,
            "description_b": self.description_b,
        })


@dataclass(frozen=True)
class EpochSummary:
    """Mean trial factors of one epoch and their change from the previous epoch."""

    epoch: str
    first_trial: int
    n_trials: int
    mean_trial_factors: np.ndarray
    change_at_start: np.ndarray | None


@dataclass(frozen=True)
class ModelAnalysisResult:
    """Trial factors, eigenvalues, epoch summaries and latent summaries of a fitted model."""

    model_id: str
    trial_factors: np.ndarray
    eigenvalues: np.ndarray
    epochs: list
    conditions: list
    mean_latents_by_condition: np.ndarray | None
    latent_variance_fraction: np.ndarray | None
    latent_path_length: np.ndarray | None
    latent_mean_speed: np.ndarray | None

    @classmethod
    def from_message(cls, message) -> "ModelAnalysisResult":
        epochs = [
            EpochSummary(
                epoch=item.epoch, first_trial=item.first_trial, n_trials=item.n_trials,
                mean_trial_factors=_array(item, "mean_trial_factors"),
                change_at_start=_array(item, "change_at_start"),
            )
            for item in message.epochs
        ]
        latents = message.latents
        return cls(
            model_id=message.model_id,
            trial_factors=_array(message, "trial_factors"),
            eigenvalues=_array(message, "eigenvalues"),
            epochs=epochs,
            conditions=list(latents.conditions),
            mean_latents_by_condition=_array(latents, "mean_by_condition"),
            latent_variance_fraction=_array(latents, "variance_fraction"),
            latent_path_length=_array(latents, "path_length"),
            latent_mean_speed=_array(latents, "mean_speed"),
        )

    def to_dict(self) -> dict:
        return json_ready({
            "model_id": self.model_id,
            "epochs": [item.__dict__ for item in self.epochs],
            "conditions": self.conditions,
            "latent_variance_fraction": self.latent_variance_fraction,
            "latent_path_length": self.latent_path_length,
            "latent_mean_speed": self.latent_mean_speed,
            "eigenvalue_modulus_mean": (
                None if self.eigenvalues is None else np.abs(self.eigenvalues).mean(axis=0)
            ),
        })
