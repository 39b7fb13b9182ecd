"""Task-trained RNN experiment: a ground-truth learning tensor from curl-field adaptation.

A tanh RNN is pre-trained to move a point-mass hand to one of several targets, then learns
trial by trial (one SGD step on its recurrent weights per trial) through baseline,
curl-field and washout epochs. The recorded weights, rates and hand paths let the rest of
the engine check tensor-rank and subspace recovery against a known truth. The command-line
entry lives in :mod:`ltrnn.engine.taskrnn.cli`.
"""

from .config import TaskRNNConfig
from .experiment import TaskRNNExperiment
from .generate import GenerationProgress, generate_task_rnn
from .io import load_experiment, save_experiment

__all__ = [
    "GenerationProgress",
    "TaskRNNConfig",
    "TaskRNNExperiment",
    "generate_task_rnn",
    "load_experiment",
    "save_experiment",
]
