"""Validation of sweep requests, the grid of cells, and the engine configs of each cell."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter

from ltrnn.engine.config import FitConfig
from ltrnn.engine.masks import MaskConfig
from ltrnn.v1 import common_pb2, sweep_pb2

from .artifacts import InvalidIdError, check_id
from .errors import exhausted, invalid
from .settings import Settings

GRID_FIELDS = ("rank", "rnn_size", "seed")
HYPERPARAMETER_FIELDS = tuple(
    field.name for field in sweep_pb2.FitHyperparameters.DESCRIPTOR.fields
)
MAX_NAME_CHARACTERS = 200

_config_fields = {field.name for field in dataclasses.fields(FitConfig)}
# FitHyperparameters mirrors FitConfig except the grid fields; a field added to one and not
# the other would be silently ignored, so fail at import instead.
if set(HYPERPARAMETER_FIELDS) | set(GRID_FIELDS) != _config_fields:
    raise ImportError(
        "FitHyperparameters in sweep.proto and ltrnn.engine.config.FitConfig have different "
        f"fields: {sorted(set(HYPERPARAMETER_FIELDS) ^ (_config_fields - set(GRID_FIELDS)))}"
    )


def _check_values(field: str, values, minimum: int, maximum: int | None, limit_name: str = ""):
    values = list(values)
    for value in values:
        if value < minimum:
            raise invalid(f"sweep.{field} must contain integers >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise invalid(
                f"sweep.{field} contains {value}, above the server limit {limit_name}={maximum} "
                f"(LTRNN_{limit_name.upper()}); use smaller values or raise the limit"
            )
    # Counter keeps this linear: a 16 MiB request carries millions of values.
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        raise invalid(f"sweep.{field} contains duplicates {duplicates}; list each value once")
    return sorted(values)


def normalise_sweep(spec: sweep_pb2.SweepSpec, settings: Settings) -> sweep_pb2.SweepSpec:
    """Validate a sweep against the engine's rules and the server's limits, fill defaults.

    Returns
    -------
    SweepSpec
        A copy with sorted grid values and every hyperparameter, mask setting and resource
        set explicitly.

    Raises
    ------
    RequestError
        INVALID_ARGUMENT for a bad field, RESOURCE_EXHAUSTED for too many cells.
    """
    try:
        check_id("sweep.dataset_id", spec.dataset_id)
    except InvalidIdError as error:
        raise invalid(str(error)) from None
    if not spec.ranks:
        raise invalid("sweep.ranks is empty; give at least one rank, e.g. ranks=[1, 2, 3]")
    ranks = _check_values("ranks", spec.ranks, 1, settings.max_rank, "max_rank")
    sizes = _check_values(
        "rnn_sizes", spec.rnn_sizes or [FitConfig.rnn_size], 1, settings.max_rnn_size,
        "max_rnn_size",
    )
    seeds = _check_values("seeds", spec.seeds or [0], 0, None)
    if ranks[-1] > sizes[0]:
        raise invalid(
            f"sweep.ranks contains {ranks[-1]}, larger than the RNN size {sizes[0]} in "
            "sweep.rnn_sizes; every rank must be <= every RNN size"
        )
    n_cells = len(ranks) * len(sizes) * len(seeds)
    if n_cells > settings.max_cells:
        raise exhausted(
            f"the sweep has {len(ranks)} ranks x {len(sizes)} RNN sizes x {len(seeds)} seeds = "
            f"{n_cells} cells, above the server limit max_cells={settings.max_cells} "
            "(LTRNN_MAX_CELLS); split it into smaller sweeps"
        )
    if len(spec.name) > MAX_NAME_CHARACTERS:
        raise invalid(
            f"sweep.name has {len(spec.name)} characters; use at most {MAX_NAME_CHARACTERS}"
        )

    normalised = sweep_pb2.SweepSpec(
        dataset_id=spec.dataset_id, ranks=ranks, rnn_sizes=sizes, seeds=seeds, name=spec.name
    )
    normalised.hyperparameters.CopyFrom(_normalise_hyperparameters(spec.hyperparameters, settings))
    normalised.masks.CopyFrom(_normalise_masks(spec.masks))
    normalised.cell_resources.CopyFrom(_normalise_resources(spec.cell_resources))
    fit_config(normalised, ranks[-1], sizes[0], seeds[-1])
    return normalised


def _normalise_hyperparameters(given, settings: Settings) -> sweep_pb2.FitHyperparameters:
    result = sweep_pb2.FitHyperparameters()
    defaults = FitConfig()
    for name in HYPERPARAMETER_FIELDS:
        value = getattr(given, name) if given.HasField(name) else getattr(defaults, name)
        setattr(result, name, value)
    if result.iterations > settings.max_iterations:
        raise invalid(
            f"sweep.hyperparameters.iterations is {result.iterations}, above the server limit "
            f"max_iterations={settings.max_iterations} (LTRNN_MAX_ITERATIONS); lower it"
        )
    try:
        FitConfig(**{name: getattr(result, name) for name in HYPERPARAMETER_FIELDS})
    except ValueError as error:
        raise invalid(f"sweep.hyperparameters: {error}") from None
    return result


def _normalise_masks(given) -> sweep_pb2.MaskSettings:
    defaults = MaskConfig()
    values = {
        "test_fraction": (
            given.test_fraction if given.HasField("test_fraction") else defaults.test_fraction
        ),
        "validation_fraction": (
            given.validation_fraction
            if given.HasField("validation_fraction") else defaults.validation_fraction
        ),
        "inner": tuple(given.inner) if given.inner else defaults.inner,
        "outer": tuple(given.outer) if given.outer else defaults.outer,
    }
    if given.seed < 0:
        raise invalid(f"sweep.masks.seed must be >= 0, got {given.seed}")
    try:
        MaskConfig(**values)
    except ValueError as error:
        raise invalid(f"sweep.masks: {error}") from None
    return sweep_pb2.MaskSettings(seed=given.seed, **values)


def _normalise_resources(given) -> common_pb2.Resources:
    num_cpus = given.num_cpus if given.HasField("num_cpus") else 1.0
    num_gpus = given.num_gpus if given.HasField("num_gpus") else 0.0
    if not math.isfinite(num_cpus) or num_cpus <= 0:
        raise invalid(
            f"sweep.cell_resources.num_cpus must be a number > 0 (fractions allowed), got {num_cpus}"
        )
    if not math.isfinite(num_gpus) or num_gpus < 0:
        raise invalid(f"sweep.cell_resources.num_gpus must be a number >= 0, got {num_gpus}")
    if num_gpus > 1 and num_gpus != int(num_gpus):
        raise invalid(
            f"sweep.cell_resources.num_gpus must be a whole number when above 1, got {num_gpus}; "
            "Ray shares a GPU only as a fraction below 1"
        )
    return common_pb2.Resources(num_cpus=num_cpus, num_gpus=num_gpus)


def cell_grid(spec: sweep_pb2.SweepSpec) -> list[tuple[int, int, int]]:
    """Return the cells (rank, rnn_size, seed), ordered by rank, then size, then seed."""
    return [
        (rank, size, seed)
        for rank in spec.ranks for size in spec.rnn_sizes for seed in spec.seeds
    ]


def fit_config(spec: sweep_pb2.SweepSpec, rank: int, rnn_size: int, seed: int) -> FitConfig:
    """Return the engine config of one cell of a normalised sweep."""
    values = {name: getattr(spec.hyperparameters, name) for name in HYPERPARAMETER_FIELDS}
    try:
        return FitConfig(rank=rank, rnn_size=rnn_size, seed=seed, **values)
    except ValueError as error:
        raise invalid(f"sweep: {error}") from None


def mask_settings(spec: sweep_pb2.SweepSpec) -> tuple[dict, int]:
    """Return the MaskConfig keyword arguments and the mask seed of a normalised sweep."""
    masks = spec.masks
    values = {
        "test_fraction": masks.test_fraction,
        "validation_fraction": masks.validation_fraction,
        "inner": tuple(masks.inner),
        "outer": tuple(masks.outer),
    }
    return values, int(masks.seed)


def request_digest(spec: sweep_pb2.SweepSpec) -> str:
    """Return a hash of a normalised sweep, to compare requests under one idempotency key."""
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()
