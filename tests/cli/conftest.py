"""Fixtures of the command-line tests: a tiny recording file and one embedded server per
test module."""

from __future__ import annotations

import pytest

from ltrnn.engine.io import save_npz
from ltrnn.engine.synthetic import simulate_recording


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory):
    """A 30-trial, 12-neuron, 12-bin recording of a rank-2 ltrRNN, as an .npz file."""
    recording, _ = simulate_recording(
        rank=2, n_trials=30, n_neurons=12, rnn_size=10, n_conditions=2, n_epochs=2,
        n_times=12, n_preparatory=3, seed=3,
    )
    return str(save_npz(recording, tmp_path_factory.mktemp("data") / "tiny.npz"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An embedded server with a local Ray of 2 CPUs, for commands given --address."""
    from ltrnn.sdk import embedded_server

    with embedded_server(data_dir=tmp_path_factory.mktemp("server"), ray_num_cpus=2,
                         grace_seconds=1.0) as running:
        yield running


@pytest.fixture
def run(capsys):
    """Run ``ltrnn ARGS`` in this process; return (exit status, stdout, stderr)."""
    from ltrnn.cli.main import main

    def invoke(*arguments):
        try:
            status = main([str(argument) for argument in arguments])
        except SystemExit as stop:
            status = stop.code
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return invoke
