"""Benchmark a rank sweep through the fit service against calling the engine directly.

One run measures, on the same simulated recording and the same grid of cells:

1. the engine's ``fit`` called for each cell in turn in this process (the baseline);
2. the sweep submitted to a real FitService on loopback with a local Ray runtime of 1 CPU;
3. the same with a local Ray runtime of 2 CPUs.

Each service run first fits one small warm-up sweep so that Ray's worker processes exist and
have imported torch. The timed sweeps then measure scheduling, transfer and storage cost
rather than process start-up. Every measurement is repeated and the fastest repeat is kept,
which damps the noise of a shared machine. The report gives the speed-up of 2 workers over
1 and the service's overhead per cell in two forms: (service time with 1 worker - direct
time) / cells, and (service time with 1 worker - fit time inside the workers) / cells.

Usage::

    python benchmarks/bench_sweep.py --ranks 1 2 3 4 --seeds 0 1 --iterations 100
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import grpc
import ray
import torch

from ltrnn.engine.config import FitConfig
from ltrnn.engine.fitting import fit
from ltrnn.engine.io import save_npz
from ltrnn.engine.masks import MaskConfig
from ltrnn.engine.synthetic import simulate_recording
from ltrnn.server.app import create_server
from ltrnn.server.settings import Settings
from ltrnn.v1 import common_pb2, fit_pb2, fit_pb2_grpc, sweep_pb2

CHUNK_BYTES = 1024 * 1024


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3, 4], help="ranks of the grid")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the grid")
    parser.add_argument("--rnn-size", type=int, default=20, help="RNN size N of every cell")
    parser.add_argument("--iterations", type=int, default=100, help="iterations of every cell")
    parser.add_argument("--trials", type=int, default=60, help="trials K of the recording")
    parser.add_argument("--neurons", type=int, default=20, help="neurons M of the recording")
    parser.add_argument("--times", type=int, default=20, help="time bins T of the recording")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="CPUs of the local Ray runtime for each service run")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats of each measurement")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def make_recording(args):
    recording, _ = simulate_recording(
        rank=2, n_trials=args.trials, n_neurons=args.neurons, rnn_size=args.rnn_size,
        n_conditions=4, n_epochs=2, n_times=args.times, n_preparatory=args.times // 4, seed=0,
    )
    return recording


def config_for(args, rank: int, seed: int) -> FitConfig:
    # patience = iterations turns early stopping off, so every cell runs the same iterations.
    return FitConfig(
        rank=rank, rnn_size=args.rnn_size, seed=seed, iterations=args.iterations,
        patience=args.iterations,
    )


def time_direct(args, recording) -> float:
    """Fit every cell in turn in this process with one torch thread; return the seconds."""
    torch.set_num_threads(1)
    fit(recording, config_for(args, 1, 0).replace(iterations=5), device="cpu")
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for rank in args.ranks:
            for seed in args.seeds:
                fit(recording, config_for(args, rank, seed), mask_config=MaskConfig(), device="cpu")
        timings.append(time.perf_counter() - start)
    return min(timings)


def sweep_request(args, dataset_id: str, ranks, seeds) -> fit_pb2.SubmitSweepRequest:
    return fit_pb2.SubmitSweepRequest(sweep=sweep_pb2.SweepSpec(
        dataset_id=dataset_id, ranks=list(ranks), rnn_sizes=[args.rnn_size], seeds=list(seeds),
        hyperparameters=sweep_pb2.FitHyperparameters(
            iterations=args.iterations, patience=args.iterations,
        ),
        cell_resources=common_pb2.Resources(num_cpus=1),
    ))


def run_sweep(stub, request) -> tuple[float, fit_pb2.SweepResult]:
    start = time.perf_counter()
    job_id = stub.SubmitSweep(request).job.job_id
    for _event in stub.WatchJob(fit_pb2.WatchJobRequest(job_id=job_id, exclude_progress=True)):
        pass  # the stream ends when the job does
    seconds = time.perf_counter() - start
    result = stub.GetSweepResult(fit_pb2.GetSweepResultRequest(job_id=job_id))
    states = {row.state for row in result.cells}
    if states != {common_pb2.CELL_STATE_SUCCEEDED}:
        raise RuntimeError(f"the sweep did not succeed: {result}")
    return seconds, result


def time_service(args, dataset: bytes, workers: int, data_dir: Path) -> dict:
    """Run the sweep through a fresh server on a local Ray runtime of ``workers`` CPUs."""
    ray.init(address="local", num_cpus=workers, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    server = create_server(Settings(port=0, metrics_port=0, data_dir=str(data_dir), grace_seconds=0))
    try:
        stub = fit_pb2_grpc.FitServiceStub(grpc.insecure_channel(server.address))
        header = fit_pb2.DatasetHeader(
            name="bench", sha256=hashlib.sha256(dataset).hexdigest(), total_bytes=len(dataset)
        )
        chunks = [fit_pb2.UploadDatasetRequest(header=header)] + [
            fit_pb2.UploadDatasetRequest(chunk=dataset[i:i + CHUNK_BYTES])
            for i in range(0, len(dataset), CHUNK_BYTES)
        ]
        dataset_id = stub.UploadDataset(iter(chunks)).dataset_id
        warm_up = sweep_request(args, dataset_id, [1], list(range(workers)))
        warm_up.sweep.hyperparameters.iterations = 5
        run_sweep(stub, warm_up)
        timings = []
        for _ in range(args.repeats):
            seconds, result = run_sweep(stub, sweep_request(args, dataset_id, args.ranks, args.seeds))
            timings.append((seconds, sum(row.seconds for row in result.cells)))
        seconds, fit_seconds = min(timings)
        return {"workers": workers, "seconds": seconds, "fit_seconds_in_workers": fit_seconds}
    finally:
        server.stop(grace=0)
        ray.shutdown()


def main(argv=None) -> int:
    args = parse_arguments(argv)
    cells = len(args.ranks) * len(args.seeds)
    load_before = os.getloadavg()[0]
    recording = make_recording(args)
    with tempfile.TemporaryDirectory(prefix="ltrnn-bench-") as directory:
        path = Path(directory) / "recording.npz"
        save_npz(recording, path)
        dataset = path.read_bytes()
        direct = time_direct(args, recording)
        runs = [time_service(args, dataset, n, Path(directory) / f"data-{n}") for n in args.workers]

    by_workers = {run["workers"]: run for run in runs}
    results = {
        "grid": {"ranks": args.ranks, "seeds": args.seeds, "rnn_size": args.rnn_size,
                 "iterations": args.iterations, "cells": cells},
        "recording": list(recording.shape),
        "direct_seconds": direct,
        "service": runs,
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}, "
                   f"Python {platform.python_version()}, torch {torch.__version__}, "
                   f"ray {ray.__version__}",
    }
    print(f"grid: {cells} cells (ranks {args.ranks} x seeds {args.seeds}), N={args.rnn_size}, "
          f"{args.iterations} iterations, recording {tuple(recording.shape)}")
    print(f"1-minute load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
          f"on {os.cpu_count()} cores")
    print(f"direct fit, one after another: {direct:.2f} s ({direct / cells:.2f} s per cell)")
    for run in runs:
        print(f"service, {run['workers']} Ray worker CPU(s): {run['seconds']:.2f} s "
              f"(fits inside workers: {run['fit_seconds_in_workers']:.2f} s summed)")
    if 1 in by_workers:
        overhead = (by_workers[1]["seconds"] - direct) / cells
        outside = (by_workers[1]["seconds"] - by_workers[1]["fit_seconds_in_workers"]) / cells
        results["overhead_seconds_per_cell"] = overhead
        results["outside_fit_seconds_per_cell"] = outside
        print(f"service overhead per cell (1 worker vs direct): {overhead:.3f} s")
        print(f"service time per cell outside the fit (1 worker): {outside:.3f} s")
    if 1 in by_workers and 2 in by_workers:
        speedup = by_workers[1]["seconds"] / by_workers[2]["seconds"]
        results["speedup_2_over_1"] = speedup
        print(f"speed-up of 2 workers over 1: {speedup:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
