"""Python SDK of ltrnn: upload recordings, run rank sweeps, read models and analyses.

>>> from ltrnn.sdk import embedded_server  # doctest: +SKIP
>>> with embedded_server() as server:  # doctest: +SKIP
...     client = server.connect()
...     result = client.sweep("session.npz", ranks=[1, 2, 3]).watch().result()

Connect to a running server (``ltrnn serve``) with :func:`connect` or :class:`Client`.
Failed calls raise a subclass of :class:`LtrnnError` chosen by the gRPC status code.
"""

from .client import Client, EpochSubspace, RecordingEpoch, connect
from .embedded import EmbeddedServer, embedded_server
from .errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    LtrnnError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from .jobs import CellStatus, Job
from .results import (
    CellResult,
    LearningRanksResult,
    Model,
    ModelAnalysisResult,
    RankSummary,
    SubspacesResult,
    SweepResult,
    TensorRankResult,
)

__all__ = [
    "AlreadyExists",
    "Cancelled",
    "CellResult",
    "CellStatus",
    "Client",
    "DeadlineExceeded",
    "EmbeddedServer",
    "EpochSubspace",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "Job",
    "LearningRanksResult",
    "LtrnnError",
    "Model",
    "ModelAnalysisResult",
    "NotFound",
    "PermissionDenied",
    "RankSummary",
    "RecordingEpoch",
    "ResourceExhausted",
    "SubspacesResult",
    "SweepResult",
    "TensorRankResult",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "connect",
    "embedded_server",
]
