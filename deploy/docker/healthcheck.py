#!/usr/bin/env python3
"""Check the standard gRPC health service of a local ltrnn server.

Exits 0 when the server reports SERVING, 1 otherwise (any other status, a timeout or no
server listening), so the script serves as a container HEALTHCHECK. It reads the same
LTRNN_* variables as the server. LTRNN_PORT sets the port. LTRNN_TLS_CERT switches to TLS
and is the default trust root, which suits a self-signed certificate; pass --tls-root-cert
with the CA file otherwise. The first token of LTRNN_AUTH_TOKEN_FILE is sent as a bearer
token, in case a server requires one on the health service too.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _first_token(path: str) -> str | None:
    with open(path, encoding="utf-8") as token_file:
        for line in token_file:
            token = line.strip()
            if token:
                return token
    return None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    port = os.environ.get("LTRNN_PORT") or "50051"
    parser = argparse.ArgumentParser(
        prog="ltrnn-healthcheck",
        description="Exit 0 when the gRPC health service reports SERVING, else 1.",
    )
    parser.add_argument(
        "--address",
        default=f"127.0.0.1:{port}",
        help="host:port of the server (default: 127.0.0.1:$LTRNN_PORT, port 50051 if unset)",
    )
    parser.add_argument(
        "--service",
        default="",
        help="service name to check, for example ltrnn.v1.FitService (default: '', the whole server)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="seconds to wait for the response (default: 3)",
    )
    parser.add_argument(
        "--tls-root-cert",
        default=os.environ.get("LTRNN_TLS_CERT") or "",
        help="PEM file of trusted certificates; setting it switches to TLS (default: $LTRNN_TLS_CERT)",
    )
    parser.add_argument(
        "--tls-server-name",
        default="localhost",
        help="name the server certificate must carry when TLS is on (default: localhost)",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    return args


def _open_channel(args: argparse.Namespace) -> grpc.Channel:
    if not args.tls_root_cert:
        return grpc.insecure_channel(args.address)
    with open(args.tls_root_cert, "rb") as cert_file:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert_file.read())
    options = [("grpc.ssl_target_name_override", args.tls_server_name)]
    return grpc.secure_channel(args.address, credentials, options=options)


def main(argv: list[str] | None = None) -> int:
    """Run one health check and return the exit status (0 SERVING, 1 anything else)."""
    args = _parse_args(argv)

    metadata = []
    token_path = os.environ.get("LTRNN_AUTH_TOKEN_FILE")
    if token_path:
        token = _first_token(token_path)
        if token:
            metadata.append(("authorization", f"Bearer {token}"))

    with _open_channel(args) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=args.service)
        try:
            response = stub.Check(request, timeout=args.timeout, metadata=metadata)
        except grpc.RpcError as error:
            print(
                f"health check of {args.address} failed: {error.code().name}: {error.details()}",
                file=sys.stderr,
            )
            return 1

    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"{args.address} reports {status}", file=sys.stderr)
        return 1
    print(f"{args.address} reports {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
