from ltrnn.v1 import common_pb2 as _common_pb2
from ltrnn.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelSpace(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_SPACE_AUTO: _ClassVar[ModelSpace]
    MODEL_SPACE_UNITS: _ClassVar[ModelSpace]
    MODEL_SPACE_NEURONS: _ClassVar[ModelSpace]
MODEL_SPACE_AUTO: ModelSpace
MODEL_SPACE_UNITS: ModelSpace
MODEL_SPACE_NEURONS: ModelSpace

class TensorRankRequest(_message.Message):
    __slots__ = ("tensor", "mask", "ranks", "replicates", "heldout_fraction", "seed")
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    RANKS_FIELD_NUMBER: _ClassVar[int]
    REPLICATES_FIELD_NUMBER: _ClassVar[int]
    HELDOUT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    tensor: _common_pb2.Tensor
    mask: _common_pb2.Tensor
    ranks: _containers.RepeatedScalarFieldContainer[int]
    replicates: int
    heldout_fraction: float
    seed: int
    def __init__(self, tensor: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., ranks: _Optional[_Iterable[int]] = ..., replicates: _Optional[int] = ..., heldout_fraction: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class SubmitTensorRankRequest(_message.Message):
    __slots__ = ("request", "idempotency_key")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    request: TensorRankRequest
    idempotency_key: str
    def __init__(self, request: _Optional[_Union[TensorRankRequest, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class GetTensorRankResultRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class TensorRankResult(_message.Message):
    __slots__ = ("ranks", "errors", "heldout_errors", "similarity", "suggested_rank", "rule")
    RANKS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    HELDOUT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_RANK_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ranks: _containers.RepeatedScalarFieldContainer[int]
    errors: _common_pb2.Tensor
    heldout_errors: _common_pb2.Tensor
    similarity: _common_pb2.Tensor
    suggested_rank: int
    rule: str
    def __init__(self, ranks: _Optional[_Iterable[int]] = ..., errors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., heldout_errors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., similarity: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., suggested_rank: _Optional[int] = ..., rule: _Optional[str] = ...) -> None: ...

class LearningRanksRequest(_message.Message):
    __slots__ = ("weights", "reference", "tolerance", "d_in", "d_out")
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    D_IN_FIELD_NUMBER: _ClassVar[int]
    D_OUT_FIELD_NUMBER: _ClassVar[int]
    weights: _common_pb2.Tensor
    reference: _common_pb2.Tensor
    tolerance: float
    d_in: int
    d_out: int
    def __init__(self, weights: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., reference: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., tolerance: _Optional[float] = ..., d_in: _Optional[int] = ..., d_out: _Optional[int] = ...) -> None: ...

class LearningRanksResult(_message.Message):
    __slots__ = ("slice_ranks", "effective_ranks", "multilinear_rank", "cp_rank_estimate", "matrix_rank_bound", "cp_rank_bound", "within_bound", "cp_rank_rule")
    SLICE_RANKS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_RANKS_FIELD_NUMBER: _ClassVar[int]
    MULTILINEAR_RANK_FIELD_NUMBER: _ClassVar[int]
    CP_RANK_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    MATRIX_RANK_BOUND_FIELD_NUMBER: _ClassVar[int]
    CP_RANK_BOUND_FIELD_NUMBER: _ClassVar[int]
    WITHIN_BOUND_FIELD_NUMBER: _ClassVar[int]
    CP_RANK_RULE_FIELD_NUMBER: _ClassVar[int]
    slice_ranks: _common_pb2.Tensor
    effective_ranks: _common_pb2.Tensor
    multilinear_rank: _containers.RepeatedScalarFieldContainer[int]
    cp_rank_estimate: int
    matrix_rank_bound: int
    cp_rank_bound: int
    within_bound: bool
    cp_rank_rule: str
    def __init__(self, slice_ranks: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., effective_ranks: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., multilinear_rank: _Optional[_Iterable[int]] = ..., cp_rank_estimate: _Optional[int] = ..., matrix_rank_bound: _Optional[int] = ..., cp_rank_bound: _Optional[int] = ..., within_bound: _Optional[bool] = ..., cp_rank_rule: _Optional[str] = ...) -> None: ...

class SubspaceSource(_message.Message):
    __slots__ = ("basis", "model_id", "epoch", "recording_epoch", "model_space")
    BASIS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RECORDING_EPOCH_FIELD_NUMBER: _ClassVar[int]
    MODEL_SPACE_FIELD_NUMBER: _ClassVar[int]
    basis: _common_pb2.Tensor
    model_id: str
    epoch: EpochSubspace
    recording_epoch: RecordingEpochSubspace
    model_space: ModelSpace
    def __init__(self, basis: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., model_id: _Optional[str] = ..., epoch: _Optional[_Union[EpochSubspace, _Mapping]] = ..., recording_epoch: _Optional[_Union[RecordingEpochSubspace, _Mapping]] = ..., model_space: _Optional[_Union[ModelSpace, str]] = ...) -> None: ...

class EpochSubspace(_message.Message):
    __slots__ = ("model_id", "epoch", "dimension")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    epoch: str
    dimension: int
    def __init__(self, model_id: _Optional[str] = ..., epoch: _Optional[str] = ..., dimension: _Optional[int] = ...) -> None: ...

class RecordingEpochSubspace(_message.Message):
    __slots__ = ("dataset_id", "epoch", "dimension")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    epoch: str
    dimension: int
    def __init__(self, dataset_id: _Optional[str] = ..., epoch: _Optional[str] = ..., dimension: _Optional[int] = ...) -> None: ...

class SubspacesRequest(_message.Message):
    __slots__ = ("a", "b", "samples")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    a: SubspaceSource
    b: SubspaceSource
    samples: _common_pb2.Tensor
    def __init__(self, a: _Optional[_Union[SubspaceSource, _Mapping]] = ..., b: _Optional[_Union[SubspaceSource, _Mapping]] = ..., samples: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...

class SubspacesResult(_message.Message):
    __slots__ = ("angles", "cosines", "variance_captured_a", "variance_captured_b", "description_a", "description_b")
    ANGLES_FIELD_NUMBER: _ClassVar[int]
    COSINES_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_CAPTURED_A_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_CAPTURED_B_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_A_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_B_FIELD_NUMBER: _ClassVar[int]
    angles: _common_pb2.Tensor
    cosines: _common_pb2.Tensor
    variance_captured_a: float
    variance_captured_b: float
    description_a: str
    description_b: str
    def __init__(self, angles: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., cosines: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., variance_captured_a: _Optional[float] = ..., variance_captured_b: _Optional[float] = ..., description_a: _Optional[str] = ..., description_b: _Optional[str] = ...) -> None: ...

class ModelAnalysisRequest(_message.Message):
    __slots__ = ("model_id", "boundary_window")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    BOUNDARY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    boundary_window: int
    def __init__(self, model_id: _Optional[str] = ..., boundary_window: _Optional[int] = ...) -> None: ...

class EpochSummary(_message.Message):
    __slots__ = ("epoch", "first_trial", "n_trials", "mean_trial_factors", "change_at_start")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    FIRST_TRIAL_FIELD_NUMBER: _ClassVar[int]
    N_TRIALS_FIELD_NUMBER: _ClassVar[int]
    MEAN_TRIAL_FACTORS_FIELD_NUMBER: _ClassVar[int]
    CHANGE_AT_START_FIELD_NUMBER: _ClassVar[int]
    epoch: str
    first_trial: int
    n_trials: int
    mean_trial_factors: _common_pb2.Tensor
    change_at_start: _common_pb2.Tensor
    def __init__(self, epoch: _Optional[str] = ..., first_trial: _Optional[int] = ..., n_trials: _Optional[int] = ..., mean_trial_factors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., change_at_start: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...

class LatentSummary(_message.Message):
    __slots__ = ("conditions", "mean_by_condition", "variance_fraction", "path_length", "mean_speed")
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MEAN_BY_CONDITION_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    PATH_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MEAN_SPEED_FIELD_NUMBER: _ClassVar[int]
    conditions: _containers.RepeatedScalarFieldContainer[str]
    mean_by_condition: _common_pb2.Tensor
    variance_fraction: _common_pb2.Tensor
    path_length: _common_pb2.Tensor
    mean_speed: _common_pb2.Tensor
    def __init__(self, conditions: _Optional[_Iterable[str]] = ..., mean_by_condition: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., variance_fraction: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., path_length: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., mean_speed: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...

class ModelAnalysisResult(_message.Message):
    __slots__ = ("model_id", "trial_factors", "eigenvalues", "epochs", "latents")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FACTORS_FIELD_NUMBER: _ClassVar[int]
    EIGENVALUES_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LATENTS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    trial_factors: _common_pb2.Tensor
    eigenvalues: _common_pb2.Tensor
    epochs: _containers.RepeatedCompositeFieldContainer[EpochSummary]
    latents: LatentSummary
    def __init__(self, model_id: _Optional[str] = ..., trial_factors: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., eigenvalues: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., epochs: _Optional[_Iterable[_Union[EpochSummary, _Mapping]]] = ..., latents: _Optional[_Union[LatentSummary, _Mapping]] = ...) -> None: ...
