"""Subspaces requests: bases from the request, fitted models and recordings, and their angles.

A model source (``model_id`` or ``epoch``) exists in two spaces. In unit space it is
(N, d), N the model's RNN size. In neuron space it is (M, d), M the recording's number of
neurons. With MODEL_SPACE_AUTO the space follows the other side. Against another model
source it is the space that side requests, or neuron space. Against a basis or recording
it is neuron space when that side has M rows (also when M = N) and unit space when it has
N rows. Each side's description in the reply names the space used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ltrnn.engine.analysis import principal_subspace, variance_captured
from ltrnn.engine.analysis.subspaces import check_basis
from ltrnn.engine.result import FitResult
from ltrnn.v1 import analysis_pb2

from ..errors import invalid
from ..tensors import to_tensor
from .inputs import check_finite, check_norm, decode_tensor, integer_in
from .limits import AnalysisLimits
from .sources import ArtifactReader

UNITS = analysis_pb2.MODEL_SPACE_UNITS
NEURONS = analysis_pb2.MODEL_SPACE_NEURONS
AUTO = analysis_pb2.MODEL_SPACE_AUTO
SPACE_NAMES = {UNITS: "unit space", NEURONS: "neuron space"}


@dataclass
class _Side:
    """One side of the comparison before its space is chosen."""

    field: str
    source: analysis_pb2.SubspaceSource
    basis: np.ndarray | None = None
    description: str = ""
    model: FitResult | None = None
    model_id: str = ""
    trials: np.ndarray | None = None

    @property
    def is_model(self) -> bool:
        return self.model is not None

    @property
    def dimensions(self) -> dict[int, int]:
        """Ambient dimension of each space a model side can be expressed in."""
        return {
            UNITS: self.model.column_factors.shape[0],
            NEURONS: self.model.readout.shape[0],
        }


def subspaces_message(
    request: analysis_pb2.SubspacesRequest, limits: AnalysisLimits, reader: ArtifactReader
) -> analysis_pb2.SubspacesResult:
    """Resolve both subspaces, compare them and build the reply.

    Raises
    ------
    RequestError
        INVALID_ARGUMENT for invalid sources or samples, NOT_FOUND for unknown model or
        dataset ids, RESOURCE_EXHAUSTED for tensors above the byte limit.
    """
    sides = [
        _open_side(name, request, limits, reader) for name in ("a", "b")
    ]
    for side, other in ((sides[0], sides[1]), (sides[1], sides[0])):
        if side.is_model:
            space = _choose_space(side, other)
            side.basis, side.description = _model_basis(side, space)
    first, second = sides
    if first.basis.shape[0] != second.basis.shape[0]:
        raise invalid(
            f"a and b must have the same ambient dimension, got {first.basis.shape[0]} rows "
            f"({first.description}) and {second.basis.shape[0]} rows ({second.description})"
        )

    # scipy orthonormalises both bases; sorting gives increasing angles.
    angles = np.sort(scipy.linalg.subspace_angles(first.basis, second.basis))
    message = analysis_pb2.SubspacesResult(
        angles=to_tensor(angles),
        cosines=to_tensor(np.cos(angles)),
        variance_captured_a=np.nan,
        variance_captured_b=np.nan,
        description_a=first.description,
        description_b=second.description,
    )
    samples = _samples(request, limits, first.basis.shape[0])
    if samples is not None:
        message.variance_captured_a = variance_captured(samples, first.basis)
        message.variance_captured_b = variance_captured(samples, second.basis)
    return message


def _open_side(name: str, request, limits: AnalysisLimits, reader: ArtifactReader) -> _Side:
    if not request.HasField(name):
        raise invalid(f"{name} is missing; set one of {name}.basis, {name}.model_id, "
                      f"{name}.epoch or {name}.recording_epoch")
    source = getattr(request, name)
    kind = source.WhichOneof("source")
    side = _Side(field=name, source=source)
    if kind is None:
        raise invalid(f"{name} has no source; set one of {name}.basis, {name}.model_id, "
                      f"{name}.epoch or {name}.recording_epoch")
    if kind == "basis":
        side.basis = _request_basis(source, f"{name}.basis", limits)
        side.description = f"basis {list(side.basis.shape)} from the request"
    elif kind == "model_id":
        side.model_id = source.model_id
        side.model = reader.model(f"{name}.model_id", source.model_id)
    elif kind == "epoch":
        side.model_id = source.epoch.model_id
        side.model = reader.model(f"{name}.epoch.model_id", source.epoch.model_id)
        side.trials = _epoch_trials(side.model, source.epoch, f"{name}.epoch")
    else:
        side.basis, side.description = _recording_epoch_basis(
            source.recording_epoch, f"{name}.recording_epoch", reader
        )
    if kind in ("basis", "recording_epoch") and source.model_space != AUTO:
        space = _space_name(source.model_space)
        raise invalid(
            f"{name}.model_space is {space} but {name} is a {kind}; model_space applies to "
            "model_id and epoch sources only, leave it unset"
        )
    return side


def _request_basis(source, field: str, limits: AnalysisLimits) -> np.ndarray:
    basis = decode_tensor(source, "basis", field, max_bytes=limits.max_tensor_bytes, ndim=2)
    check_finite(field, basis)
    check_norm(field, basis)
    try:
        return check_basis(field, basis)
    except ValueError as error:
        raise invalid(str(error)) from None


def _choose_space(side: _Side, other: _Side) -> int:
    """Return the space of a model side: the requested one or the AUTO rule's choice."""
    requested = side.source.model_space
    dimensions = side.dimensions
    field = f"{side.field}.model_space"
    if requested not in (AUTO, UNITS, NEURONS):
        raise invalid(
            f"{field} must be MODEL_SPACE_AUTO, MODEL_SPACE_UNITS or MODEL_SPACE_NEURONS, got "
            f"{requested}"
        )
    if requested != AUTO:
        return requested
    if other.is_model:
        # Follow a space the other model side requests, so that both sides match.
        if other.source.model_space in (UNITS, NEURONS):
            return other.source.model_space
        return NEURONS
    rows = other.basis.shape[0]
    if rows == dimensions[NEURONS]:
        return NEURONS
    if rows == dimensions[UNITS]:
        return UNITS
    raise invalid(
        f"{side.field} is a model with {dimensions[UNITS]} RNN units and "
        f"{dimensions[NEURONS]} neurons, but {other.field} has {rows} rows "
        f"({other.description}); give {other.field} with one of those numbers of rows"
    )


def _space_name(value: int) -> str:
    try:
        return analysis_pb2.ModelSpace.Name(value)
    except ValueError:
        return str(value)


def _model_basis(side: _Side, space: int) -> tuple[np.ndarray, str]:
    """Return (basis, description) of a model side in ``space``."""
    model, short_id = side.model, side.model_id[:12]
    source = side.source
    if source.WhichOneof("source") == "model_id":
        if space == UNITS:
            basis = model.subspace_basis
            origin = "subspace_basis, an orthonormal basis of span{a_r}"
        else:
            basis = model.neural_subspace()
            origin = "neural_subspace(), span{a_r} mapped through the readout"
        return basis, f"model {short_id} in {SPACE_NAMES[space]}: {origin} {list(basis.shape)}"

    epoch, field, trials = source.epoch, f"{side.field}.epoch", side.trials
    n_coordinates = model.latents.shape[2] if space == UNITS else model.readout.shape[0]
    dimension = integer_in(f"{field}.dimension", epoch.dimension, 1, n_coordinates)
    if space == UNITS:
        # Unit activity is subspace_basis @ latents, so its principal components are the
        # basis times those of the latents.
        samples = model.latents[trials].reshape(-1, model.latents.shape[2])
        components = _principal_components(samples, dimension, field)
        basis = model.subspace_basis @ components
        activity = "unit activity"
    else:
        samples = model.predictions[trials].transpose(0, 2, 1).reshape(-1, model.readout.shape[0])
        basis = _principal_components(samples, dimension, field)
        activity = "predicted neuron activity"
    description = (
        f"epoch {epoch.epoch!r} of model {short_id} in {SPACE_NAMES[space]}: top {dimension} "
        f"principal components of its {activity} over {len(trials)} trials {list(basis.shape)}"
    )
    return basis, description


def _epoch_trials(model: FitResult, epoch, field: str) -> np.ndarray:
    """Return the trial indices of an EpochSubspace after checking its epoch and dimension."""
    labels = np.asarray(model.recording_meta["epoch"])
    known = list(dict.fromkeys(labels.tolist()))
    if epoch.epoch not in known:
        raise invalid(f"{field}.epoch {epoch.epoch!r} is not an epoch of the model; its epochs "
                      f"are {known}")
    integer_in(f"{field}.dimension", epoch.dimension, 1)
    return np.flatnonzero(labels == epoch.epoch)


def _recording_epoch_basis(source, field: str, reader: ArtifactReader):
    recording = reader.recording(f"{field}.dataset_id", source.dataset_id)
    if source.epoch not in recording.epochs:
        raise invalid(f"{field}.epoch {source.epoch!r} is not an epoch of the dataset; its "
                      f"epochs are {recording.epochs}")
    dimension = integer_in(f"{field}.dimension", source.dimension, 1, recording.n_neurons)
    trials = np.flatnonzero(recording.epoch == source.epoch)
    data = recording.data[trials].transpose(0, 2, 1)
    observed = recording.mask[trials].transpose(0, 2, 1).all(axis=2)
    samples = data[observed]
    if samples.shape[0] < 2:
        raise invalid(
            f"{field}: epoch {source.epoch!r} has {samples.shape[0]} (trial, time bin) samples "
            "with every neuron observed; its principal subspace needs at least 2"
        )
    basis = _principal_components(samples, dimension, field)
    description = (
        f"epoch {source.epoch!r} of dataset {source.dataset_id[:12]} in neuron space: top "
        f"{dimension} principal components of the recorded activity over "
        f"{samples.shape[0]} samples of {len(trials)} trials {list(basis.shape)}"
    )
    return basis, description


def _principal_components(samples: np.ndarray, dimension: int, field: str) -> np.ndarray:
    try:
        return principal_subspace(samples, dimension)
    except ValueError as error:
        # The engine calls the count "dim"; the request calls it dimension.
        raise invalid(re.sub(r"\bdim\b", "dimension", f"{field}: {error}")) from None


def _samples(request, limits: AnalysisLimits, n_dimensions: int) -> np.ndarray | None:
    samples = decode_tensor(
        request, "samples", "samples", max_bytes=limits.max_tensor_bytes, ndim=2,
        required=False,
    )
    if samples is None:
        return None
    if samples.shape[1] != n_dimensions:
        raise invalid(
            f"samples must have one column per ambient dimension ({n_dimensions}), got shape "
            f"{list(samples.shape)}"
        )
    if samples.shape[0] < 2:
        raise invalid(f"samples must have at least 2 rows to have a variance, got "
                      f"{samples.shape[0]}")
    check_finite("samples", samples)
    check_norm("samples", samples)
    if not np.any(samples - samples.mean(axis=0)):
        raise invalid("samples has zero variance: every row is the same vector")
    return samples
