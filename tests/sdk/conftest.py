"""Fixtures of the SDK tests: a tiny recording and one embedded server per test module."""

from __future__ import annotations

import pytest

from ltrnn.engine.io import save_npz
from ltrnn.engine.synthetic import simulate_recording


@pytest.fixture(scope="module")
def recording():
    """A 30-trial, 12-neuron, 12-bin recording of a rank-2 ltrRNN with two conditions."""
    recording, _ = simulate_recording(
        rank=2, n_trials=30, n_neurons=12, rnn_size=10, n_conditions=2, n_epochs=2,
        n_times=12, n_preparatory=3, seed=3,
    )
    return recording


@pytest.fixture(scope="module")
def recording_path(recording, tmp_path_factory):
    return save_npz(recording, tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An embedded server with a local Ray of 2 CPUs and a 20-cell limit."""
    from ltrnn.sdk import embedded_server

    with embedded_server(
        data_dir=tmp_path_factory.mktemp("server"), ray_num_cpus=2, grace_seconds=1.0,
        max_cells=20,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with server.connect(timeout=30.0) as connected:
        yield connected
