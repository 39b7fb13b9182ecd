"""Recover a planted rank and subspace at a realistic size.

    python benchmarks/planted_rank.py --ranks 1 2 3 4 5 6 --iterations 1000

Simulates a recording from a rank-3 ltrRNN (250 trials in 3 epochs, 8 conditions, 100
neurons, 41 bins of which 20 are preparatory, Gaussian noise), fits every rank and prints the
held-out loss per rank, the gain ratio (loss(3) - loss(max rank)) / (loss(1) - loss(3)) and
the principal angles between the fitted and the true subspace in neuron space.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.linalg import subspace_angles

from ltrnn.engine.config import FitConfig
from ltrnn.engine.fitting import fit
from ltrnn.engine.synthetic import simulate_recording


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--true-rank", type=int, default=3)
    parser.add_argument("--rnn-size", type=int, default=50, help="units N of the fitted RNNs")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--noise", type=float, default=0.1,
                        help="noise standard deviation as a fraction of the data's")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated recording")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    recording, truth = simulate_recording(
        rank=args.true_rank, n_trials=250, n_neurons=100, rnn_size=100, n_conditions=8,
        n_epochs=3, n_times=41, n_preparatory=20, noise=args.noise, seed=args.seed,
    )
    true_subspace = truth.readout @ truth.column_factors
    print(f"recording {recording.shape}, planted rank {args.true_rank}, noise {args.noise}")
    heldout = {}
    for rank in args.ranks:
        config = FitConfig(rank=rank, rnn_size=args.rnn_size, iterations=args.iterations,
                           learning_rate=args.learning_rate, patience=args.iterations)
        start = time.perf_counter()
        result = fit(recording, config, device="cpu")
        heldout[rank] = result.losses["test"]
        angles = ""
        if rank == args.true_rank:
            degrees = np.degrees(subspace_angles(result.neural_subspace(), true_subspace))
            angles = f", principal angles to the truth {np.round(np.sort(degrees), 1).tolist()} deg"
        print(f"rank {rank}: test loss {heldout[rank]:.4f}, {time.perf_counter() - start:.0f} s{angles}",
              flush=True)

    true_rank, largest, smallest = args.true_rank, max(heldout), min(heldout)
    if {smallest, true_rank, largest} <= set(heldout) and smallest < true_rank < largest:
        ratio = (heldout[true_rank] - heldout[largest]) / (heldout[smallest] - heldout[true_rank])
        print(f"best rank {min(heldout, key=heldout.get)}; gain after rank {true_rank} is "
              f"{100 * ratio:.1f}% of the gain up to it")


if __name__ == "__main__":
    main()
