"""The SDK's analysis calls against a real embedded server.

A test whose AnalysisService method the server does not serve yet is skipped, naming the
method; every other outcome is checked.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltrnn.sdk import EpochSubspace, InvalidArgument, NotFound, RecordingEpoch, Unimplemented


def served(method: str, call):
    """Run ``call()``; skip the test when the server returns UNIMPLEMENTED for ``method``."""
    try:
        return call()
    except Unimplemented as error:
        pytest.skip(f"the server does not implement AnalysisService.{method} yet ({error})")


@pytest.fixture(scope="module")
def model_id(client, recording_path):
    job = client.sweep(recording_path, ranks=[2], rnn_sizes=[10], iterations=30,
                       learning_rate=1e-2, progress=False)
    return job.result().chosen_model_id


def planted_tensor(rank: int, shape=(12, 9, 8), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((size, rank)) for size in shape]
    return np.einsum("ir,jr,kr->ijk", *factors)


def test_tensor_rank_recovers_planted_rank(client):
    result = served("TensorRank", lambda: client.tensor_rank(
        planted_tensor(2), ranks=[1, 2, 3], replicates=2))
    assert result.ranks.tolist() == [1, 2, 3]
    assert result.errors.shape == (3, 2)
    assert result.similarity.shape == (3,)
    assert result.suggested_rank == 2
    assert result.rule
    assert result.heldout_errors is None
    json.dumps(result.to_dict(), allow_nan=False)


def test_tensor_rank_job(client):
    job = served("SubmitTensorRank", lambda: client.submit_tensor_rank(
        planted_tensor(1), ranks=[1, 2], replicates=2))
    assert job.kind == "tensor_rank"
    result = job.result()
    assert job.state == "SUCCEEDED"
    assert result.suggested_rank == 1


def test_learning_ranks_within_bound(client):
    rng = np.random.default_rng(1)
    start = rng.standard_normal((8, 8))
    # Every change W[k] - W[0] is left @ diag(d_k) @ right.T with fixed 8 x 2 factors, so
    # its rank is 2 = d_in + d_out.
    left, right = rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    steps = [start + left @ np.diag(rng.standard_normal(2)) @ right.T for _ in range(6)]
    weights = np.stack([start, *steps])
    result = served("LearningRanks", lambda: client.learning_ranks(weights, d_in=1, d_out=1))
    assert result.matrix_rank_bound == 2
    assert result.cp_rank_bound == 4
    assert int(result.slice_ranks.max()) == 2
    assert result.within_bound
    assert result.effective_ranks.shape == (7,)
    json.dumps(result.to_dict(), allow_nan=False)


def test_subspace_angles_of_known_bases(client):
    angle = 0.3
    first = np.eye(4)[:, :2]
    axes = np.eye(4)
    second = np.stack([axes[:, 0], np.cos(angle) * axes[:, 1] + np.sin(angle) * axes[:, 2]], axis=1)
    result = served("Subspaces", lambda: client.subspaces(first, second))
    np.testing.assert_allclose(result.angles, [0.0, angle], atol=1e-8)
    np.testing.assert_allclose(result.cosines, np.cos([0.0, angle]), atol=1e-8)
    assert np.isnan(result.variance_captured_a)

    samples = np.zeros((5, 4))
    samples[:, 0] = np.arange(5.0)
    with_samples = served("Subspaces", lambda: client.subspaces(first, second, samples=samples))
    assert with_samples.variance_captured_a == pytest.approx(1.0)


def test_subspaces_of_model(client, model_id, recording_path):
    result = served("Subspaces", lambda: client.subspaces(model_id, model_id))
    np.testing.assert_allclose(result.angles, 0.0, atol=1e-6)
    assert result.description_a

    units = served("Subspaces", lambda: client.subspaces(model_id, model_id, space="units"))
    np.testing.assert_allclose(units.angles, 0.0, atol=1e-6)

    epochs = served("Subspaces", lambda: client.subspaces(
        EpochSubspace(model_id, "epoch1", 2), EpochSubspace(model_id, "epoch2", 2)))
    assert epochs.angles.shape == (2,)

    dataset_id = client.upload(recording_path, progress=False)
    recorded = served("Subspaces", lambda: client.subspaces(
        RecordingEpoch(dataset_id, "epoch1", 2), model_id))
    assert recorded.angles.shape == (2,)
    assert np.all((recorded.angles >= 0) & (recorded.angles <= np.pi / 2 + 1e-9))


def test_model_analysis(client, model_id):
    result = served("ModelAnalysis", lambda: client.model_analysis(model_id, boundary_window=3))
    assert [summary.epoch for summary in result.epochs] == ["epoch1", "epoch2"]
    assert result.trial_factors.shape == (30, 2)
    assert result.epochs[0].change_at_start is None
    assert result.epochs[1].change_at_start.shape == (2,)
    assert result.conditions == ["c0", "c1"]
    assert result.mean_latents_by_condition.shape == (2, 12, 2)
    assert result.latent_path_length.shape == (2,)
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: c.tensor_rank(np.ones((3, 3)), ranks=[1]), InvalidArgument,
         r"tensor must have 3 dimensions, got shape \(3, 3\)"),
        (lambda c: c.tensor_rank(np.ones((3, 3, 3)), ranks=[0]), InvalidArgument,
         r"ranks must contain integers >= 1, got 0"),
        (lambda c: c.tensor_rank(np.ones((3, 3, 3)), ranks=[1], mask=np.ones((2, 2))),
         InvalidArgument, r"mask must have the shape of tensor"),
        (lambda c: c.tensor_rank(np.array([[["a"]]]), ranks=[1]), InvalidArgument,
         r"tensor must be a numeric array"),
        (lambda c: c.learning_ranks(np.ones((2, 3, 3)), d_in=0, d_out=1), InvalidArgument,
         r"d_in must be an integer >= 1, got 0"),
        (lambda c: c.subspaces(np.ones(3), np.ones((3, 1))), InvalidArgument,
         r"a must have 2 dimensions"),
        (lambda c: c.model_analysis(""), InvalidArgument, r"model_id must be a model id"),
        (lambda c: c.tensor_rank(np.ones((3, 3, 3)), ranks=[1], replicates=1), InvalidArgument,
         r"replicates must be an integer >= 2, got 1"),
        (lambda c: c.subspaces(np.eye(3)[:, :1], np.eye(3)[:, :1], space="cells"),
         InvalidArgument, r"space must be one of \['auto', 'units', 'neurons'\]"),
    ],
)
def test_analysis_bad_input_found_by_client(client, call, error, message):
    with pytest.raises(error, match=message):
        call(client)


def test_analysis_unknown_model(client):
    with pytest.raises(NotFound):
        served("ModelAnalysis", lambda: client.model_analysis("0" * 64))
