"""Benchmark one ltrRNN training iteration: factored model against the dense weight tensor.

Each variant runs in its own subprocess so that its peak resident memory is its own.

    python benchmarks/bench_engine.py            # 250 trials, N=200, R=5, 41 bins, 100 neurons
    python benchmarks/bench_engine.py --quick    # smaller, for a smoke run
    python benchmarks/bench_engine.py --fit-iterations 2000   # also time a whole fit

Reports milliseconds per iteration (median of repeats), ratios against the factored model
with one thread measured in the same run, and peak memory growth during the iterations.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time


def _dense_integrate(column, row, trial_factors, inputs, initial, bias, tau, substeps):
    import torch

    weights = torch.einsum("kr,ir,jr->kij", trial_factors, column, row)
    x = initial @ column.T
    step = 1.0 / (tau * substeps)
    states = [x]
    for t in range(inputs.shape[1] - 1):
        drive = (inputs[:, t] + bias) @ column.T
        for _ in range(substeps):
            recurrent = torch.bmm(weights, torch.tanh(x).unsqueeze(-1)).squeeze(-1)
            x = x + step * (-x + recurrent + drive)
        states.append(x)
    return torch.tanh(torch.stack(states, dim=1))


def run_variant(variant: str, threads: int, sizes: dict, repeats: int) -> dict:
    """Time forward + backward + Adam step of one variant in this process."""
    import numpy as np
    import torch

    from ltrnn.engine import losses
    from ltrnn.engine.config import FitConfig
    from ltrnn.engine.fitting import _build_model
    from ltrnn.engine.masks import make_block_masks
    from ltrnn.engine.synthetic import simulate_recording

    torch.set_num_threads(threads)
    recording, _ = simulate_recording(
        rank=sizes["rank"], n_trials=sizes["trials"], n_neurons=sizes["neurons"],
        rnn_size=sizes["rnn_size"], n_times=sizes["times"], n_preparatory=sizes["times"] // 2,
        seed=0,
    )
    config = FitConfig(rank=sizes["rank"], rnn_size=sizes["rnn_size"])
    masks = make_block_masks(recording.shape).restrict(recording.mask)
    model = _build_model(recording, config, masks, "gaussian", torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = torch.as_tensor(np.nan_to_num(recording.data), dtype=torch.float32)
    train = torch.as_tensor(masks.train)
    condition_index = torch.as_tensor(recording.condition_index)
    trials = torch.arange(recording.n_trials)

    def iteration():
        if variant == "factored":
            prediction, _, _ = model(trials, condition_index)
        else:
            params = model.parameters_view()
            rates = _dense_integrate(
                params.column, params.row, params.trial_factors,
                params.inputs[condition_index], params.initial[condition_index], params.bias,
                config.tau, config.substeps,
            )
            prediction = ((rates @ params.readout.T) * params.scale + params.offset).transpose(1, 2)
        loss = losses.data_loss(prediction, target, train, "gaussian")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    iteration()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - start)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "variant": variant,
        "threads": threads,
        "ms_per_iteration": 1000 * statistics.median(times),
        "peak_rss_mib": rss_after / 1024,
        "peak_growth_mib": (rss_after - rss_before) / 1024,
    }


def time_fit(threads: int, sizes: dict, iterations: int) -> dict:
    import torch

    from ltrnn.engine.config import FitConfig
    from ltrnn.engine.fitting import fit
    from ltrnn.engine.synthetic import simulate_recording

    torch.set_num_threads(threads)
    recording, _ = simulate_recording(
        rank=sizes["rank"], n_trials=sizes["trials"], n_neurons=sizes["neurons"],
        rnn_size=sizes["rnn_size"], n_times=sizes["times"], n_preparatory=sizes["times"] // 2,
        seed=0,
    )
    config = FitConfig(rank=sizes["rank"], rnn_size=sizes["rnn_size"], iterations=iterations,
                       patience=iterations)
    start = time.perf_counter()
    result = fit(recording, config, device="cpu")
    return {
        "variant": "fit",
        "threads": threads,
        "iterations": result.iterations_run,
        "seconds": time.perf_counter() - start,
        "seconds_per_iteration": result.seconds_per_iteration,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="use small sizes for a smoke run")
    parser.add_argument("--repeats", type=int, default=10, help="timed iterations per variant")
    parser.add_argument("--fit-iterations", type=int, default=100,
                        help="iterations of the whole-fit timing (default 100; 2000 for the full run)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    sizes = dict(trials=250, rnn_size=200, rank=5, times=41, neurons=100)
    if args.quick:
        sizes = dict(trials=40, rnn_size=40, rank=3, times=15, neurons=20)

    if args.worker:
        job = json.loads(args.worker)
        if job["variant"] == "fit":
            print(json.dumps(time_fit(job["threads"], sizes, args.fit_iterations)))
        else:
            print(json.dumps(run_variant(job["variant"], job["threads"], sizes, args.repeats)))
        return

    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"sizes: {sizes}")
    rows = []
    for job in (
        {"variant": "factored", "threads": 1},
        {"variant": "factored", "threads": 2},
        {"variant": "dense", "threads": 1},
        {"variant": "dense", "threads": 2},
        {"variant": "fit", "threads": 1},
    ):
        command = [sys.executable, __file__, "--worker", json.dumps(job),
                   "--repeats", str(args.repeats), "--fit-iterations", str(args.fit_iterations)]
        if args.quick:
            command.append("--quick")
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))

    baseline = rows[0]["ms_per_iteration"]
    print(f"{'variant':<10} {'threads':>7} {'ms/iter':>9} {'x factored-1':>13} {'peak MiB':>9} {'growth MiB':>11}")
    for row in rows[:4]:
        print(f"{row['variant']:<10} {row['threads']:>7} {row['ms_per_iteration']:>9.1f} "
              f"{row['ms_per_iteration'] / baseline:>13.2f} {row['peak_rss_mib']:>9.0f} "
              f"{row['peak_growth_mib']:>11.0f}")
    fit_row = rows[4]
    print(f"fit(): {fit_row['iterations']} iterations in {fit_row['seconds']:.1f} s, "
          f"{fit_row['seconds_per_iteration']:.3f} s per iteration (validation every 10 included); "
          f"2000 iterations would take about {2000 * fit_row['seconds_per_iteration'] / 60:.1f} min")


if __name__ == "__main__":
    main()
