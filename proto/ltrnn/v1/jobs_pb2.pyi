import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ltrnn.v1 import common_pb2 as _common_pb2
from ltrnn.v1 import sweep_pb2 as _sweep_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CellCounts(_message.Message):
    __slots__ = ("pending", "running", "succeeded", "failed", "cancelled", "total")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    pending: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    total: int
    def __init__(self, pending: _Optional[int] = ..., running: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., cancelled: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class CellProgress(_message.Message):
    __slots__ = ("iteration", "iterations", "train_loss", "validation_loss", "elapsed_seconds", "iterations_per_second", "worker_pid", "worker_node")
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    WORKER_PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_NODE_FIELD_NUMBER: _ClassVar[int]
    iteration: int
    iterations: int
    train_loss: float
    validation_loss: float
    elapsed_seconds: float
    iterations_per_second: float
    worker_pid: int
    worker_node: str
    def __init__(self, iteration: _Optional[int] = ..., iterations: _Optional[int] = ..., train_loss: _Optional[float] = ..., validation_loss: _Optional[float] = ..., elapsed_seconds: _Optional[float] = ..., iterations_per_second: _Optional[float] = ..., worker_pid: _Optional[int] = ..., worker_node: _Optional[str] = ...) -> None: ...

class Cell(_message.Message):
    __slots__ = ("index", "rank", "rnn_size", "seed", "state", "attempts", "progress", "losses", "model_id", "error", "iterations_run", "seconds", "start_time", "end_time")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    RNN_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_RUN_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    index: int
    rank: int
    rnn_size: int
    seed: int
    state: _common_pb2.CellState
    attempts: int
    progress: CellProgress
    losses: _sweep_pb2.FitLosses
    model_id: str
    error: str
    iterations_run: int
    seconds: float
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, index: _Optional[int] = ..., rank: _Optional[int] = ..., rnn_size: _Optional[int] = ..., seed: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.CellState, str]] = ..., attempts: _Optional[int] = ..., progress: _Optional[_Union[CellProgress, _Mapping]] = ..., losses: _Optional[_Union[_sweep_pb2.FitLosses, _Mapping]] = ..., model_id: _Optional[str] = ..., error: _Optional[str] = ..., iterations_run: _Optional[int] = ..., seconds: _Optional[float] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "kind", "state", "create_time", "update_time", "end_time", "idempotency_key", "cell_counts", "cells", "error", "last_sequence", "sweep")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CELL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: _common_pb2.JobKind
    state: _common_pb2.JobState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    idempotency_key: str
    cell_counts: CellCounts
    cells: _containers.RepeatedCompositeFieldContainer[Cell]
    error: str
    last_sequence: int
    sweep: _sweep_pb2.SweepSpec
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.JobKind, str]] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., cell_counts: _Optional[_Union[CellCounts, _Mapping]] = ..., cells: _Optional[_Iterable[_Union[Cell, _Mapping]]] = ..., error: _Optional[str] = ..., last_sequence: _Optional[int] = ..., sweep: _Optional[_Union[_sweep_pb2.SweepSpec, _Mapping]] = ...) -> None: ...

class JobStateChanged(_message.Message):
    __slots__ = ("state", "message")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.JobState
    message: str
    def __init__(self, state: _Optional[_Union[_common_pb2.JobState, str]] = ..., message: _Optional[str] = ...) -> None: ...

class CellStateChanged(_message.Message):
    __slots__ = ("cell_index", "state", "attempt", "message")
    CELL_INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    cell_index: int
    state: _common_pb2.CellState
    attempt: int
    message: str
    def __init__(self, cell_index: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.CellState, str]] = ..., attempt: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class CellProgressed(_message.Message):
    __slots__ = ("cell_index", "progress")
    CELL_INDEX_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    cell_index: int
    progress: CellProgress
    def __init__(self, cell_index: _Optional[int] = ..., progress: _Optional[_Union[CellProgress, _Mapping]] = ...) -> None: ...

class CellFinished(_message.Message):
    __slots__ = ("cell_index", "model_id", "losses", "iterations_run", "seconds")
    CELL_INDEX_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_RUN_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    cell_index: int
    model_id: str
    losses: _sweep_pb2.FitLosses
    iterations_run: int
    seconds: float
    def __init__(self, cell_index: _Optional[int] = ..., model_id: _Optional[str] = ..., losses: _Optional[_Union[_sweep_pb2.FitLosses, _Mapping]] = ..., iterations_run: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("sequence", "job_id", "time", "job_state", "cell_state", "cell_progress", "cell_finished")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    JOB_STATE_FIELD_NUMBER: _ClassVar[int]
    CELL_STATE_FIELD_NUMBER: _ClassVar[int]
    CELL_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CELL_FINISHED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    job_id: str
    time: _timestamp_pb2.Timestamp
    job_state: JobStateChanged
    cell_state: CellStateChanged
    cell_progress: CellProgressed
    cell_finished: CellFinished
    def __init__(self, sequence: _Optional[int] = ..., job_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job_state: _Optional[_Union[JobStateChanged, _Mapping]] = ..., cell_state: _Optional[_Union[CellStateChanged, _Mapping]] = ..., cell_progress: _Optional[_Union[CellProgressed, _Mapping]] = ..., cell_finished: _Optional[_Union[CellFinished, _Mapping]] = ...) -> None: ...
