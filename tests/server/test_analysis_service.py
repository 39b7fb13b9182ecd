"""AnalysisService end to end: a real gRPC server on loopback with the fit service beside it.

The fit service (and so a local Ray runtime) is there for UploadDataset, WatchJob, GetJob
and CancelJob, which serve tensor rank jobs too. Models are fitted here with the engine and
stored the way the fit service stores them.
"""

from __future__ import annotations

import logging
import re
import time

import grpc
import numpy as np
import pytest
import scipy.linalg
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltrnn.engine.analysis import (
    epoch_subspace_angles,
    principal_subspace,
    tensor_rank,
    variance_captured,
)
from ltrnn.engine.config import FitConfig
from ltrnn.engine.fitting import fit
from ltrnn.engine.io import load_npz
from ltrnn.server.analysis.jobs import TensorRankJobs
from ltrnn.server.analysis.limits import AnalysisLimits
from ltrnn.server.analysis.rejections import RejectionLog
from ltrnn.server.analysis.tensor_rank import parse_tensor_rank
from ltrnn.server.app import create_server
from ltrnn.server.artifacts import ArtifactStore
from ltrnn.server.errors import RequestError
from ltrnn.server.settings import MIB, Settings
from ltrnn.server.store import JobStore
from ltrnn.server.tensors import from_tensor, to_tensor
from ltrnn.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, fit_pb2

from server_helpers import fit_stub, job_ended, upload_requests, wait_for, watch_until

pytestmark = pytest.mark.timeout(180)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
MISSING_MODEL = "0" * 64


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(ray_runtime, tmp_path_factory):
    settings = Settings(
        port=0, metrics_port=0, data_dir=str(tmp_path_factory.mktemp("data")),
        grace_seconds=0, max_message_bytes=4 * MIB, max_rank=8, max_rnn_size=64,
    )
    server = create_server(settings)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(
        server.address, options=[("grpc.max_send_message_length", 16 * MIB)]
    ) as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(channel):
    return analysis_pb2_grpc.AnalysisServiceStub(channel)


@pytest.fixture(scope="module")
def fit_service(server):
    return fit_stub(server)


@pytest.fixture(scope="module")
def dataset_id(fit_service, tiny_dataset):
    return fit_service.UploadDataset(upload_requests(tiny_dataset)).dataset_id


@pytest.fixture(scope="module")
def recording(tiny_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("recording") / "tiny.npz"
    path.write_bytes(tiny_dataset)
    return load_npz(path)


@pytest.fixture(scope="module")
def model(server, recording, tmp_path_factory):
    """A rank-2, N=10 model of the tiny recording, stored as the fit service stores models."""
    result = fit(
        recording, FitConfig(rank=2, rnn_size=10, iterations=30, seed=0, learning_rate=1e-2),
        device="cpu",
    )
    path = result.save(tmp_path_factory.mktemp("model") / "model.npz")
    model_id = ArtifactStore(server.settings.data_dir).add_model(
        path.read_bytes(), {"job_id": "", "cell_index": 0, "created": time.time()}
    )
    return model_id, result


def planted_tensor(rank=3, shape=(12, 10, 8), noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((size, rank)) for size in shape]
    clean = np.einsum("ir,jr,kr->ijk", *factors)
    extra = rng.standard_normal(shape)
    return clean + noise * np.linalg.norm(clean) / np.linalg.norm(extra) * extra


def rank_request(tensor, ranks=(1, 2, 3, 4, 5), replicates=3, **fields):
    return analysis_pb2.TensorRankRequest(
        tensor=to_tensor(tensor), ranks=list(ranks), replicates=replicates, **fields
    )


def array(message, field):
    return from_tensor(getattr(message, field))


def basis_source(basis, **fields):
    return analysis_pb2.SubspaceSource(basis=to_tensor(np.asarray(basis, dtype=np.float64)),
                                       **fields)


def assert_serves(stub):
    """A small valid Subspaces call still succeeds."""
    request = analysis_pb2.SubspacesRequest(a=basis_source(np.eye(3)[:, :1]),
                                            b=basis_source(np.eye(3)[:, :1]))
    reply = stub.Subspaces(request, timeout=10)
    assert array(reply, "angles").tolist() == [0.0]


# -- TensorRank ----------------------------------------------------------------------------


def test_tensor_rank_recovers_planted_rank(stub):
    tensor = planted_tensor()
    reply = stub.TensorRank(rank_request(tensor), timeout=60)
    assert list(reply.ranks) == [1, 2, 3, 4, 5]
    assert reply.suggested_rank == 3
    assert array(reply, "errors").shape == (5, 3)
    similarity = array(reply, "similarity")
    assert similarity.shape == (5,)
    assert similarity[2] > 0.99
    assert not reply.HasField("heldout_errors")
    assert "smallest rank" in reply.rule
    assert "fit by rank {1: " in reply.rule

    engine = tensor_rank(tensor, ranks=[1, 2, 3, 4, 5], replicates=3, device="cpu")
    np.testing.assert_allclose(array(reply, "errors"), engine.errors)


def test_tensor_rank_held_out(stub):
    tensor = planted_tensor(seed=1)
    reply = stub.TensorRank(rank_request(tensor, heldout_fraction=0.2, seed=4), timeout=60)
    heldout = array(reply, "heldout_errors")
    assert heldout.shape == (5, 3)
    assert np.all(np.isfinite(heldout))
    assert reply.suggested_rank == 3
    assert "held-out" in reply.rule


def test_tensor_rank_nan_is_missing_without_mask(stub):
    tensor = planted_tensor(seed=2)
    with_gaps = tensor.copy()
    with_gaps[0, 0, :3] = np.nan
    mask = ~np.isnan(with_gaps)
    by_nan = stub.TensorRank(rank_request(with_gaps, ranks=[2, 3], replicates=2), timeout=60)
    by_mask = stub.TensorRank(
        rank_request(np.where(mask, with_gaps, 0.0), ranks=[2, 3], replicates=2,
                     mask=to_tensor(mask)),
        timeout=60,
    )
    assert by_nan.suggested_rank == 3
    np.testing.assert_allclose(array(by_nan, "errors"), array(by_mask, "errors"))


def test_tensor_rank_job_matches_direct_call(stub, fit_service):
    request = rank_request(planted_tensor(seed=5), ranks=[1, 2, 3, 4], replicates=2)
    direct = stub.TensorRank(request, timeout=60)

    job = stub.SubmitTensorRank(
        analysis_pb2.SubmitTensorRankRequest(request=request, idempotency_key="rank-job-1"),
        timeout=10,
    )
    assert job.kind == common_pb2.JOB_KIND_TENSOR_RANK
    assert job.cell_counts.total == 8
    assert [(cell.rank, cell.seed) for cell in job.cells] == [
        (rank, replicate) for rank in (1, 2, 3, 4) for replicate in (0, 1)
    ]
    events = watch_until(fit_service, job.job_id, job_ended, timeout=120)
    assert events[-1].job_state.state == common_pb2.JOB_STATE_SUCCEEDED
    finished = [event.cell_finished for event in events if event.HasField("cell_finished")]
    assert [cell.cell_index for cell in finished] == list(range(8))
    assert all(cell.losses.train >= 0 for cell in finished)

    stored = fit_service.GetJob(fit_pb2.GetJobRequest(job_id=job.job_id), timeout=10)
    assert stored.state == common_pb2.JOB_STATE_SUCCEEDED
    assert stored.cell_counts.succeeded == 8
    result = stub.GetTensorRankResult(
        analysis_pb2.GetTensorRankResultRequest(job_id=job.job_id), timeout=10
    )
    assert result == direct
    assert result.suggested_rank == 3

    again = stub.SubmitTensorRank(
        analysis_pb2.SubmitTensorRankRequest(request=request, idempotency_key="rank-job-1"),
        timeout=10,
    )
    assert again.job_id == job.job_id
    other = rank_request(planted_tensor(seed=6), ranks=[1, 2])
    with pytest.raises(grpc.RpcError) as raised:
        stub.SubmitTensorRank(
            analysis_pb2.SubmitTensorRankRequest(request=other, idempotency_key="rank-job-1"),
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "idempotency_key 'rank-job-1'" in raised.value.details()


def test_cancelled_job_has_no_result(stub, fit_service):
    request = rank_request(planted_tensor(shape=(30, 30, 30), seed=7), ranks=[1, 2, 3, 4, 5, 6])
    job = stub.SubmitTensorRank(analysis_pb2.SubmitTensorRankRequest(request=request), timeout=10)
    cancelled = fit_service.CancelJob(fit_pb2.CancelJobRequest(job_id=job.job_id), timeout=10)
    assert cancelled.state == common_pb2.JOB_STATE_CANCELLED
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetTensorRankResult(
            analysis_pb2.GetTensorRankResultRequest(job_id=job.job_id), timeout=10
        )
    assert raised.value.code() == PRECONDITION
    assert "is CANCELLED" in raised.value.details()

    # The worker thread moves on: a later job still runs to the end.
    small = rank_request(planted_tensor(rank=1, seed=8), ranks=[1, 2], replicates=2)
    later = stub.SubmitTensorRank(analysis_pb2.SubmitTensorRankRequest(request=small), timeout=10)
    events = watch_until(fit_service, later.job_id, job_ended, timeout=120)
    assert events[-1].job_state.state == common_pb2.JOB_STATE_SUCCEEDED


def test_sweep_job_has_no_tensor_rank_result(stub, server):
    job, _ = server._store.create_job(
        kind=common_pb2.JOB_KIND_SWEEP, spec=b"", cells=[], request_digest="none"
    )
    server._store.fail_job(job.job_id, "made by the test")
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetTensorRankResult(
            analysis_pb2.GetTensorRankResultRequest(job_id=job.job_id), timeout=10
        )
    assert raised.value.code() == PRECONDITION
    assert "is not a tensor rank job" in raised.value.details()


def test_large_direct_request_is_sent_to_jobs(stub):
    tensor = np.random.default_rng(0).standard_normal((60, 60, 60))
    # 216000 entries x (1 + ... + 8) x 20 replicates = 1.6e8 entry-rank fits.
    request = rank_request(tensor, ranks=range(1, 9), replicates=20)
    with pytest.raises(grpc.RpcError) as raised:
        stub.TensorRank(request, timeout=10)
    assert raised.value.code() == PRECONDITION
    assert "submit it with SubmitTensorRank" in raised.value.details()
    assert "entry-rank fits" in raised.value.details()
    assert_serves(stub)


def test_direct_call_stops_at_deadline(stub, caplog):
    tensor = np.random.default_rng(1).standard_normal((40, 40, 40))
    request = rank_request(tensor, ranks=range(1, 9), replicates=4)
    with caplog.at_level(logging.INFO, logger="ltrnn.server.analysis"):
        with pytest.raises(grpc.RpcError) as raised:
            stub.TensorRank(request, timeout=0.5)
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server logs this only when it stopped the fits early, because a finished
        # sweep returns its result.
        wait_for(lambda: "TensorRank rejected with DEADLINE_EXCEEDED" in caplog.text, 60)
    assert_serves(stub)


def test_tensor_over_message_limit(stub):
    tensor = np.zeros((82, 82, 82))  # 4.4 MB of float64, above the 4 MiB message limit
    with pytest.raises(grpc.RpcError) as raised:
        stub.TensorRank(rank_request(tensor, ranks=[1]), timeout=10)
    assert raised.value.code() == EXHAUSTED
    assert_serves(stub)


def test_job_work_limit():
    limits = AnalysisLimits(max_tensor_bytes=MIB, max_rank=8, max_size=64, job_work=1e5)
    request = rank_request(planted_tensor(), ranks=[1, 2, 3], replicates=2)
    with pytest.raises(RequestError, match=r"needs 1\.15e\+04") as raised:
        parse_tensor_rank(request, AnalysisLimits(max_tensor_bytes=MIB, max_rank=8,
                                                  max_size=64, job_work=1e4))
    assert raised.value.code == EXHAUSTED
    assert parse_tensor_rank(request, limits).work == 960 * 6 * 2


# -- LearningRanks ---------------------------------------------------------------------------


def train_linear_rnn(n_units=10, d_in=1, d_out=2, steps=25, n_times=8, batch=12, seed=0):
    """Weights of h_{t+1} = W h_t + B u_t, y_t = C h_t trained by gradient descent from W = 0.

    B and C stay fixed; the targets come from a teacher with random weights. Returns the
    weights before and after every step, shape (steps + 1, N, N), and the first and last loss.
    """
    generator = torch.Generator().manual_seed(seed)

    def random(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    input_weights = random(n_units, d_in)
    readout = random(d_out, n_units) / np.sqrt(n_units)
    inputs = random(batch, n_times, d_in)
    teacher = 0.3 * random(n_units, n_units) / np.sqrt(n_units)

    def outputs(recurrent):
        state = torch.zeros(batch, n_units, dtype=torch.float64)
        result = []
        for step in range(n_times):
            state = state @ recurrent.T + inputs[:, step] @ input_weights.T
            result.append(state @ readout.T)
        return torch.stack(result, dim=1)

    targets = outputs(teacher)
    recurrent = torch.zeros(n_units, n_units, dtype=torch.float64, requires_grad=True)
    weights, losses = [recurrent.detach().clone()], []
    for _ in range(steps):
        loss = ((outputs(recurrent) - targets) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            recurrent -= 0.05 * recurrent.grad
            recurrent.grad.zero_()
        weights.append(recurrent.detach().clone())
        losses.append(loss.item())
    return torch.stack(weights).numpy(), losses


def learning_request(weights, d_in, d_out, **fields):
    return analysis_pb2.LearningRanksRequest(
        weights=to_tensor(weights), d_in=d_in, d_out=d_out, **fields
    )


def test_learning_ranks_of_linear_rnn_within_bound(stub):
    weights, losses = train_linear_rnn()
    assert losses[-1] < 0.9 * losses[0]
    reply = stub.LearningRanks(learning_request(weights, 1, 2), timeout=60)
    slice_ranks = array(reply, "slice_ranks")
    assert slice_ranks.shape == (26,)
    assert slice_ranks[0] == 0
    assert slice_ranks.max() <= 3
    # The bound is reached, so a loose rank threshold would not pass unnoticed.
    assert slice_ranks[-1] == 3
    assert reply.matrix_rank_bound == 3
    assert reply.cp_rank_bound == 9
    assert list(reply.multilinear_rank[1:]) == [3, 3]
    assert reply.within_bound
    assert 1 <= reply.cp_rank_estimate <= 9
    assert "ranks 1-8" in reply.cp_rank_rule
    effective = array(reply, "effective_ranks")
    assert effective[0] == 0
    assert np.all((effective[1:] >= 1) & (effective[1:] <= 3 + 1e-9))


def test_learning_ranks_beyond_bound(stub):
    rng = np.random.default_rng(2)
    weights = rng.standard_normal((4, 6, 6))
    reference = np.zeros((6, 6))
    reply = stub.LearningRanks(
        learning_request(weights, 1, 1, reference=to_tensor(reference), tolerance=1e-3),
        timeout=60,
    )
    np.testing.assert_array_equal(array(reply, "slice_ranks"), [6, 6, 6, 6])
    assert not reply.within_bound


def test_learning_ranks_skips_large_cp_estimate(stub, server):
    servicer = server.analysis_servicer
    original = servicer._limits
    servicer._limits = AnalysisLimits.from_settings(server.settings, direct_work=10.0)
    try:
        weights, _ = train_linear_rnn(steps=4)
        reply = stub.LearningRanks(learning_request(weights, 1, 2), timeout=60)
    finally:
        servicer._limits = original
    assert reply.cp_rank_estimate == 0
    assert reply.cp_rank_rule.startswith("not estimated")
    assert "SubmitTensorRank" in reply.cp_rank_rule
    assert reply.within_bound


# -- Subspaces -------------------------------------------------------------------------------


def subspaces(stub, a, b, samples=None):
    request = analysis_pb2.SubspacesRequest(a=a, b=b)
    if samples is not None:
        request.samples.CopyFrom(to_tensor(samples))
    return stub.Subspaces(request, timeout=30)


def test_identical_bases_zero_angles(stub):
    basis = np.random.default_rng(0).standard_normal((7, 3))
    mixed = basis @ np.random.default_rng(1).standard_normal((3, 3))
    reply = subspaces(stub, basis_source(basis), basis_source(mixed))
    np.testing.assert_allclose(array(reply, "angles"), 0.0, atol=1e-6)
    np.testing.assert_allclose(array(reply, "cosines"), 1.0)
    assert np.isnan(reply.variance_captured_a)
    assert reply.description_a == "basis [7, 3] from the request"


def test_orthogonal_bases_ninety_degrees(stub):
    reply = subspaces(stub, basis_source(np.eye(5)[:, :2]), basis_source(np.eye(5)[:, 2:5]))
    np.testing.assert_allclose(np.degrees(array(reply, "angles")), [90.0, 90.0])
    np.testing.assert_allclose(array(reply, "cosines"), 0.0, atol=1e-12)


@pytest.mark.parametrize("shape_a, shape_b", [((9, 3), (9, 3)), ((9, 2), (9, 4)), ((6, 5), (6, 1))])
def test_angles_agree_with_scipy(stub, shape_a, shape_b):
    rng = np.random.default_rng(sum(shape_a) + sum(shape_b))
    first, second = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    samples = rng.standard_normal((40, shape_a[0]))
    reply = subspaces(stub, basis_source(first), basis_source(second), samples)
    expected = np.sort(scipy.linalg.subspace_angles(first, second))
    np.testing.assert_allclose(array(reply, "angles"), expected, atol=1e-12)
    assert np.all(np.diff(array(reply, "angles")) >= 0)
    assert reply.variance_captured_a == pytest.approx(variance_captured(samples, first))
    assert reply.variance_captured_b == pytest.approx(variance_captured(samples, second))


def test_model_in_unit_and_neuron_space(stub, model):
    model_id, result = model
    units = subspaces(stub, analysis_pb2.SubspaceSource(model_id=model_id),
                      basis_source(result.subspace_basis))
    np.testing.assert_allclose(array(units, "angles"), 0.0, atol=1e-6)
    assert "in unit space: subspace_basis" in units.description_a

    neurons = subspaces(stub, analysis_pb2.SubspaceSource(model_id=model_id),
                        basis_source(result.neural_subspace()))
    np.testing.assert_allclose(array(neurons, "angles"), 0.0, atol=1e-6)
    assert "in neuron space: neural_subspace()" in neurons.description_a

    both = subspaces(stub, analysis_pb2.SubspaceSource(model_id=model_id),
                     analysis_pb2.SubspaceSource(model_id=model_id))
    np.testing.assert_allclose(array(both, "angles"), 0.0, atol=1e-6)
    assert "neuron space" in both.description_b

    chosen = subspaces(
        stub,
        analysis_pb2.SubspaceSource(model_id=model_id, model_space=analysis_pb2.MODEL_SPACE_UNITS),
        analysis_pb2.SubspaceSource(model_id=model_id, model_space=analysis_pb2.MODEL_SPACE_UNITS),
    )
    assert "unit space" in chosen.description_a
    assert array(chosen, "angles").shape == (2,)

    followed = subspaces(
        stub,
        analysis_pb2.SubspaceSource(model_id=model_id, model_space=analysis_pb2.MODEL_SPACE_UNITS),
        analysis_pb2.SubspaceSource(model_id=model_id),
    )
    assert "in unit space" in followed.description_b


def test_model_epoch_subspace(stub, model, recording):
    model_id, result = model
    trials = recording.epoch == "epoch1"
    expected = result.subspace_basis @ principal_subspace(result.latents[trials], 2)
    reply = subspaces(
        stub,
        analysis_pb2.SubspaceSource(
            epoch=analysis_pb2.EpochSubspace(model_id=model_id, epoch="epoch1", dimension=2),
            model_space=analysis_pb2.MODEL_SPACE_UNITS,
        ),
        basis_source(expected),
    )
    np.testing.assert_allclose(array(reply, "angles"), 0.0, atol=1e-6)
    assert reply.description_a.startswith("epoch 'epoch1' of model")
    assert "unit activity over 15 trials" in reply.description_a


def test_recording_epoch_against_model(stub, model, recording, dataset_id):
    model_id, result = model
    expected = epoch_subspace_angles(
        recording.data, recording.epoch, result.neural_subspace(), dim=2
    )
    for index, epoch in enumerate(expected.epochs):
        reply = subspaces(
            stub,
            analysis_pb2.SubspaceSource(recording_epoch=analysis_pb2.RecordingEpochSubspace(
                dataset_id=dataset_id, epoch=epoch, dimension=2,
            )),
            analysis_pb2.SubspaceSource(model_id=model_id),
        )
        np.testing.assert_allclose(
            np.degrees(array(reply, "angles")), expected.angles[index], atol=1e-6
        )
        assert "in neuron space: neural_subspace()" in reply.description_b
        assert f"epoch '{epoch}' of dataset {dataset_id[:12]}" in reply.description_a


# -- ModelAnalysis ---------------------------------------------------------------------------


def test_model_analysis(stub, model, recording):
    model_id, result = model
    reply = stub.ModelAnalysis(
        analysis_pb2.ModelAnalysisRequest(model_id=model_id, boundary_window=3), timeout=30
    )
    assert reply.model_id == model_id
    np.testing.assert_array_equal(array(reply, "trial_factors"), result.trial_factors)
    np.testing.assert_array_equal(array(reply, "eigenvalues"), result.eigenvalues)

    assert [epoch.epoch for epoch in reply.epochs] == ["epoch1", "epoch2"]
    assert [(epoch.first_trial, epoch.n_trials) for epoch in reply.epochs] == [(0, 15), (15, 15)]
    factors = result.trial_factors
    np.testing.assert_allclose(array(reply.epochs[1], "mean_trial_factors"),
                               factors[15:].mean(axis=0))
    assert not reply.epochs[0].HasField("change_at_start")
    np.testing.assert_allclose(array(reply.epochs[1], "change_at_start"),
                               factors[15:18].mean(axis=0) - factors[12:15].mean(axis=0))

    latents = reply.latents
    assert list(latents.conditions) == ["c0", "c1"]
    means = array(latents, "mean_by_condition")
    assert means.shape == (2, 12, 2)
    np.testing.assert_allclose(means[1], result.latents[recording.condition == "c1"].mean(axis=0))
    fractions = array(latents, "variance_fraction")
    assert fractions.sum() == pytest.approx(1.0)
    lengths = array(latents, "path_length")
    expected_length = np.linalg.norm(np.diff(means[0], axis=0), axis=1).sum()
    assert lengths[0] == pytest.approx(expected_length)
    assert np.all(lengths > 0)
    duration = recording.times[-1] - recording.times[0]
    np.testing.assert_allclose(array(latents, "mean_speed"), lengths / duration)


def test_model_analysis_default_window(stub, model):
    model_id, result = model
    reply = stub.ModelAnalysis(analysis_pb2.ModelAnalysisRequest(model_id=model_id), timeout=30)
    factors = result.trial_factors
    np.testing.assert_allclose(array(reply.epochs[1], "change_at_start"),
                               factors[15:25].mean(axis=0) - factors[5:15].mean(axis=0))


# -- bad input -------------------------------------------------------------------------------


def raw_tensor(dtype="float64", shape=(3, 3, 3), raw=None):
    if raw is None:
        raw = np.zeros(shape, dtype=dtype).tobytes()
    return common_pb2.Tensor(dtype=dtype, shape=list(shape), raw_data=raw)


def with_value(value, index=(0, 0, 0), shape=(4, 4, 4)):
    tensor = np.random.default_rng(0).standard_normal(shape)
    tensor[index] = value
    return tensor


def tensor_rank_call(tensor=None, **fields):
    fields.setdefault("ranks", [1])
    request = analysis_pb2.TensorRankRequest(**fields)
    if tensor is not None:
        request.tensor.CopyFrom(tensor if isinstance(tensor, common_pb2.Tensor)
                                else to_tensor(tensor))
    return "TensorRank", request


def learning_call(weights=None, d_in=1, d_out=1, **fields):
    request = analysis_pb2.LearningRanksRequest(d_in=d_in, d_out=d_out, **fields)
    if weights is not None:
        request.weights.CopyFrom(to_tensor(weights))
    return "LearningRanks", request


def subspaces_call(a=None, b=None, samples=None):
    request = analysis_pb2.SubspacesRequest()
    if a is not None:
        request.a.CopyFrom(a if isinstance(a, analysis_pb2.SubspaceSource) else basis_source(a))
    if b is not None:
        request.b.CopyFrom(b if isinstance(b, analysis_pb2.SubspaceSource) else basis_source(b))
    if samples is not None:
        request.samples.CopyFrom(to_tensor(samples))
    return "Subspaces", request


RANDOM = np.random.default_rng(3).standard_normal((4, 4, 4))
EYE = np.eye(4)[:, :2]
CHANGING = np.stack([np.zeros((3, 3)), np.eye(3)])

BAD_REQUESTS = {
    "tensor missing": (tensor_rank_call(), INVALID, r"^tensor is missing"),
    "tensor dtype": (tensor_rank_call(raw_tensor("int32")), INVALID,
                     r"tensor\.dtype must be one of \['float32', 'float64'\], got 'int32'"),
    "tensor 2-D": (tensor_rank_call(np.ones((3, 3))), INVALID,
                   r"tensor must have 3 dimensions, got shape \[3, 3\]"),
    "tensor byte length": (tensor_rank_call(raw_tensor(raw=b"\0" * 7)), INVALID,
                           r"tensor\.raw_data must have 216 bytes .* got 7 bytes"),
    "tensor empty axis": (tensor_rank_call(np.ones((0, 3, 3))), INVALID,
                          r"tensor must not have an empty dimension"),
    "tensor over size limit": (tensor_rank_call(raw_tensor(shape=(1000, 1000, 1000), raw=b"")),
                               EXHAUSTED, r"tensor of shape \[1000, 1000, 1000\] .* above the "
                               r"server limit of 4194304 bytes"),
    "tensor NaN observed": (tensor_rank_call(with_value(np.nan), mask=to_tensor(
        np.ones((4, 4, 4), dtype=bool))), INVALID,
        r"tensor contains 1 NaN values at entries that mask marks observed"),
    "tensor inf": (tensor_rank_call(with_value(np.inf, (1, 2, 3))), INVALID,
                   r"tensor contains 1 infinite values \(first at index \(1, 2, 3\)\)"),
    "tensor all zero": (tensor_rank_call(np.zeros((4, 4, 4))), INVALID,
                        r"tensor is zero at every observed entry"),
    "tensor overflows": (tensor_rank_call(RANDOM * 1e200), INVALID,
                         r"tensor has values up to .* overflows float64"),
    "tensor all NaN": (tensor_rank_call(np.full((3, 3, 3), np.nan)), INVALID,
                       r"tensor has no observed entry"),
    "everything masked": (tensor_rank_call(RANDOM, mask=to_tensor(np.zeros((4, 4, 4), bool))),
                          INVALID, r"tensor has no observed entry"),
    "mask shape": (tensor_rank_call(RANDOM, mask=to_tensor(np.ones((4, 4), bool))), INVALID,
                   r"mask must have the shape of tensor \[4, 4, 4\], got \[4, 4\]"),
    "mask dtype": (tensor_rank_call(RANDOM, mask=to_tensor(np.ones((4, 4, 4)))), INVALID,
                   r"mask\.dtype must be one of \['bool'\]"),
    "ranks empty": (tensor_rank_call(RANDOM, ranks=[]), INVALID, r"ranks is empty"),
    "rank zero": (tensor_rank_call(RANDOM, ranks=[0]), INVALID,
                  r"ranks must be an integer >= 1, got 0"),
    "rank negative": (tensor_rank_call(RANDOM, ranks=[2, -3]), INVALID,
                      r"ranks must be an integer >= 1, got -3"),
    "rank above every dimension": (tensor_rank_call(RANDOM, ranks=[5]), INVALID,
                                   r"ranks contains 5, larger than every dimension"),
    "rank above server limit": (tensor_rank_call(np.ones((9, 2, 2)), ranks=[9]), INVALID,
                                r"ranks is 9, above the server limit 8 \(LTRNN_MAX_RANK\)"),
    "ranks duplicated": (tensor_rank_call(RANDOM, ranks=[2, 2]), INVALID,
                         r"ranks contains duplicates \[2\]"),
    "one replicate": (tensor_rank_call(RANDOM, replicates=1), INVALID,
                      r"replicates must be an integer >= 2, got 1"),
    "too many replicates": (tensor_rank_call(RANDOM, replicates=21), INVALID,
                            r"replicates is 21, above the server limit 20"),
    "held-out half": (tensor_rank_call(RANDOM, heldout_fraction=0.5), INVALID,
                      r"heldout_fraction must be in \[0, 0\.5\), got 0\.5"),
    "held-out NaN": (tensor_rank_call(RANDOM, heldout_fraction=float("nan")), INVALID,
                     r"heldout_fraction must be in \[0, 0\.5\), got nan"),
    "seed negative": (tensor_rank_call(RANDOM, seed=-1), INVALID,
                      r"seed must be an integer >= 0, got -1"),
    "submit without request": (("SubmitTensorRank", analysis_pb2.SubmitTensorRankRequest()),
                               INVALID, r"^request is missing"),
    "submit bad tensor": (("SubmitTensorRank", analysis_pb2.SubmitTensorRankRequest(
        request=tensor_rank_call(np.zeros((4, 4, 4)))[1])), INVALID,
        r"request\.tensor is zero at every observed entry"),
    "submit bad key": (("SubmitTensorRank", analysis_pb2.SubmitTensorRankRequest(
        request=tensor_rank_call(RANDOM)[1], idempotency_key="a/b")), INVALID,
        r"idempotency_key must be 1 to 128 letters"),
    "result of unknown job": (("GetTensorRankResult", analysis_pb2.GetTensorRankResultRequest(
        job_id="f" * 32)), NOT_FOUND, r"job_id 'f{32}' not found"),
    "result of path-like job": (("GetTensorRankResult", analysis_pb2.GetTensorRankResultRequest(
        job_id="../jobs")), INVALID, r"job_id '\.\./jobs' is not a valid id"),
    "weights missing": (learning_call(), INVALID, r"^weights is missing"),
    "weights NaN": (learning_call(with_value(np.nan, (1, 0, 0), (2, 3, 3))), INVALID,
                    r"weights contains 1 NaN or infinite values \(first at index \(1, 0, 0\)\)"),
    "weights not square": (learning_call(np.ones((2, 3, 4))), INVALID,
                           r"weights must have shape \(K, N, N\)"),
    "weights above size limit": (learning_call(np.ones((2, 65, 65))), INVALID,
                                 r"weights\.shape\[1\] is 65, above the server limit 64 "
                                 r"\(LTRNN_MAX_RNN_SIZE\)"),
    "weights single slice": (learning_call(np.ones((1, 3, 3))), INVALID,
                             r"weights has a single slice"),
    "weights never change": (learning_call(np.ones((3, 3, 3))), INVALID,
                             r"weights never change"),
    "reference shape": (learning_call(CHANGING, reference=to_tensor(np.eye(4))), INVALID,
                        r"reference must have shape \[3, 3\]"),
    "d_in zero": (learning_call(CHANGING, d_in=0), INVALID, r"d_in must be an integer >= 1, got 0"),
    "d_out negative": (learning_call(CHANGING, d_out=-2), INVALID,
                       r"d_out must be an integer >= 1, got -2"),
    "tolerance one": (learning_call(CHANGING, tolerance=1.0), INVALID,
                      r"tolerance must be in \(0, 1\)"),
    "source missing": (subspaces_call(b=EYE), INVALID, r"^a is missing"),
    "source empty": (subspaces_call(analysis_pb2.SubspaceSource(), EYE), INVALID,
                     r"^a has no source"),
    "basis wide": (subspaces_call(np.ones((2, 3)), EYE), INVALID,
                   r"a\.basis must have at least one column and at least as many rows as columns"),
    "basis zero": (subspaces_call(EYE, np.zeros((4, 2))), INVALID, r"b\.basis has zero norm"),
    "basis NaN": (subspaces_call(np.where(EYE == 1, np.nan, 0.0), EYE), INVALID,
                  r"a\.basis contains 2 NaN or infinite values"),
    "basis rank-deficient": (subspaces_call(np.ones((4, 2)), EYE), INVALID,
                             r"a\.basis is rank-deficient"),
    "basis 3-D": (subspaces_call(np.ones((4, 2, 1)), EYE), INVALID,
                  r"a\.basis must have 2 dimensions"),
    "ambient dimensions differ": (subspaces_call(EYE, np.eye(5)[:, :2]), INVALID,
                                  r"a and b must have the same ambient dimension, got 4 rows"),
    "model_space on basis": (subspaces_call(basis_source(
        EYE, model_space=analysis_pb2.MODEL_SPACE_UNITS), EYE), INVALID,
        r"a\.model_space is MODEL_SPACE_UNITS but a is a basis"),
    "samples columns": (subspaces_call(EYE, EYE, np.ones((5, 3))), INVALID,
                        r"samples must have one column per ambient dimension \(4\)"),
    "samples NaN": (subspaces_call(EYE, EYE, with_value(np.nan, (2, 1), (5, 4))), INVALID,
                    r"samples contains 1 NaN"),
    "samples constant": (subspaces_call(EYE, EYE, np.ones((5, 4))), INVALID,
                         r"samples has zero variance"),
    "unknown model": (subspaces_call(analysis_pb2.SubspaceSource(model_id=MISSING_MODEL), EYE),
                      NOT_FOUND, r"a\.model_id '0{64}' not found"),
    "path-like model": (subspaces_call(
        analysis_pb2.SubspaceSource(model_id="../../etc/passwd"), EYE), INVALID,
        r"a\.model_id '\.\./\.\./etc/passwd' is not a valid id"),
    "unknown epoch model": (subspaces_call(EYE, analysis_pb2.SubspaceSource(
        epoch=analysis_pb2.EpochSubspace(model_id="abc", epoch="e", dimension=1))), NOT_FOUND,
        r"b\.epoch\.model_id 'abc' not found"),
    "unknown dataset": (subspaces_call(analysis_pb2.SubspaceSource(
        recording_epoch=analysis_pb2.RecordingEpochSubspace(
            dataset_id="1" * 64, epoch="epoch1", dimension=1)), EYE), NOT_FOUND,
        r"a\.recording_epoch\.dataset_id '1{64}' not found"),
    "path-like dataset": (subspaces_call(analysis_pb2.SubspaceSource(
        recording_epoch=analysis_pb2.RecordingEpochSubspace(dataset_id="/etc/x", epoch="e",
                                                            dimension=1)), EYE), INVALID,
        r"a\.recording_epoch\.dataset_id '/etc/x' is not a valid id"),
    "analysis of unknown model": (("ModelAnalysis", analysis_pb2.ModelAnalysisRequest(
        model_id=MISSING_MODEL)), NOT_FOUND, r"model_id '0{64}' not found"),
    "analysis of path-like model": (("ModelAnalysis", analysis_pb2.ModelAnalysisRequest(
        model_id="models/x.npz")), INVALID, r"model_id 'models/x\.npz' is not a valid id"),
    "analysis without model": (("ModelAnalysis", analysis_pb2.ModelAnalysisRequest()), INVALID,
                               r"model_id is missing"),
    "negative boundary window": (("ModelAnalysis", analysis_pb2.ModelAnalysisRequest(
        model_id=MISSING_MODEL, boundary_window=-1)), INVALID,
        r"boundary_window must be an integer >= 1, got -1"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_rejected(stub, case):
    (method, request), code, message = BAD_REQUESTS[case]
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, method)(request, timeout=10)
    assert raised.value.code() == code, raised.value.details()
    assert re.search(message, raised.value.details()), raised.value.details()
    assert_serves(stub)


def model_cases(model_id):
    def epoch(name="epoch1", dimension=1, **fields):
        return analysis_pb2.SubspaceSource(
            epoch=analysis_pb2.EpochSubspace(model_id=model_id, epoch=name, dimension=dimension),
            **fields,
        )

    return {
        "unknown epoch": (subspaces_call(epoch("late"), EYE), INVALID,
                          r"a\.epoch\.epoch 'late' is not an epoch of the model; its epochs are "
                          r"\['epoch1', 'epoch2'\]"),
        "epoch dimension zero": (subspaces_call(epoch(dimension=0), np.eye(12)[:, :1]), INVALID,
                                 r"a\.epoch\.dimension must be an integer >= 1, got 0"),
        "epoch dimension above rank": (subspaces_call(epoch(
            dimension=3, model_space=analysis_pb2.MODEL_SPACE_UNITS), np.eye(10)[:, :1]),
            INVALID, r"a\.epoch\.dimension must be an integer in \[1, 2\], got 3"),
        "model rows match no space": (subspaces_call(
            analysis_pb2.SubspaceSource(model_id=model_id), EYE), INVALID,
            r"a is a model with 10 RNN units and 12 neurons, but b has 4 rows"),
        "model space differs from basis": (subspaces_call(analysis_pb2.SubspaceSource(
            model_id=model_id, model_space=analysis_pb2.MODEL_SPACE_UNITS), np.eye(12)[:, :2]),
            INVALID, r"a and b must have the same ambient dimension, got 10 rows"),
        "recording epoch unknown": (subspaces_call(analysis_pb2.SubspaceSource(
            recording_epoch=analysis_pb2.RecordingEpochSubspace(
                dataset_id="DATASET", epoch="late", dimension=1)), EYE), INVALID,
            r"a\.recording_epoch\.epoch 'late' is not an epoch of the dataset"),
        "recording epoch too wide": (subspaces_call(analysis_pb2.SubspaceSource(
            recording_epoch=analysis_pb2.RecordingEpochSubspace(
                dataset_id="DATASET", epoch="epoch1", dimension=13)), EYE), INVALID,
            r"a\.recording_epoch\.dimension must be an integer in \[1, 12\], got 13"),
    }


MODEL_CASES = list(model_cases("x"))


@pytest.mark.parametrize("case", MODEL_CASES)
def test_bad_model_source_rejected(stub, model, dataset_id, case):
    (method, request), code, message = model_cases(model[0])[case]
    for side in (request.a, request.b):
        if side.WhichOneof("source") == "recording_epoch":
            side.recording_epoch.dataset_id = dataset_id
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, method)(request, timeout=10)
    assert raised.value.code() == code, raised.value.details()
    assert re.search(message, raised.value.details()), raised.value.details()
    assert_serves(stub)


def test_repeated_rejection_logged_once(stub, caplog):
    method, request = tensor_rank_call(RANDOM, ranks=[17, 18])
    with caplog.at_level(logging.INFO, logger="ltrnn.server.analysis"):
        for _ in range(3):
            with pytest.raises(grpc.RpcError):
                stub.TensorRank(request, timeout=10)
    lines = [record.getMessage() for record in caplog.records
             if "TensorRank rejected with INVALID_ARGUMENT" in record.getMessage()]
    assert len(lines) == 1
    assert "ranks is 17, above the server limit 8" in lines[0]


def test_rejection_log_reports_repeats(caplog):
    log = RejectionLog(interval=0.2)
    with caplog.at_level(logging.INFO, logger="ltrnn.server.analysis"):
        assert log.record("Subspaces", INVALID, "a is missing")
        assert not log.record("Subspaces", INVALID, "a is missing")
        assert not log.record("Subspaces", INVALID, "a is missing")
        assert log.record("Subspaces", INVALID, "b is missing")
        time.sleep(0.25)
        assert log.record("Subspaces", INVALID, "a is missing")
    assert "(2 identical rejections since the last report)" in caplog.records[-1].getMessage()


def test_health_reports_analysis_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(
        health_pb2.HealthCheckRequest(service="ltrnn.v1.AnalysisService"), timeout=10
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# -- job store ---------------------------------------------------------------------------------


def stored_tensor_rank_job(store, key=None):
    request = rank_request(planted_tensor(rank=1), ranks=[1], replicates=2)
    job, _ = store.create_job(
        kind=common_pb2.JOB_KIND_TENSOR_RANK, spec=request.SerializeToString(),
        cells=[(1, 0, 0), (1, 0, 1)], request_digest="test", idempotency_key=key,
    )
    return job


def test_unfinished_jobs_fail_at_start(ray_runtime, tmp_path):
    """A server that starts on a store with a PENDING tensor rank job serves and fails it."""
    settings = Settings(port=0, metrics_port=0, data_dir=str(tmp_path), grace_seconds=0)
    store = JobStore(settings.database_path)
    job = stored_tensor_rank_job(store)
    store.close()

    restarted = create_server(settings)
    try:
        stored = fit_stub(restarted).GetJob(fit_pb2.GetJobRequest(job_id=job.job_id), timeout=10)
    finally:
        restarted.stop()
    assert stored.state == common_pb2.JOB_STATE_FAILED
    assert "the service stopped before this tensor rank job finished" in stored.error
    assert [cell.state for cell in stored.cells] == [common_pb2.CELL_STATE_FAILED] * 2


def test_unfinished_job_limit(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    limits = AnalysisLimits(max_tensor_bytes=MIB, max_rank=8, max_size=64,
                            max_unfinished_jobs=0)
    jobs = TensorRankJobs(store, ArtifactStore(tmp_path / "data"), limits)
    request = analysis_pb2.SubmitTensorRankRequest(
        request=rank_request(planted_tensor(rank=1), ranks=[1])
    )
    try:
        with pytest.raises(RequestError, match=r"0 tensor rank jobs are waiting") as raised:
            jobs.submit(request)
    finally:
        jobs.close()
        store.close()
    assert raised.value.code == EXHAUSTED
