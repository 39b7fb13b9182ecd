import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ltrnn.v1 import common_pb2 as _common_pb2
from ltrnn.v1 import jobs_pb2 as _jobs_pb2
from ltrnn.v1 import sweep_pb2 as _sweep_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetHeader(_message.Message):
    __slots__ = ("name", "format", "sha256", "total_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    sha256: str
    total_bytes: int
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., sha256: _Optional[str] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class UploadDatasetRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: DatasetHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[DatasetHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("dataset_id", "name", "size_bytes", "recording", "already_existed", "create_time")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    ALREADY_EXISTED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    name: str
    size_bytes: int
    recording: _common_pb2.RecordingMeta
    already_existed: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., recording: _Optional[_Union[_common_pb2.RecordingMeta, _Mapping]] = ..., already_existed: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class SubmitSweepRequest(_message.Message):
    __slots__ = ("sweep", "idempotency_key")
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    sweep: _sweep_pb2.SweepSpec
    idempotency_key: str
    def __init__(self, sweep: _Optional[_Union[_sweep_pb2.SweepSpec, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class SubmitSweepResponse(_message.Message):
    __slots__ = ("job", "created")
    JOB_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    created: bool
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "after_sequence", "exclude_progress")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_sequence: int
    exclude_progress: bool
    def __init__(self, job_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., exclude_progress: _Optional[bool] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "kind")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _common_pb2.JobState
    kind: _common_pb2.JobKind
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., kind: _Optional[_Union[_common_pb2.JobKind, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_jobs_pb2.Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetSweepResultRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class SweepCellResult(_message.Message):
    __slots__ = ("cell_index", "rank", "rnn_size", "seed", "state", "losses", "model_id", "iterations_run", "seconds", "error")
    CELL_INDEX_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    RNN_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_RUN_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    cell_index: int
    rank: int
    rnn_size: int
    seed: int
    state: _common_pb2.CellState
    losses: _sweep_pb2.FitLosses
    model_id: str
    iterations_run: int
    seconds: float
    error: str
    def __init__(self, cell_index: _Optional[int] = ..., rank: _Optional[int] = ..., rnn_size: _Optional[int] = ..., seed: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.CellState, str]] = ..., losses: _Optional[_Union[_sweep_pb2.FitLosses, _Mapping]] = ..., model_id: _Optional[str] = ..., iterations_run: _Optional[int] = ..., seconds: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class RankSummary(_message.Message):
    __slots__ = ("rank", "rnn_size", "n_fits", "mean_validation_loss", "validation_standard_error", "mean_test_loss", "mean_train_loss")
    RANK_FIELD_NUMBER: _ClassVar[int]
    RNN_SIZE_FIELD_NUMBER: _ClassVar[int]
    N_FITS_FIELD_NUMBER: _ClassVar[int]
    MEAN_VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    MEAN_TEST_LOSS_FIELD_NUMBER: _ClassVar[int]
    MEAN_TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    rank: int
    rnn_size: int
    n_fits: int
    mean_validation_loss: float
    validation_standard_error: float
    mean_test_loss: float
    mean_train_loss: float
    def __init__(self, rank: _Optional[int] = ..., rnn_size: _Optional[int] = ..., n_fits: _Optional[int] = ..., mean_validation_loss: _Optional[float] = ..., validation_standard_error: _Optional[float] = ..., mean_test_loss: _Optional[float] = ..., mean_train_loss: _Optional[float] = ...) -> None: ...

class SweepResult(_message.Message):
    __slots__ = ("job_id", "state", "cells", "ranks", "chosen_rank", "rule", "chosen_model_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    RANKS_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_RANK_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: _common_pb2.JobState
    cells: _containers.RepeatedCompositeFieldContainer[SweepCellResult]
    ranks: _containers.RepeatedCompositeFieldContainer[RankSummary]
    chosen_rank: int
    rule: str
    chosen_model_id: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., cells: _Optional[_Iterable[_Union[SweepCellResult, _Mapping]]] = ..., ranks: _Optional[_Iterable[_Union[RankSummary, _Mapping]]] = ..., chosen_rank: _Optional[int] = ..., rule: _Optional[str] = ..., chosen_model_id: _Optional[str] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model_id", "include_latents", "include_predictions")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LATENTS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    include_latents: bool
    include_predictions: bool
    def __init__(self, model_id: _Optional[str] = ..., include_latents: _Optional[bool] = ..., include_predictions: _Optional[bool] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("model_id", "job_id", "cell_index", "rank", "rnn_size", "seed", "config_json", "loss_kind", "losses", "column_factors", "row_factors", "trial_factors", "readout", "eigenvalues", "subspace_basis", "latents", "predictions", "history_iteration", "history_train_loss", "history_validation_loss", "iterations_run", "best_iteration", "seconds_per_iteration", "stopped_reason", "recording", "file_bytes")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CELL_INDEX_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    RNN_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    LOSS_KIND_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FACTORS_FIELD_NUMBER: _ClassVar[int]
    ROW_FACTORS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FACTORS_FIELD_NUMBER: _ClassVar[int]
    READOUT_FIELD_NUMBER: _ClassVar[int]
    EIGENVALUES_FIELD_NUMBER: _ClassVar[int]
    SUBSPACE_BASIS_FIELD_NUMBER: _ClassVar[int]
    LATENTS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_ITERATION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_RUN_FIELD_NUMBER: _ClassVar[int]
    BEST_ITERATION_FIELD_NUMBER: _ClassVar[int]
    SECONDS_PER_ITERATION_FIELD_NUMBER: _ClassVar[int]
    STOPPED_REASON_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    job_id: str
    cell_index: int
    rank: int
    rnn_size: int
    seed: int
    config_json: str
    loss_kind: str
    losses: _sweep_pb2.FitLosses
    column_factors: _common_pb2.Tensor
    row_factors: _common_pb2.Tensor
    trial_factors: _common_pb2.Tensor
    readout: _common_pb2.Tensor
    eigenvalues: _common_pb2.Tensor
    subspace_basis: _common_pb2.Tensor
    latents: _common_pb2.Tensor
    predictions: _common_pb2.Tensor
    history_iteration: _common_pb2.Tensor
    history_train_loss: _common_pb2.Tensor
    history_validation_loss: _common_pb2.Tensor
    iterations_run: int
    best_iteration: int
    seconds_per_iteration: float
    stopped_reason: str
    recording: _common_pb2.RecordingMeta
    file_bytes: int
    def __init__(self, model_id: _Optional[str] = ..., job_id: _Optional[str] = ..., cell_index: _Optional[int] = ..., rank: _Optional[int] = ..., rnn_size: _Optional[int] = ..., seed: _Optional[int] = ..., config_json: _Optional[str] = ..., loss_kind: _Optional[str] = ..., losses: _Optional[_Union[_sweep_pb2.FitLosses, _Mapping]] = ..., column_factors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., row_factors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., trial_factors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., readout: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., eigenvalues: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., subspace_basis: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., latents: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., predictions: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., history_iteration: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., history_train_loss: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., history_validation_loss: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., iterations_run: _Optional[int] = ..., best_iteration: _Optional[int] = ..., seconds_per_iteration: _Optional[float] = ..., stopped_reason: _Optional[str] = ..., recording: _Optional[_Union[_common_pb2.RecordingMeta, _Mapping]] = ..., file_bytes: _Optional[int] = ...) -> None: ...

class SimulateRequest(_message.Message):
    __slots__ = ("model_id", "trials", "conditions", "include_latents")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LATENTS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    trials: _containers.RepeatedScalarFieldContainer[int]
    conditions: _containers.RepeatedScalarFieldContainer[str]
    include_latents: bool
    def __init__(self, model_id: _Optional[str] = ..., trials: _Optional[_Iterable[int]] = ..., conditions: _Optional[_Iterable[str]] = ..., include_latents: _Optional[bool] = ...) -> None: ...

class SimulateResponse(_message.Message):
    __slots__ = ("predictions", "latents")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    LATENTS_FIELD_NUMBER: _ClassVar[int]
    predictions: _common_pb2.Tensor
    latents: _common_pb2.Tensor
    def __init__(self, predictions: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., latents: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...

class ExportModelRequest(_message.Message):
    __slots__ = ("model_id", "chunk_bytes")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    chunk_bytes: int
    def __init__(self, model_id: _Optional[str] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...

class ModelFileInfo(_message.Message):
    __slots__ = ("model_id", "format", "sha256", "total_bytes", "filename")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    format: str
    sha256: str
    total_bytes: int
    filename: str
    def __init__(self, model_id: _Optional[str] = ..., format: _Optional[str] = ..., sha256: _Optional[str] = ..., total_bytes: _Optional[int] = ..., filename: _Optional[str] = ...) -> None: ...

class ExportModelResponse(_message.Message):
    __slots__ = ("info", "chunk")
    INFO_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    info: ModelFileInfo
    chunk: bytes
    def __init__(self, info: _Optional[_Union[ModelFileInfo, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...
