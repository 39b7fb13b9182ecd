"""Analysis of learning tensors: CP rank, ranks of weight changes, and subspaces.

Plain numpy, scipy and TensorLy code with no transport: the analysis service wraps these
functions.
"""

from .learning_ranks import LearningRanksResult, learning_ranks
from .subspaces import (
    EpochSubspaceAngles,
    epoch_subspace_angles,
    principal_angles,
    principal_subspace,
    variance_captured,
)
from .tensor_rank import (
    CPFit,
    TensorRankCancelled,
    TensorRankProgress,
    TensorRankResult,
    factor_similarity,
    tensor_rank,
)

__all__ = [
    "CPFit",
    "EpochSubspaceAngles",
    "LearningRanksResult",
    "TensorRankCancelled",
    "TensorRankProgress",
    "TensorRankResult",
    "epoch_subspace_angles",
    "factor_similarity",
    "learning_ranks",
    "principal_angles",
    "principal_subspace",
    "tensor_rank",
    "variance_captured",
]
