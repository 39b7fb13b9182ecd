"""The outcome of one ltrRNN fit, saved to and loaded from a portable npz file."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import FitConfig
from .model import ModelParameters, simulate

FORMAT_VERSION = 1

_ARRAYS = (
    "column_factors", "row_factors", "trial_factors", "readout", "readout_scale",
    "readout_offset", "inputs", "initial_state", "bias", "subspace_basis", "eigenvalues",
    "latents", "predictions",
)


def reduced_eigenvalues(column, row, trial_factors) -> np.ndarray:
    """Return the nonzero eigenvalues of each W^(k), shape (K, R), sorted by modulus.

    They are the eigenvalues of the R x R matrix diag(c_k) B^T A, so no N x N matrix is built.
    """
    core = row.T @ column
    matrices = trial_factors[:, :, None] * core[None, :, :]
    values = np.linalg.eigvals(matrices)
    order = np.argsort(-np.abs(values), axis=1)
    return np.take_along_axis(values, order, axis=1)


@dataclass(eq=False)
class FitResult:
    """Parameters, losses and trajectories of a fitted ltrRNN.

    Shapes use K trials, M neurons, T bins, N units, R rank and C conditions.

    Attributes
    ----------
    config : FitConfig
    loss_kind : {"gaussian", "poisson"}
    column_factors, row_factors : ndarray (N, R)
        Unit-norm a_r and b_r; W^(k) = sum_r trial_factors[k, r] a_r b_r^T.
    trial_factors : ndarray (K, R)
    readout : ndarray (M, N)
    readout_scale : ndarray (M,) or (1,)
    readout_offset : ndarray (M,)
    inputs : ndarray (C, T, R)
        Condition input time courses in factor coordinates (zero outside the input window).
    initial_state : ndarray (C, R)
        z(0) for each condition, in factor coordinates.
    bias : ndarray (R,)
    subspace_basis : ndarray (N, R)
        Orthonormal basis of span{a_r}.
    eigenvalues : ndarray (K, R), complex
        Nonzero eigenvalues of each trial's W^(k), sorted by modulus.
    latents : ndarray (K, T, R)
        State trajectories projected on ``subspace_basis``.
    predictions : ndarray (K, M, T)
        Predicted mean activity.
    losses : dict
        "train", "validation", "test": mean deviance on those entries divided by the mean
        deviance of the grand mean (for the Gaussian loss: MSE / data variance).
    history : dict of ndarray
        "iteration", "train_loss", "validation_loss", "elapsed_seconds" at each evaluation.
    iterations_run : int
    best_iteration : int
        Iteration whose parameters were kept (lowest validation loss).
    seconds_per_iteration : float
    stopped_reason : str
        "early_stopping" or "max_iterations".
    recording_meta : dict
        "conditions", "condition", "epoch", "trial_id", "times", "kind", "n_neurons".
    extra : dict
        Further JSON-serialisable facts (mask settings, device, versions).
    """

    config: FitConfig
    loss_kind: str
    column_factors: np.ndarray
    row_factors: np.ndarray
    trial_factors: np.ndarray
    readout: np.ndarray
    readout_scale: np.ndarray
    readout_offset: np.ndarray
    inputs: np.ndarray
    initial_state: np.ndarray
    bias: np.ndarray
    subspace_basis: np.ndarray
    eigenvalues: np.ndarray
    latents: np.ndarray
    predictions: np.ndarray
    losses: dict
    history: dict
    iterations_run: int
    best_iteration: int
    seconds_per_iteration: float
    stopped_reason: str
    recording_meta: dict
    extra: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return self.config.rank

    def neural_subspace(self) -> np.ndarray:
        """Return an orthonormal basis (M, R) of the image of span{a_r} in neuron space.

        The latent space of a fitted RNN is defined only up to the readout. Fitted and true
        subspaces are therefore compared through diag(readout_scale) readout A, the map of the
        column factors to neurons. The map is exact for the Gaussian loss in the linear range
        of tanh.
        """
        scale = np.broadcast_to(self.readout_scale, (self.readout.shape[0],))
        image = (scale[:, None] * self.readout) @ self.column_factors
        basis, _ = np.linalg.qr(image)
        return basis

    def weight_tensor(self, trials=None) -> np.ndarray:
        """Build W^(k) for the given trial indices (default all), shape (k, N, N).

        Memory grows as K N^2: use it for analysis of small models, not inside loops.
        """
        factors = self.trial_factors if trials is None else self.trial_factors[np.asarray(trials)]
        return np.einsum("kr,ir,jr->kij", factors, self.column_factors, self.row_factors)

    def simulate(self, trials=None, conditions=None, trial_factors=None):
        """Run the fitted model for chosen trial factors and conditions.

        Parameters
        ----------
        trials : sequence of int, optional
            Indices of fitted trials whose trial factors to use. Default: every trial.
        conditions : sequence of str, optional
            Condition label of each simulated trial. Default: each chosen trial's own
            condition (only when ``trials`` or neither argument is given).
        trial_factors : array-like of shape (n, R), optional
            Trial factors to use instead of ``trials``.

        Returns
        -------
        predictions : ndarray (n, M, T)
        latents : ndarray (n, T, R), projected on ``subspace_basis``
        """
        n_trials = self.trial_factors.shape[0]
        if trial_factors is not None and trials is not None:
            raise ValueError("give either trials or trial_factors, not both")
        if trial_factors is not None:
            factors = np.asarray(trial_factors, dtype=np.float64)
            if factors.ndim != 2 or factors.shape[1] != self.rank or factors.shape[0] == 0:
                raise ValueError(
                    f"trial_factors must have shape (n, {self.rank}) with n >= 1, "
                    f"got {factors.shape}"
                )
            if not np.all(np.isfinite(factors)):
                raise ValueError("trial_factors must be finite")
            if conditions is None:
                raise ValueError("conditions are required with trial_factors")
        else:
            trials = np.arange(n_trials) if trials is None else np.asarray(trials)
            if trials.ndim != 1 or trials.size == 0 or not np.issubdtype(trials.dtype, np.integer):
                raise ValueError(f"trials must be a non-empty list of trial indices, got {trials!r}")
            bad = trials[(trials < 0) | (trials >= n_trials)]
            if bad.size:
                raise ValueError(
                    f"trials must be indices in [0, {n_trials - 1}], got {int(bad[0])}"
                )
            factors = self.trial_factors[trials]
            if conditions is None:
                conditions = np.asarray(self.recording_meta["condition"])[trials]

        known = list(self.recording_meta["conditions"])
        conditions = [str(c) for c in np.atleast_1d(np.asarray(conditions))]
        if len(conditions) != factors.shape[0]:
            raise ValueError(
                f"conditions must have one label per simulated trial ({factors.shape[0]}), "
                f"got {len(conditions)}"
            )
        unknown = sorted(set(conditions) - set(known))
        if unknown:
            raise ValueError(f"unknown conditions {unknown}; the model knows {known}")
        codes = torch.as_tensor([known.index(c) for c in conditions])

        params = self._torch_parameters()
        with torch.no_grad():
            prediction, latents, _ = simulate(
                params, torch.as_tensor(factors, dtype=torch.float32), codes,
                tau=self.config.tau, substeps=self.config.substeps, kind=self.loss_kind,
            )
        projection = self.subspace_basis.T @ self.column_factors
        latents = latents.numpy().astype(np.float64) @ projection.T
        return prediction.numpy().astype(np.float64), latents

    def _torch_parameters(self) -> ModelParameters:
        def tensor(array):
            return torch.as_tensor(np.asarray(array), dtype=torch.float32)

        return ModelParameters(
            column=tensor(self.column_factors), row=tensor(self.row_factors),
            trial_factors=tensor(self.trial_factors), readout=tensor(self.readout),
            scale=tensor(self.readout_scale), offset=tensor(self.readout_offset),
            inputs=tensor(self.inputs), initial=tensor(self.initial_state), bias=tensor(self.bias),
        )

    def save(self, path) -> Path:
        """Write the result to an ``.npz`` file atomically; it loads without pickle."""
        path = Path(path)
        meta = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "loss_kind": self.loss_kind,
            "losses": self.losses,
            "iterations_run": self.iterations_run,
            "best_iteration": self.best_iteration,
            "seconds_per_iteration": self.seconds_per_iteration,
            "stopped_reason": self.stopped_reason,
            "recording_meta": _jsonable(self.recording_meta),
            "extra": self.extra,
        }
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}
        arrays.update({f"history_{k}": np.asarray(v) for k, v in self.history.items()})
        arrays["meta_json"] = np.array(json.dumps(meta, allow_nan=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez_compressed(stream, **arrays)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path) -> "FitResult":
        """Read a result written by :meth:`save`; never unpickles."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                contents = {key: archive[key] for key in archive.files}
        except (ValueError, OSError) as error:
            raise ValueError(f"{path} is not a valid ltrnn model file: {error}") from error
        missing = [name for name in (*_ARRAYS, "meta_json") if name not in contents]
        if missing:
            raise ValueError(f"{path} is not a valid ltrnn model file: missing {missing}")
        meta = json.loads(str(contents["meta_json"]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has model format version {meta.get('format_version')!r}; "
                f"this ltrnn reads version {FORMAT_VERSION}"
            )
        history = {
            key[len("history_"):]: value for key, value in contents.items()
            if key.startswith("history_")
        }
        return cls(
            config=FitConfig.from_dict(meta["config"]),
            loss_kind=meta["loss_kind"],
            losses=meta["losses"],
            history=history,
            iterations_run=meta["iterations_run"],
            best_iteration=meta["best_iteration"],
            seconds_per_iteration=meta["seconds_per_iteration"],
            stopped_reason=meta["stopped_reason"],
            recording_meta=meta["recording_meta"],
            extra=meta["extra"],
            **{name: contents[name] for name in _ARRAYS},
        )


def _jsonable(values: dict) -> dict:
    return {
        key: value.tolist() if isinstance(value, np.ndarray) else value
        for key, value in values.items()
    }
