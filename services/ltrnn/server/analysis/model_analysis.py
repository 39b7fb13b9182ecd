"""ModelAnalysis requests: trial factors by epoch, eigenvalues and latent trajectory summaries."""

from __future__ import annotations

import numpy as np

from ltrnn.engine.result import FitResult
from ltrnn.v1 import analysis_pb2

from ..tensors import to_tensor
from .inputs import integer_in
from .sources import ArtifactReader

DEFAULT_BOUNDARY_WINDOW = 10


def model_analysis_message(
    request: analysis_pb2.ModelAnalysisRequest, reader: ArtifactReader
) -> analysis_pb2.ModelAnalysisResult:
    """Analyse the fitted model ``request.model_id`` and build the reply.

    Raises
    ------
    RequestError
        INVALID_ARGUMENT for a negative boundary_window or an invalid id, NOT_FOUND for an
        unknown model, FAILED_PRECONDITION for a model file that does not load.
    """
    window = request.boundary_window or DEFAULT_BOUNDARY_WINDOW
    window = integer_in("boundary_window", window, 1)
    model = reader.model("model_id", request.model_id)
    message = analysis_pb2.ModelAnalysisResult(
        model_id=request.model_id,
        trial_factors=to_tensor(np.asarray(model.trial_factors, dtype=np.float64)),
        eigenvalues=to_tensor(np.asarray(model.eigenvalues, dtype=np.complex128)),
    )
    labels = model.recording_meta["epoch"]
    message.epochs.extend(epoch_summaries(model.trial_factors, labels, window))
    message.latents.CopyFrom(latent_summary(model))
    return message


def epoch_runs(labels) -> list[tuple[str, int, int]]:
    """Return (label, first trial, number of trials) of each run of equal labels, in order."""
    runs: list[tuple[str, int, int]] = []
    for index, label in enumerate(labels):
        label = str(label)
        if runs and runs[-1][0] == label:
            name, first, count = runs[-1]
            runs[-1] = (name, first, count + 1)
        else:
            runs.append((label, index, 1))
    return runs


def epoch_summaries(trial_factors: np.ndarray, labels, window: int) -> list:
    """Build one EpochSummary per epoch run.

    ``change_at_start`` compares the mean over the first min(window, n) trials of an epoch
    with the mean over the last min(window, n_previous) trials of the previous epoch.
    """
    factors = np.asarray(trial_factors, dtype=np.float64)
    summaries = []
    previous = None
    for label, first, count in epoch_runs(labels):
        trials = factors[first:first + count]
        summary = analysis_pb2.EpochSummary(
            epoch=label, first_trial=first, n_trials=count,
            mean_trial_factors=to_tensor(trials.mean(axis=0)),
        )
        if previous is not None:
            before = previous[-min(window, len(previous)):].mean(axis=0)
            after = trials[:min(window, count)].mean(axis=0)
            summary.change_at_start.CopyFrom(to_tensor(after - before))
        summaries.append(summary)
        previous = trials
    return summaries


def latent_summary(model: FitResult) -> analysis_pb2.LatentSummary:
    """Mean latent trajectory, its length and mean speed per condition, and variance shares."""
    latents = np.asarray(model.latents, dtype=np.float64)
    conditions = [str(label) for label in model.recording_meta["conditions"]]
    labels = np.asarray([str(label) for label in model.recording_meta["condition"]])
    means = np.stack([latents[labels == condition].mean(axis=0) for condition in conditions])

    steps = np.linalg.norm(np.diff(means, axis=1), axis=2)
    lengths = steps.sum(axis=1)
    times = np.asarray(model.recording_meta["times"], dtype=np.float64)
    duration = float(times[-1] - times[0]) if times.size > 1 else 0.0
    # One bin has no duration and no movement: speed 0 rather than 0 / 0.
    speeds = lengths / duration if duration > 0 else np.zeros_like(lengths)

    samples = latents.reshape(-1, latents.shape[2])
    variances = samples.var(axis=0)
    total = variances.sum()
    fractions = variances / total if total > 0 else np.zeros_like(variances)
    return analysis_pb2.LatentSummary(
        conditions=conditions,
        mean_by_condition=to_tensor(means),
        variance_fraction=to_tensor(fractions),
        path_length=to_tensor(lengths),
        mean_speed=to_tensor(speeds),
    )
