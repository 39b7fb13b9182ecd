from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class CellState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CELL_STATE_UNSPECIFIED: _ClassVar[CellState]
    CELL_STATE_PENDING: _ClassVar[CellState]
    CELL_STATE_RUNNING: _ClassVar[CellState]
    CELL_STATE_SUCCEEDED: _ClassVar[CellState]
    CELL_STATE_FAILED: _ClassVar[CellState]
    CELL_STATE_CANCELLED: _ClassVar[CellState]

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_SWEEP: _ClassVar[JobKind]
    JOB_KIND_TENSOR_RANK: _ClassVar[JobKind]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
CELL_STATE_UNSPECIFIED: CellState
CELL_STATE_PENDING: CellState
CELL_STATE_RUNNING: CellState
CELL_STATE_SUCCEEDED: CellState
CELL_STATE_FAILED: CellState
CELL_STATE_CANCELLED: CellState
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_SWEEP: JobKind
JOB_KIND_TENSOR_RANK: JobKind

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "raw_data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    RAW_DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    raw_data: bytes
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., raw_data: _Optional[bytes] = ...) -> None: ...

class RecordingMeta(_message.Message):
    __slots__ = ("shape", "condition", "epoch", "trial_id", "times", "kind", "mask", "conditions", "epochs")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    condition: _containers.RepeatedScalarFieldContainer[str]
    epoch: _containers.RepeatedScalarFieldContainer[str]
    trial_id: Tensor
    times: Tensor
    kind: str
    mask: Tensor
    conditions: _containers.RepeatedScalarFieldContainer[str]
    epochs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., condition: _Optional[_Iterable[str]] = ..., epoch: _Optional[_Iterable[str]] = ..., trial_id: _Optional[_Union[Tensor, _Mapping]] = ..., times: _Optional[_Union[Tensor, _Mapping]] = ..., kind: _Optional[str] = ..., mask: _Optional[_Union[Tensor, _Mapping]] = ..., conditions: _Optional[_Iterable[str]] = ..., epochs: _Optional[_Iterable[str]] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("num_cpus", "num_gpus")
    NUM_CPUS_FIELD_NUMBER: _ClassVar[int]
    NUM_GPUS_FIELD_NUMBER: _ClassVar[int]
    num_cpus: float
    num_gpus: float
    def __init__(self, num_cpus: _Optional[float] = ..., num_gpus: _Optional[float] = ...) -> None: ...
