"""Fit ltrRNNs to the shipped real session and compare held-out loss with two baselines.

    python benchmarks/real_session.py --ranks 1 2 3 4 --rnn-size 50 --iterations 600

The baselines are scored on the same held-out (test) entries with the same normalised
Poisson deviance: each neuron's mean in each bin over training trials, and the per-condition
mean (PSTH).
"""

from __future__ import annotations

import argparse
import time

import torch

from ltrnn.datasets import load_hennig2018
from ltrnn.engine.baselines import baseline_losses
from ltrnn.engine.config import FitConfig
from ltrnn.engine.fitting import fit
from ltrnn.engine.masks import make_block_masks


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--rnn-size", type=int, default=50, help="RNN units N")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--max-bins", type=int, default=30,
                        help="bins kept per trial, the 5 preparatory bins included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    recording = load_hennig2018(max_bins=args.max_bins)
    masks = make_block_masks(recording.shape, seed=0)
    print(f"recording: {recording.shape} (trials, neurons, bins), kind={recording.kind}")
    for name, scores in baseline_losses(recording, masks).items():
        print(f"baseline {name:<16} test loss {scores['test']:.4f}")
    for rank in args.ranks:
        config = FitConfig(rank=rank, rnn_size=args.rnn_size, iterations=args.iterations,
                           learning_rate=args.learning_rate, seed=args.seed)
        start = time.perf_counter()
        result = fit(recording, config, masks=masks, device="cpu")
        print(f"ltrRNN rank {rank} N={args.rnn_size}: test loss {result.losses['test']:.4f} "
              f"(validation {result.losses['validation']:.4f}, train {result.losses['train']:.4f}), "
              f"{result.iterations_run} iterations, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
