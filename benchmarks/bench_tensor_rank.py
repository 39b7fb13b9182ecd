"""Time tensor_rank against a plain TensorLy parafac loop on the same tensor, in one run.

The baseline is what a user would write by hand: one ``parafac`` call per rank and
replicate with the NumPy backend, and nothing else (no errors, similarities or rank choice).
It starts from the same factors and uses the same stopping settings as tensor_rank. Both
do the same ALS iterations, so the ratio is tensor_rank's overhead plus any backend
difference. ``--torch-cpu`` adds the same loop on TensorLy's PyTorch backend on the
CPU, the measurement behind tensor_rank's choice of NumPy there.

    python benchmarks/bench_tensor_rank.py            # 250 x 200 x 200, ranks 1-8, 3 replicates
    python benchmarks/bench_tensor_rank.py --small    # 60 x 50 x 40, ranks 1-4, 2 replicates
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import tensorly as tl
import torch
from tensorly.cp_tensor import CPTensor
from tensorly.decomposition import parafac

from ltrnn.engine.analysis import tensor_rank
from ltrnn.engine.analysis._backend import tensorly_backend, to_backend

# The starting factors tensor_rank uses, built here outside the timed baseline loop.
from ltrnn.engine.analysis.tensor_rank import _Problem


def planted_tensor(shape, rank, noise, seed=0):
    """Return a random rank-``rank`` CP tensor plus Gaussian noise of relative norm ``noise``."""
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((size, rank)) for size in shape]
    clean = tl.cp_to_tensor((None, factors))
    noise_tensor = rng.standard_normal(shape)
    noise_tensor *= noise * np.linalg.norm(clean) / np.linalg.norm(noise_tensor)
    return clean + noise_tensor


def plain_loop(tensor, ranks, replicates, seed, max_iterations, tolerance, backend):
    """Fit every (rank, replicate) with parafac alone; return (seconds, final errors)."""
    problem = _Problem(tensor, None, None, "numpy", "cpu", max(ranks))
    starts = {
        (rank, replicate): problem.initial_factors(rank, replicate, seed)
        for rank in ranks
        for replicate in range(replicates)
    }
    errors = np.zeros((len(ranks), replicates))
    with tensorly_backend(backend):
        data = to_backend(tensor, backend, "cpu")
        start = time.perf_counter()
        for rank_index, rank in enumerate(ranks):
            for replicate in range(replicates):
                factors = [to_backend(f, backend, "cpu") for f in starts[rank, replicate]]
                init = CPTensor((to_backend(np.ones(rank), backend, "cpu"), factors))
                _, fit_errors = parafac(
                    data, rank, n_iter_max=max_iterations, init=init, tol=tolerance,
                    linesearch=True, return_errors=True,
                )
                errors[rank_index, replicate] = float(fit_errors[-1])
        seconds = time.perf_counter() - start
    return seconds, errors


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="quick check on a small tensor")
    parser.add_argument(
        "--max-iterations", type=int, default=100,
        help="ALS iterations per fit for both runs (default: 100)",
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-8,
        help="stopping tolerance on the change of relative error (default: 1e-8)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="runs of each timing, the fastest is reported (default: 3 with --small, else 1)",
    )
    parser.add_argument(
        "--torch-cpu", action="store_true",
        help="also time the plain loop on TensorLy's PyTorch backend on the CPU",
    )
    args = parser.parse_args()
    repeats = args.repeats
    if repeats is None:
        repeats = 3 if args.small else 1
    settings = (args.max_iterations, args.tolerance)

    if args.small:
        shape, ranks, replicates = (60, 50, 40), list(range(1, 5)), 2
    else:
        shape, ranks, replicates = (250, 200, 200), list(range(1, 9)), 3
    tensor = planted_tensor(shape, rank=5, noise=0.1)
    print(
        f"tensor {shape}, planted rank 5 + 10% noise, ranks {ranks[0]}-{ranks[-1]} x "
        f"{replicates} replicates, max {args.max_iterations} iterations, tol {args.tolerance:g}, "
        f"fastest of {repeats} runs"
    )
    print(
        f"machine: nproc {os.cpu_count()}, CPU {cpu_model()}, numpy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"tensorly {tl.__version__}"
    )

    runs = [plain_loop(tensor, ranks, replicates, 0, *settings, "numpy") for _ in range(repeats)]
    baseline_seconds = min(seconds for seconds, _ in runs)
    baseline_errors = runs[0][1]
    print(f"plain parafac loop, NumPy backend:    {baseline_seconds:8.2f} s")

    seconds = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = tensor_rank(
            tensor, ranks=ranks, replicates=replicates, seed=0,
            max_iterations=args.max_iterations, tolerance=args.tolerance, device="cpu",
        )
        seconds = min(seconds, time.perf_counter() - start)
    print(f"tensor_rank ({result.backend} backend):       {seconds:8.2f} s")
    print(f"ratio tensor_rank / plain loop:       {seconds / baseline_seconds:8.2f}")
    print(
        f"suggested rank {result.suggested_rank}; largest difference of final errors from the "
        f"baseline {np.abs(result.errors - baseline_errors).max():.1e}; "
        f"iterations {int(result.iterations.sum())} in all"
    )

    if args.torch_cpu:
        torch_seconds = min(
            plain_loop(tensor, ranks, replicates, 0, *settings, "pytorch")[0]
            for _ in range(repeats)
        )
        print(f"plain parafac loop, PyTorch backend:  {torch_seconds:8.2f} s")
        print(f"ratio PyTorch / NumPy loop:           {torch_seconds / baseline_seconds:8.2f}")


if __name__ == "__main__":
    main()
