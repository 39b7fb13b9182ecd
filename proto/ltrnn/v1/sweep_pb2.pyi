from ltrnn.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FitHyperparameters(_message.Message):
    __slots__ = ("iterations", "learning_rate", "tau", "substeps", "trial_dropout", "activity_regularization", "input_regularization", "gp_length", "gp_sigma", "gp_noise", "epoch_breaks", "input_after_go", "readout_scale", "readout_offset", "loss", "eval_every", "patience", "init_scale")
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    TAU_FIELD_NUMBER: _ClassVar[int]
    SUBSTEPS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_DROPOUT_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_REGULARIZATION_FIELD_NUMBER: _ClassVar[int]
    INPUT_REGULARIZATION_FIELD_NUMBER: _ClassVar[int]
    GP_LENGTH_FIELD_NUMBER: _ClassVar[int]
    GP_SIGMA_FIELD_NUMBER: _ClassVar[int]
    GP_NOISE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_BREAKS_FIELD_NUMBER: _ClassVar[int]
    INPUT_AFTER_GO_FIELD_NUMBER: _ClassVar[int]
    READOUT_SCALE_FIELD_NUMBER: _ClassVar[int]
    READOUT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    EVAL_EVERY_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    INIT_SCALE_FIELD_NUMBER: _ClassVar[int]
    iterations: int
    learning_rate: float
    tau: float
    substeps: int
    trial_dropout: float
    activity_regularization: float
    input_regularization: float
    gp_length: float
    gp_sigma: float
    gp_noise: float
    epoch_breaks: bool
    input_after_go: bool
    readout_scale: str
    readout_offset: bool
    loss: str
    eval_every: int
    patience: int
    init_scale: float
    def __init__(self, iterations: _Optional[int] = ..., learning_rate: _Optional[float] = ..., tau: _Optional[float] = ..., substeps: _Optional[int] = ..., trial_dropout: _Optional[float] = ..., activity_regularization: _Optional[float] = ..., input_regularization: _Optional[float] = ..., gp_length: _Optional[float] = ..., gp_sigma: _Optional[float] = ..., gp_noise: _Optional[float] = ..., epoch_breaks: _Optional[bool] = ..., input_after_go: _Optional[bool] = ..., readout_scale: _Optional[str] = ..., readout_offset: _Optional[bool] = ..., loss: _Optional[str] = ..., eval_every: _Optional[int] = ..., patience: _Optional[int] = ..., init_scale: _Optional[float] = ...) -> None: ...

class MaskSettings(_message.Message):
    __slots__ = ("test_fraction", "validation_fraction", "inner", "outer", "seed")
    TEST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    INNER_FIELD_NUMBER: _ClassVar[int]
    OUTER_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    test_fraction: float
    validation_fraction: float
    inner: _containers.RepeatedScalarFieldContainer[int]
    outer: _containers.RepeatedScalarFieldContainer[int]
    seed: int
    def __init__(self, test_fraction: _Optional[float] = ..., validation_fraction: _Optional[float] = ..., inner: _Optional[_Iterable[int]] = ..., outer: _Optional[_Iterable[int]] = ..., seed: _Optional[int] = ...) -> None: ...

class SweepSpec(_message.Message):
    __slots__ = ("dataset_id", "ranks", "rnn_sizes", "seeds", "hyperparameters", "masks", "cell_resources", "name")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    RANKS_FIELD_NUMBER: _ClassVar[int]
    RNN_SIZES_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    MASKS_FIELD_NUMBER: _ClassVar[int]
    CELL_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    ranks: _containers.RepeatedScalarFieldContainer[int]
    rnn_sizes: _containers.RepeatedScalarFieldContainer[int]
    seeds: _containers.RepeatedScalarFieldContainer[int]
    hyperparameters: FitHyperparameters
    masks: MaskSettings
    cell_resources: _common_pb2.Resources
    name: str
    def __init__(self, dataset_id: _Optional[str] = ..., ranks: _Optional[_Iterable[int]] = ..., rnn_sizes: _Optional[_Iterable[int]] = ..., seeds: _Optional[_Iterable[int]] = ..., hyperparameters: _Optional[_Union[FitHyperparameters, _Mapping]] = ..., masks: _Optional[_Union[MaskSettings, _Mapping]] = ..., cell_resources: _Optional[_Union[_common_pb2.Resources, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class FitLosses(_message.Message):
    __slots__ = ("train", "validation", "test")
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    train: float
    validation: float
    test: float
    def __init__(self, train: _Optional[float] = ..., validation: _Optional[float] = ..., test: _Optional[float] = ...) -> None: ...
