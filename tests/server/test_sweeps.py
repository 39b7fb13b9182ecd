"""Sweep validation, the cell grid and the rank choice."""

from __future__ import annotations

import math

import grpc
import pytest

from ltrnn.engine.config import FitConfig
from ltrnn.server.errors import RequestError
from ltrnn.server.selection import FitRow, choose_rank
from ltrnn.server.settings import Settings
from ltrnn.server.sweeps import cell_grid, fit_config, mask_settings, normalise_sweep
from ltrnn.v1 import common_pb2, sweep_pb2

DATASET = "a" * 64


def test_defaults_are_filled_and_grid_sorted():
    spec = normalise_sweep(sweep_pb2.SweepSpec(dataset_id=DATASET, ranks=[3, 1]), Settings())
    assert list(spec.ranks) == [1, 3]
    assert list(spec.rnn_sizes) == [FitConfig.rnn_size]
    assert list(spec.seeds) == [0]
    assert spec.hyperparameters.iterations == FitConfig.iterations
    assert spec.hyperparameters.readout_scale == FitConfig.readout_scale
    assert list(spec.masks.inner) == [2, 0, 2]
    assert spec.cell_resources.num_cpus == 1.0
    assert spec.cell_resources.num_gpus == 0.0
    assert cell_grid(spec) == [(1, 50, 0), (3, 50, 0)]
    config = fit_config(spec, 3, 50, 0)
    assert config == FitConfig(rank=3, rnn_size=50, seed=0)
    masks, seed = mask_settings(spec)
    assert masks["outer"] == (5, 0, 5)
    assert seed == 0


def test_given_values_are_kept():
    given = sweep_pb2.SweepSpec(
        dataset_id=DATASET, ranks=[2], rnn_sizes=[20, 10], seeds=[4, 1],
        hyperparameters=sweep_pb2.FitHyperparameters(iterations=7, epoch_breaks=False),
        masks=sweep_pb2.MaskSettings(test_fraction=0.1, seed=9),
        cell_resources=common_pb2.Resources(num_cpus=0.5, num_gpus=0.25),
    )
    spec = normalise_sweep(given, Settings())
    assert cell_grid(spec) == [(2, 10, 1), (2, 10, 4), (2, 20, 1), (2, 20, 4)]
    config = fit_config(spec, 2, 10, 1)
    assert config.iterations == 7
    assert config.epoch_breaks is False
    assert mask_settings(spec)[0]["test_fraction"] == pytest.approx(0.1)
    assert mask_settings(spec)[1] == 9
    assert (spec.cell_resources.num_cpus, spec.cell_resources.num_gpus) == (0.5, 0.25)


@pytest.mark.parametrize(
    "changes, code, match",
    [
        ({"ranks": [0]}, "INVALID_ARGUMENT", "sweep.ranks must contain integers >= 1"),
        ({"seeds": [-1]}, "INVALID_ARGUMENT", "sweep.seeds must contain integers >= 0"),
        ({"rnn_sizes": [5, 5]}, "INVALID_ARGUMENT", "duplicates \\[5\\]"),
        ({"ranks": [1, 2, 3], "seeds": [0, 1]}, "RESOURCE_EXHAUSTED", "6 cells, above the server limit max_cells=5"),
        ({"name": "n" * 201}, "INVALID_ARGUMENT", "at most 200"),
        ({"dataset_id": ""}, "INVALID_ARGUMENT", "sweep.dataset_id is missing"),
    ],
)
def test_invalid_sweeps_raise(changes, code, match):
    spec = sweep_pb2.SweepSpec(dataset_id=DATASET, ranks=[1])
    for name, value in changes.items():
        if isinstance(value, list):
            getattr(spec, name)[:] = value
        else:
            setattr(spec, name, value)
    with pytest.raises(RequestError, match=match) as raised:
        normalise_sweep(spec, Settings(max_cells=5))
    assert raised.value.code == getattr(grpc.StatusCode, code)


def rows(means, seeds=3, spread=0.01, size=10, test_offset=0.1, validation=True):
    result = []
    for rank, mean in means.items():
        for seed in range(seeds):
            value = mean + spread * (seed - (seeds - 1) / 2)
            result.append(FitRow(
                rank=rank, rnn_size=size, seed=seed, train=value / 2,
                validation=value if validation else math.nan, test=value + test_offset,
                model_id=f"r{rank}n{size}s{seed}",
            ))
    return result


def test_rank_choice_takes_smallest_within_one_standard_error():
    choice = choose_rank(rows({1: 1.0, 2: 0.5, 3: 0.305, 4: 0.30, 5: 0.31}))
    assert choice.rank == 3
    assert [row.rank for row in choice.ranks] == [1, 2, 3, 4, 5]
    assert choice.ranks[3].score_standard_error == pytest.approx(0.01 / math.sqrt(3))
    assert "one-standard-error rule with a 5% plateau tolerance on the mean validation loss" in choice.rule
    assert "at rank 4" in choice.rule
    assert choice.model_id == "r3n10s0"


def test_rank_choice_single_seed_plateau():
    choice = choose_rank(rows({1: 1.0, 2: 0.5, 3: 0.31, 4: 0.30, 5: 0.295}, seeds=1))
    assert choice.rank == 3
    assert "5% plateau tolerance" in choice.rule
    assert "threshold is 0.33" in choice.rule


def test_rank_choice_single_seed_takes_clear_gain():
    choice = choose_rank(rows({1: 1.0, 2: 0.5, 3: 0.2, 4: 0.19}, seeds=1))
    assert choice.rank == 3
    choice = choose_rank(rows({1: 1.0, 2: 0.5, 3: 0.3, 4: 0.2}, seeds=1))
    assert choice.rank == 4


def test_rank_choice_uses_best_size_per_rank():
    small = rows({1: 1.0, 2: 0.9}, size=10)
    large = rows({1: 0.95, 2: 0.4}, size=50)
    choice = choose_rank(small + large)
    assert choice.rank == 2
    assert [(row.rank, row.rnn_size) for row in choice.ranks] == [(1, 50), (2, 50)]


def test_rank_choice_without_validation_uses_test_loss():
    choice = choose_rank(rows({1: 1.0, 2: 0.2}, validation=False))
    assert choice.rank == 2
    assert "test loss stood in" in choice.rule


def test_rank_choice_needs_a_finite_score():
    assert choose_rank([]) is None
    assert choose_rank(rows({1: math.nan}, validation=False)) is None
