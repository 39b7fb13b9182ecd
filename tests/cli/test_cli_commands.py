"""``ltrnn`` commands against a real embedded server: output contracts, files and errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

FIT_KEYS = {
    "rank", "rnn_size", "seed", "iterations", "seconds_per_iteration", "train_loss",
    "validation_loss", "test_loss",
}


def one_json_document(text: str):
    """Parse stdout, which must be exactly one JSON document and nothing else."""
    document, end = json.JSONDecoder().raw_decode(text.strip())
    assert end == len(text.strip()), f"stdout has more than one JSON document: {text[end:]!r}"
    return document


def check_fit_object(cell: dict, rank: int, rnn_size: int, iterations: int) -> None:
    assert FIT_KEYS <= set(cell)
    assert (cell["rank"], cell["rnn_size"], cell["seed"]) == (rank, rnn_size, 0)
    assert 0 < cell["iterations"] <= iterations
    assert cell["seconds_per_iteration"] > 0
    for key in ("train_loss", "validation_loss", "test_loss"):
        assert isinstance(cell[key], float) and math.isfinite(cell[key])


@pytest.fixture(scope="module")
def fitted(server, recording_path, tmp_path_factory):
    """Output of ``ltrnn fit --json --out`` against the module's server."""
    from ltrnn.cli.main import main

    out_dir = tmp_path_factory.mktemp("fit")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main([
            "fit", recording_path, "--rank", "2", "--rnn-size", "8", "--iterations", "20",
            "--address", server.address, "--json", "--out", str(out_dir), "--progress", "log",
        ])
    return status, stdout.getvalue(), stderr.getvalue(), out_dir


def test_fit_json_contract(fitted):
    status, out, err, out_dir = fitted
    assert status == 0, err
    document = one_json_document(out)
    check_fit_object(document, rank=2, rnn_size=8, iterations=20)
    assert document["state"] == "SUCCEEDED"
    assert "succeeded: validation loss" in err
    assert (out_dir / "fit.json").is_file()
    assert (out_dir / "trial_factors.png").stat().st_size > 0
    assert (out_dir / "observed_vs_predicted.pdf").stat().st_size > 0
    assert list((out_dir / "models").glob("*.npz"))


def test_sweep_json_contract_embedded(run, recording_path, tmp_path):
    """Without --address the command runs its own server in this process."""
    out_dir = tmp_path / "sweep"
    status, out, err = run(
        "sweep", recording_path, "--ranks", "1-2", "--rnn-sizes", "8", "--iterations", "20",
        "--data-dir", tmp_path / "data", "--ray-num-cpus", "2", "--json", "--out", out_dir,
        "--save-models", "all", "--progress", "none",
    )
    assert status == 0, err
    document = one_json_document(out)
    assert [cell["rank"] for cell in document["cells"]] == [1, 2]
    for cell in document["cells"]:
        check_fit_object(cell, rank=cell["rank"], rnn_size=8, iterations=20)
    assert document["chosen_rank"] in (1, 2)
    assert "one-standard-error" in document["rule"]
    assert "starting an embedded server" in err
    written = json.loads((out_dir / "sweep.json").read_text())
    assert written["chosen_rank"] == document["chosen_rank"]
    for name in ("rank_curve", "trial_factors", "latents", "eigenvalues", "observed_vs_predicted"):
        assert (out_dir / f"{name}.png").stat().st_size > 0
        assert (out_dir / f"{name}.pdf").stat().st_size > 0
    assert len(list((out_dir / "models").glob("*.npz"))) == 2
    assert (tmp_path / "data" / "jobs.sqlite3").is_file()


def test_sweep_prints_table(run, server, recording_path):
    status, out, err = run(
        "sweep", recording_path, "--ranks", "1", "--rnn-sizes", "8", "--iterations", "10",
        "--address", server.address, "--progress", "none",
    )
    assert status == 0, err
    assert "rank     N seed state" in out
    assert "baseline condition mean (PSTH)" in out
    assert "chosen rank: 1" in out


def test_jobs_watch_report(run, server, fitted, recording_path, tmp_path):
    job_id = one_json_document(fitted[1])["job_id"]
    status, out, _ = run("jobs", "--address", server.address, "--json")
    assert status == 0
    listed = {job["job_id"]: job for job in one_json_document(out)}
    assert listed[job_id]["state"] == "SUCCEEDED"

    status, out, _ = run("jobs", "--address", server.address, "--state", "SUCCEEDED")
    assert status == 0
    assert job_id in out

    status, out, _ = run("watch", job_id, "--address", server.address, "--progress", "none")
    assert status == 0
    assert f"job {job_id}: SUCCEEDED" in out

    report_dir = tmp_path / "report"
    status, out, err = run("report", job_id, "--out", report_dir, "--data", recording_path,
                           "--address", server.address)
    assert status == 0, err
    report = json.loads((report_dir / "report.json").read_text())
    assert report["job_id"] == job_id
    assert (report_dir / "rank_curve.png").stat().st_size > 0
    assert (report_dir / "observed_vs_predicted.png").stat().st_size > 0

    model_dir = tmp_path / "model"
    model_id = report["chosen_model_id"]
    status, _, err = run("report", model_id, "--out", model_dir, "--address", server.address)
    assert status == 0, err
    assert json.loads((model_dir / "report.json").read_text())["model_id"] == model_id
    assert (model_dir / "latents.png").stat().st_size > 0


def test_tensor_rank_json_contract(run, server, tmp_path):
    from ltrnn.sdk import Client, Unimplemented

    rng = np.random.default_rng(0)
    tensor = np.einsum("ir,jr,kr->ijk", *(rng.standard_normal((size, 2)) for size in (10, 8, 6)))
    path = tmp_path / "tensor.npy"
    np.save(path, tensor)
    with Client(server.address) as client:
        try:
            client.tensor_rank(tensor, ranks=[1], replicates=2)
        except Unimplemented:
            pytest.skip("the server does not implement AnalysisService.TensorRank yet")
    status, out, err = run("analyze", "tensor-rank", path, "--ranks", "1-3", "--replicates", "2",
                           "--address", server.address, "--json")
    assert status == 0, err
    document = one_json_document(out)
    assert document["ranks"] == [1, 2, 3]
    assert np.asarray(document["errors"]).shape == (3, 2)
    assert len(document["similarity"]) == 3
    assert document["suggested_rank"] == 2
    assert isinstance(document["rule"], str) and document["rule"]


def test_other_analyses(run, server, fitted, tmp_path):
    model_id = one_json_document(fitted[1])["model_id"]
    status, out, err = run("analyze", "subspaces", f"model:{model_id}", f"model:{model_id}",
                           "--address", server.address, "--json")
    assert status == 0, err
    angles = one_json_document(out)["angles"]
    assert len(angles) == 2
    assert max(angles) < 1e-5

    status, out, err = run("analyze", "model", model_id, "--boundary-window", "3",
                           "--address", server.address)
    assert status == 0, err
    assert "epoch2" in out
    assert "change at start" in out

    # Every change W[k] - W[0] is left @ diag(d_k) @ right.T with fixed 8 x 2 factors, so
    # its rank is 2.
    rng = np.random.default_rng(1)
    start = rng.standard_normal((8, 8))
    left, right = rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    steps = [start + left @ np.diag(rng.standard_normal(2)) @ right.T for _ in range(6)]
    path = tmp_path / "weights.npz"
    np.savez(path, weights=np.stack([start, *steps]))
    status, out, err = run("analyze", "learning-ranks", path, "--d-in", "1", "--d-out", "1",
                           "--address", server.address, "--json")
    assert status == 0, err
    document = one_json_document(out)
    assert document["slice_ranks"] == [0, 2, 2, 2, 2, 2, 2]
    assert document["within_bound"] is True


def write_session(path: Path) -> Path:
    """Write a Hennig et al. (2018) style session: two blocks of trials, 5 freeze bins each."""
    blocks = []
    for first, lengths in ((0, (8, 9)), (40, (10, 7, 8))):
        n_bins = sum(lengths)
        freeze = np.zeros(n_bins, dtype=np.uint8)
        thetas = np.zeros(n_bins)
        start = 0
        for trial, length in enumerate(lengths):
            freeze[start:start + 5] = 1
            thetas[start:start + length] = 90.0 * trial
            thetas[start + 5:start + length] += np.linspace(1.0, 20.0, length - 5)
            start += length
        spikes = ((np.arange(n_bins * 3).reshape(n_bins, 3) + first) % 7).astype(np.uint8)
        blocks.append({"isFreezePeriod": freeze, "spikes": spikes, "thetas": thetas})
    array = np.zeros((1, 2), dtype=[(name, object) for name in sorted(blocks[0])])
    for index, block in enumerate(blocks):
        for name, value in block.items():
            array[0, index][name] = value
    scipy.io.savemat(path, {"D": {"datestr": "20000101", "blocks": array}})
    return path


def test_convert_hennig2018(run, tmp_path):
    from ltrnn.engine.io import load_npz

    mat = write_session(tmp_path / "session.mat")
    status, out, err = run("convert", "hennig2018", mat, "--out", tmp_path / "session.npz")
    assert status == 0, err
    recording = load_npz(tmp_path / "session.npz")
    assert recording.shape == (5, 3, 10)
    assert recording.epochs == ["baseline", "perturbation"]
    assert "5 trials x 3 neurons x 10 bins" in out


def test_simulate_task_rnn(run, tmp_path):
    from ltrnn.engine.taskrnn import load_experiment

    status, out, err = run(
        "simulate", "task-rnn", "--out", tmp_path / "experiment.npz", "--n-units", "6",
        "--n-targets", "2", "--n-times", "8", "--n-before-go", "2", "--movement-bins", "3",
        "--baseline-trials", "2", "--curl-trials", "2", "--washout-trials", "2",
        "--pretrain-steps", "2", "--no-progress",
    )
    assert status == 0, err
    experiment = load_experiment(tmp_path / "experiment.npz")
    assert experiment.weights.shape == (6, 6, 6)


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["fit", "missing.npz", "--rank", "1", "--rnn-size", "4"], 1,
         r"DATA 'missing.npz' is neither a file nor a shipped session"),
        (["sweep", "{data}", "--ranks", "0", "--address", "{address}"], 2,
         r"every value must be an integer >= 1, got 0"),
        (["sweep", "{data}", "--rnn-sizes", "0,5", "--address", "{address}"], 2,
         r"every value must be an integer >= 1, got 0"),
        (["fit", "{data}", "--rank", "9", "--rnn-size", "4", "--address", "{address}"], 1,
         r"larger than the RNN size 4"),
        (["fit", "{data}", "--rank", "1", "--rnn-size", "4", "--max-bins", "2",
          "--address", "{address}"], 1, r"max_bins must be greater than the 3 preparatory bins"),
        (["sweep", "{data}", "--ranks", "one"], 2, r"invalid list 'one'"),
        (["sweep", "{data}", "--ranks", "4-1"], 2, r"the end is below the start"),
        (["fit", "{data}", "--rank", "1"], 2, r"the following arguments are required: --rnn-size"),
        (["watch", "0" * 32, "--address", "{address}"], 1, r"job_id '0{32}' not found"),
        (["cancel", "0" * 32, "--address", "{address}"], 1, r"not found"),
        (["report", "0" * 64, "--out", "{tmp}", "--address", "{address}"], 1,
         r"neither a job nor a model on this server"),
        (["jobs", "--address", "127.0.0.1:1", "--timeout", "2"], 1, r"unavailable"),
        (["jobs", "--state", "DONE"], 2, r"invalid choice: 'DONE'"),
        (["analyze", "tensor-rank", "missing.npy"], 1, r"array file not found: missing.npy"),
        (["analyze", "subspaces", "epoch:abc", "model:abc"], 1, r"write epoch:MODEL_ID:EPOCH:DIM"),
        (["convert", "hennig2018", "missing.mat", "--out", "{tmp}/x.npz"], 1, r"missing.mat"),
        (["simulate", "task-rnn", "--out", "{tmp}/x", "--n-units", "0"], 2,
         r"n_units must be an integer >= 1"),
    ],
)
def test_errors_exit_nonzero(run, server, recording_path, tmp_path, arguments, status, message):
    values = {"data": recording_path, "address": server.address, "tmp": str(tmp_path)}
    arguments = [argument.format(**values) for argument in arguments]
    code, out, err = run(*arguments)
    assert code == status
    assert out == ""
    assert "Traceback" not in err
    assert re.search(message, err), err


def test_cancel_finished_job_fails(run, server, fitted):
    job_id = one_json_document(fitted[1])["job_id"]
    status, _, err = run("cancel", job_id, "--address", server.address)
    assert status == 1
    assert "already ended with state SUCCEEDED" in err
