"""Fixtures of the hardening tests: a local Ray runtime per module and a tiny recording.

The helpers of the server tests (``server_helpers``) are imported from tests/server.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from ltrnn.engine.io import save_npz  # noqa: E402
from ltrnn.engine.synthetic import simulate_recording  # noqa: E402


@pytest.fixture(scope="module")
def ray_runtime():
    """A local Ray runtime with 2 CPUs for one test module.

    A runtime that another fixture of this session started is used as it is. One that this
    fixture starts is shut down at the end of the module, so that later test directories
    that start their own runtime with ``ray.init`` do not find one running.
    """
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
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
