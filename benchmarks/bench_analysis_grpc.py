"""Time TensorRank over gRPC against a direct tensor_rank call on the same tensor, in one run.

The server is the AnalysisService alone (no fit service, no Ray) on a free loopback port in
this process. The gRPC time covers encoding the request, the transfer, the server's checks,
the same engine call and decoding the reply. The direct time is the engine call alone. The
ratio is the service's overhead factor. Each size runs ``--repeats`` times, alternating the
two variants, and the medians are compared. The "rejected" column is the round trip of the
same tensor with an invalid rank: encoding, transfer, decoding and the input checks, with
no CP fit, so it is the fixed cost of the service for that tensor.

    python benchmarks/bench_analysis_grpc.py
    python benchmarks/bench_analysis_grpc.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import grpc
import numpy as np

from ltrnn.engine.analysis import tensor_rank
from ltrnn.server.analysis.limits import MAX_ALS_ITERATIONS
from ltrnn.server.app import create_server
from ltrnn.server.settings import Settings
from ltrnn.server.tensors import from_tensor, to_tensor
from ltrnn.v1 import analysis_pb2, analysis_pb2_grpc

# (shape, ranks, replicates): overhead-dominated, small and medium requests.
CASES = (
    ((10, 8, 6), [1, 2, 3], 2),
    ((30, 25, 20), [1, 2, 3, 4], 3),
    ((40, 35, 30), [1, 2, 3, 4, 5], 3),
)


def planted_tensor(shape, rank=3, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((size, rank)) for size in shape]
    clean = np.einsum("ir,jr,kr->ijk", *factors)
    extra = rng.standard_normal(shape)
    return clean + noise * np.linalg.norm(clean) / np.linalg.norm(extra) * extra


def time_case(stub, shape, ranks, replicates, repeats):
    tensor = planted_tensor(shape)
    request = analysis_pb2.TensorRankRequest(
        tensor=to_tensor(tensor), ranks=ranks, replicates=replicates
    )
    invalid = analysis_pb2.TensorRankRequest()
    invalid.CopyFrom(request)
    invalid.ranks[:] = [max(shape) + 1]
    direct_times, grpc_times, rejected_times = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        direct = tensor_rank(tensor, ranks=ranks, replicates=replicates,
                             max_iterations=MAX_ALS_ITERATIONS)
        direct_times.append(time.perf_counter() - start)

        start = time.perf_counter()
        reply = stub.TensorRank(request, timeout=600)
        errors = from_tensor(reply.errors)
        grpc_times.append(time.perf_counter() - start)

        start = time.perf_counter()
        try:
            stub.TensorRank(invalid, timeout=600)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        rejected_times.append(time.perf_counter() - start)
    assert reply.suggested_rank == direct.suggested_rank
    assert np.allclose(errors, direct.errors)
    return (
        statistics.median(direct_times), statistics.median(grpc_times),
        statistics.median(rejected_times), reply.suggested_rank,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per size and variant")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, numpy {np.__version__}, grpcio {grpc.__version__}")
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(port=0, metrics_port=0, data_dir=data_dir, grace_seconds=0)
        server = create_server(settings, services=("analysis",))
        try:
            with grpc.insecure_channel(server.address) as channel:
                stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
                print("| tensor | ranks x replicates | direct s | gRPC s | gRPC - direct s "
                      "| x direct | rejected s | suggested |")
                print("|---|---|---|---|---|---|---|---|")
                for shape, ranks, replicates in CASES:
                    direct, remote, rejected, suggested = time_case(
                        stub, shape, ranks, replicates, args.repeats
                    )
                    print(f"| {' x '.join(map(str, shape))} | {ranks[0]}-{ranks[-1]} x "
                          f"{replicates} | {direct:.3f} | {remote:.3f} | {remote - direct:+.3f} "
                          f"| {remote / direct:.2f} | {rejected:.4f} | {suggested} |")
        finally:
            server.stop(0)


if __name__ == "__main__":
    main()
