"""Fixtures of the server tests: one local Ray runtime per session and a tiny recording."""

from __future__ import annotations

import logging

import pytest

from ltrnn.engine.io import save_npz
from ltrnn.engine.synthetic import simulate_recording


@pytest.fixture(scope="session")
def ray_runtime():
    """A local Ray runtime with 2 CPUs, shared by every server of the session."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> bytes:
    """The .npz bytes of a 30-trial, 12-neuron, 12-bin recording of a rank-2 ltrRNN."""
    recording, _ = simulate_recording(
        rank=2, n_trials=30, n_neurons=12, rnn_size=10, n_conditions=2, n_epochs=2,
        n_times=12, n_preparatory=3, seed=3,
    )
    path = tmp_path_factory.mktemp("dataset") / "tiny.npz"
    save_npz(recording, path)
    return path.read_bytes()
