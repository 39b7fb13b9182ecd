"""Fitting an ltrRNN to a recording with Adam, trial dropout and early stopping."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import losses
from .config import FitConfig
from .gp import trial_factor_cholesky
from .masks import CVMasks, MaskConfig, make_block_masks
from .model import LowTensorRankRNN
from .recording import COUNTS, Recording
from .result import FitResult, reduced_eigenvalues

logger = logging.getLogger(__name__)


class FitCancelled(Exception):
    """Raised by :func:`fit` when the progress callback requests a stop."""


@dataclass(frozen=True)
class Progress:
    """One progress report: losses are normalised (see :class:`FitResult`)."""

    iteration: int
    iterations: int
    train_loss: float
    validation_loss: float
    elapsed_seconds: float


def resolve_device(device) -> torch.device:
    """Return the torch device for "auto", "cpu", "cuda" or "cuda:<index>"."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:index]', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but CUDA is not available")
        return torch.device(device)
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:index]', got {device!r}")


def _loss_kind(config: FitConfig, recording: Recording) -> str:
    if config.loss == "auto":
        return losses.POISSON if recording.kind == COUNTS else losses.GAUSSIAN
    if config.loss == losses.POISSON and recording.kind != COUNTS:
        raise ValueError(
            "loss='poisson' needs a recording of kind 'counts', got kind "
            f"{recording.kind!r}; use loss='gaussian' or 'auto'"
        )
    return config.loss


def _check_masks(masks, recording) -> CVMasks:
    if not isinstance(masks, CVMasks):
        raise ValueError(f"masks must be a CVMasks, got {type(masks).__name__}")
    for name in ("train", "validation", "test"):
        part = np.asarray(getattr(masks, name))
        if part.shape != recording.shape or part.dtype != bool:
            raise ValueError(
                f"masks.{name} must be a boolean array of shape {recording.shape}, "
                f"got {part.dtype} {part.shape}"
            )
    if (masks.train & masks.test).any() or (masks.validation & masks.test).any():
        raise ValueError("masks.test must be disjoint from masks.train and masks.validation")
    masks = masks.restrict(recording.mask)
    if not masks.train.any():
        raise ValueError("masks.train contains no observed entries; nothing to fit")
    return masks


def fit(
    recording: Recording,
    config: FitConfig,
    *,
    masks: CVMasks | None = None,
    mask_config: MaskConfig | None = None,
    mask_seed: int = 0,
    progress: Callable[[Progress], object] | None = None,
    device="auto",
) -> FitResult:
    """Fit an ltrRNN of the configured rank and size to a recording.

    Parameters
    ----------
    recording : Recording
    config : FitConfig
    masks : CVMasks, optional
        Train, validation and test entries. Default: block masks drawn with ``mask_config``
        and ``mask_seed``.
    mask_config : MaskConfig, optional
    mask_seed : int, default=0
        Seed of the default masks, separate from ``config.seed`` so that models with
        different initialisations are scored on the same held-out entries.
    progress : callable, optional
        Called with a :class:`Progress` every ``config.eval_every`` iterations. A return
        value of True stops the fit and raises :class:`FitCancelled`.
    device : {"auto", "cpu", "cuda"} or "cuda:<index>", default="auto"

    Returns
    -------
    FitResult
        With the parameters of the iteration of lowest validation loss (the last one when
        there is no validation set).
    """
    if not isinstance(recording, Recording):
        raise ValueError(f"recording must be a Recording, got {type(recording).__name__}")
    if not isinstance(config, FitConfig):
        raise ValueError(f"config must be a FitConfig, got {type(config).__name__}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable, got {type(progress).__name__}")
    torch_device = resolve_device(device)
    kind = _loss_kind(config, recording)
    if masks is None:
        mask_config = mask_config or MaskConfig()
        masks = make_block_masks(recording.shape, mask_config, mask_seed)
    masks = _check_masks(masks, recording)

    generator = torch.Generator().manual_seed(config.seed)
    target = torch.as_tensor(np.nan_to_num(recording.data), dtype=torch.float32, device=torch_device)
    observed = torch.as_tensor(recording.mask, device=torch_device)
    train = torch.as_tensor(masks.train, device=torch_device)
    validation = torch.as_tensor(masks.validation, device=torch_device)
    test = torch.as_tensor(masks.test, device=torch_device)
    reference = losses.reference_deviance(target, observed, kind)
    condition_index = torch.as_tensor(recording.condition_index, device=torch_device)

    model = _build_model(recording, config, masks, kind, generator).to(torch_device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    n_trials = recording.n_trials
    n_kept = max(1, int(round(n_trials * (1.0 - config.trial_dropout))))
    has_validation = bool(validation.any())
    history = {"iteration": [], "train_loss": [], "validation_loss": [], "elapsed_seconds": []}
    best_state = copy.deepcopy(model.state_dict())
    best_loss, best_iteration = math.inf, 0
    stopped_reason = "max_iterations"
    start = time.perf_counter()
    iteration = 0
    logger.debug("fit start: rank=%d rnn_size=%d device=%s", config.rank, config.rnn_size, torch_device)

    for iteration in range(1, config.iterations + 1):
        kept_trials = torch.randperm(n_trials, generator=generator)[:n_kept].sort().values
        kept_trials = kept_trials.to(torch_device)
        prediction, latents, params = model(kept_trials, condition_index)
        loss = losses.data_loss(prediction, target[kept_trials], train[kept_trials], kind)
        states = latents @ params.column.T
        loss = loss + config.activity_regularization * (states**2).mean()
        loss = loss + config.input_regularization * (params.inputs**2).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {float(loss)} at iteration {iteration}; lower learning_rate "
                f"(now {config.learning_rate}) or tau's step (tau={config.tau}, "
                f"substeps={config.substeps})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        if iteration % config.eval_every and iteration != config.iterations:
            continue
        with torch.no_grad():
            full, _, _ = model(torch.arange(n_trials, device=torch_device), condition_index)
            train_loss = losses.normalised_loss(full, target, train, kind, reference)
            validation_loss = (
                losses.normalised_loss(full, target, validation, kind, reference)
                if has_validation else float("nan")
            )
        elapsed = time.perf_counter() - start
        for key, value in zip(history, (iteration, train_loss, validation_loss, elapsed)):
            history[key].append(value)
        score = validation_loss if has_validation else train_loss
        if score < best_loss:
            best_loss, best_iteration = score, iteration
            best_state = copy.deepcopy(model.state_dict())
        if progress is not None and progress(
            Progress(iteration, config.iterations, train_loss, validation_loss, elapsed)
        ) is True:
            raise FitCancelled(f"fit cancelled at iteration {iteration}")
        if has_validation and iteration - best_iteration >= config.patience:
            stopped_reason = "early_stopping"
            break

    seconds_per_iteration = (time.perf_counter() - start) / max(iteration, 1)
    model.load_state_dict(best_state)
    parts = {"train": train, "validation": validation, "test": test}
    return _collect_result(
        model, recording, config, kind, condition_index, target, parts, reference,
        history, iteration, best_iteration, seconds_per_iteration, stopped_reason,
        mask_config, mask_seed, torch_device,
    )


def _build_model(recording, config, masks, kind, generator) -> LowTensorRankRNN:
    cholesky = trial_factor_cholesky(
        recording.trial_id,
        recording.epoch_index if config.epoch_breaks else None,
        config.gp_length, config.gp_sigma, config.gp_noise,
    )
    input_window = np.ones(recording.n_times, dtype=bool)
    if not config.input_after_go and recording.preparatory.any():
        input_window = recording.preparatory
    elif not config.input_after_go:
        logger.warning(
            "the recording has no preparatory bins (no negative times); condition inputs "
            "act in every bin"
        )
    with np.errstate(all="ignore"):
        training = np.where(masks.train, recording.data, np.nan)
        neuron_mean = np.nan_to_num(np.nanmean(training, axis=(0, 2)), nan=0.0)
        neuron_std = np.nan_to_num(np.nanstd(training, axis=(0, 2)), nan=1.0)
    return LowTensorRankRNN(
        config, recording.n_neurons, len(recording.conditions), input_window, cholesky,
        neuron_mean, neuron_std, kind, generator,
    )


def _collect_result(
    model, recording, config, kind, condition_index, target, parts, reference,
    history, iterations_run, best_iteration, seconds_per_iteration, stopped_reason,
    mask_config, mask_seed, device,
) -> FitResult:
    with torch.no_grad():
        prediction, latents, params = model(
            torch.arange(recording.n_trials, device=device), condition_index
        )
        scores = {
            name: losses.normalised_loss(prediction, target, part, kind, reference)
            for name, part in parts.items()
        }

    def numpy(tensor):
        return tensor.detach().cpu().numpy().astype(np.float64)

    column = numpy(params.column)
    row = numpy(params.row)
    trial_factors = numpy(params.trial_factors)
    basis, _ = np.linalg.qr(column)
    latents = numpy(latents) @ (basis.T @ column).T
    mask_settings = None
    if mask_config is not None:
        mask_settings = {
            "test_fraction": mask_config.test_fraction,
            "validation_fraction": mask_config.validation_fraction,
            "inner": list(mask_config.inner),
            "outer": list(mask_config.outer),
            "seed": mask_seed,
        }
    return FitResult(
        config=config,
        loss_kind=kind,
        column_factors=column,
        row_factors=row,
        trial_factors=trial_factors,
        readout=numpy(params.readout),
        readout_scale=numpy(params.scale),
        readout_offset=numpy(params.offset),
        inputs=numpy(params.inputs),
        initial_state=numpy(params.initial),
        bias=numpy(params.bias),
        subspace_basis=basis,
        eigenvalues=reduced_eigenvalues(column, row, trial_factors),
        latents=latents,
        predictions=numpy(prediction),
        losses=scores,
        history={key: np.asarray(value, dtype=np.float64) for key, value in history.items()},
        iterations_run=iterations_run,
        best_iteration=best_iteration,
        seconds_per_iteration=seconds_per_iteration,
        stopped_reason=stopped_reason,
        recording_meta={
            "conditions": recording.conditions,
            "condition": recording.condition.tolist(),
            "epoch": recording.epoch.tolist(),
            "trial_id": recording.trial_id.tolist(),
            "times": recording.times.tolist(),
            "kind": recording.kind,
            "n_neurons": recording.n_neurons,
        },
        extra={
            "masks": mask_settings,
            "device": str(device),
            "torch_version": torch.__version__,
        },
    )
