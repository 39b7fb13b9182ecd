"""Builders of API messages from store records, artifact metadata and engine results."""

from __future__ import annotations

import json
import math

import numpy as np

from ltrnn.v1 import common_pb2, fit_pb2, jobs_pb2, sweep_pb2

from .selection import RankChoice
from .store import CellRecord, JobRecord, timestamp
from .tensors import to_tensor

_COUNT_FIELDS = {
    common_pb2.CELL_STATE_PENDING: "pending",
    common_pb2.CELL_STATE_RUNNING: "running",
    common_pb2.CELL_STATE_SUCCEEDED: "succeeded",
    common_pb2.CELL_STATE_FAILED: "failed",
    common_pb2.CELL_STATE_CANCELLED: "cancelled",
}


def _nan_if_none(value) -> float:
    return math.nan if value is None else float(value)


def _set_time(message, field: str, seconds) -> None:
    stamp = timestamp(seconds)
    if stamp is not None:
        getattr(message, field).CopyFrom(stamp)


def cell_message(cell: CellRecord) -> jobs_pb2.Cell:
    message = jobs_pb2.Cell(
        index=cell.index, rank=cell.rank, rnn_size=cell.rnn_size, seed=cell.seed,
        state=cell.state, attempts=cell.attempts, model_id=cell.model_id, error=cell.error,
        iterations_run=cell.iterations_run, seconds=cell.seconds,
    )
    if cell.progress:
        message.progress.ParseFromString(cell.progress)
    if cell.state == common_pb2.CELL_STATE_SUCCEEDED:
        message.losses.CopyFrom(fit_losses(cell))
    _set_time(message, "start_time", cell.started)
    _set_time(message, "end_time", cell.ended)
    return message


def fit_losses(cell: CellRecord) -> sweep_pb2.FitLosses:
    return sweep_pb2.FitLosses(
        train=_nan_if_none(cell.train_loss),
        validation=_nan_if_none(cell.validation_loss),
        test=_nan_if_none(cell.test_loss),
    )


def job_message(job: JobRecord, cells: list[CellRecord], include_cells: bool = True) -> jobs_pb2.Job:
    message = jobs_pb2.Job(
        job_id=job.job_id, kind=job.kind, state=job.state,
        idempotency_key=job.idempotency_key or "", error=job.error,
        last_sequence=job.last_sequence,
    )
    _set_time(message, "create_time", job.created)
    _set_time(message, "update_time", job.updated)
    _set_time(message, "end_time", job.ended)
    if job.kind == common_pb2.JOB_KIND_SWEEP:
        message.sweep.ParseFromString(job.spec)
    counts = message.cell_counts
    for cell in cells:
        name = _COUNT_FIELDS[cell.state]
        setattr(counts, name, getattr(counts, name) + 1)
    counts.total = len(cells)
    if include_cells:
        message.cells.extend(cell_message(cell) for cell in cells)
    return message


def recording_meta(meta: dict) -> common_pb2.RecordingMeta:
    """Build RecordingMeta from the JSON-ready dict of :func:`recording_meta_dict`."""
    return common_pb2.RecordingMeta(
        shape=meta.get("shape", []),
        condition=meta["condition"],
        epoch=meta["epoch"],
        trial_id=to_tensor(np.asarray(meta["trial_id"], dtype=np.int64)),
        times=to_tensor(np.asarray(meta["times"], dtype=np.float64)),
        kind=meta["kind"],
        conditions=list(dict.fromkeys(meta["condition"])),
        epochs=list(dict.fromkeys(meta["epoch"])),
    )


def recording_meta_dict(recording) -> dict:
    """Return the metadata of a Recording as plain lists, for JSON and for messages."""
    return {
        "shape": list(recording.shape),
        "condition": recording.condition.tolist(),
        "epoch": recording.epoch.tolist(),
        "trial_id": recording.trial_id.tolist(),
        "times": recording.times.tolist(),
        "kind": recording.kind,
    }


def dataset_message(dataset_id: str, info: dict, already_existed: bool) -> fit_pb2.Dataset:
    message = fit_pb2.Dataset(
        dataset_id=dataset_id, name=info.get("name", ""), size_bytes=info.get("size_bytes", 0),
        already_existed=already_existed,
    )
    if "recording" in info:
        message.recording.CopyFrom(recording_meta(info["recording"]))
    _set_time(message, "create_time", info.get("created"))
    return message


def model_message(
    model_id: str,
    result,
    info: dict,
    file_bytes: int,
    include_latents: bool,
    include_predictions: bool,
) -> fit_pb2.Model:
    """Build a Model message from a FitResult and the model's stored metadata."""
    config = result.config
    meta = dict(result.recording_meta)
    n_neurons = int(meta.get("n_neurons", result.readout.shape[0]))
    meta.setdefault("shape", [len(meta["condition"]), n_neurons, len(meta["times"])])
    message = fit_pb2.Model(
        model_id=model_id, job_id=info.get("job_id", ""), cell_index=info.get("cell_index", 0),
        rank=config.rank, rnn_size=config.rnn_size, seed=config.seed,
        config_json=json.dumps(config.to_dict()), loss_kind=result.loss_kind,
        losses=sweep_pb2.FitLosses(**{k: float(result.losses[k]) for k in ("train", "validation", "test")}),
        column_factors=to_tensor(np.asarray(result.column_factors, dtype=np.float64)),
        row_factors=to_tensor(np.asarray(result.row_factors, dtype=np.float64)),
        trial_factors=to_tensor(np.asarray(result.trial_factors, dtype=np.float64)),
        readout=to_tensor(np.asarray(result.readout, dtype=np.float64)),
        eigenvalues=to_tensor(np.asarray(result.eigenvalues, dtype=np.complex128)),
        subspace_basis=to_tensor(np.asarray(result.subspace_basis, dtype=np.float64)),
        history_iteration=to_tensor(np.asarray(result.history.get("iteration", []), dtype=np.int64)),
        history_train_loss=to_tensor(np.asarray(result.history.get("train_loss", []), dtype=np.float64)),
        history_validation_loss=to_tensor(
            np.asarray(result.history.get("validation_loss", []), dtype=np.float64)
        ),
        iterations_run=int(result.iterations_run), best_iteration=int(result.best_iteration),
        seconds_per_iteration=float(result.seconds_per_iteration),
        stopped_reason=result.stopped_reason,
        recording=recording_meta(meta),
        file_bytes=file_bytes,
    )
    if include_latents:
        message.latents.CopyFrom(to_tensor(np.asarray(result.latents, dtype=np.float64)))
    if include_predictions:
        message.predictions.CopyFrom(to_tensor(np.asarray(result.predictions, dtype=np.float64)))
    return message


def sweep_result_message(
    job: JobRecord, cells: list[CellRecord], choice: RankChoice | None
) -> fit_pb2.SweepResult:
    message = fit_pb2.SweepResult(job_id=job.job_id, state=job.state)
    for cell in cells:
        message.cells.append(fit_pb2.SweepCellResult(
            cell_index=cell.index, rank=cell.rank, rnn_size=cell.rnn_size, seed=cell.seed,
            state=cell.state, losses=fit_losses(cell), model_id=cell.model_id,
            iterations_run=cell.iterations_run, seconds=cell.seconds, error=cell.error,
        ))
    if choice is None:
        message.rule = "no cell has succeeded yet, so no rank is chosen"
        return message
    message.chosen_rank = choice.rank
    message.rule = choice.rule
    message.chosen_model_id = choice.model_id
    for row in choice.ranks:
        message.ranks.append(fit_pb2.RankSummary(
            rank=row.rank, rnn_size=row.rnn_size, n_fits=row.n_fits,
            mean_validation_loss=row.mean_validation,
            validation_standard_error=row.score_standard_error,
            mean_test_loss=row.mean_test, mean_train_loss=row.mean_train,
        ))
    return message
