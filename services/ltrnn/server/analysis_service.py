"""The AnalysisService servicer.

NOTE: every RPC still returns UNIMPLEMENTED, the behaviour of the generated base class.
The tensor rank, learning rank, subspace and model analyses are not served yet.
"""

from __future__ import annotations

import logging

from ltrnn.v1 import analysis_pb2_grpc

from .artifacts import ArtifactStore
from .settings import Settings
from .store import JobStore

logger = logging.getLogger(__name__)


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):
    """Implements ltrnn.v1.AnalysisService.

    Parameters
    ----------
    settings : Settings
    store : JobStore or None
        The job store, for SubmitTensorRank jobs; None when the server runs without one.
    artifacts : ArtifactStore
        Where fitted models are read from.
    """

    def __init__(self, settings: Settings, store: JobStore | None, artifacts: ArtifactStore):
        self._settings = settings
        self._store = store
        self._artifacts = artifacts

    def close(self) -> None:
        """Release resources before the server stops."""
