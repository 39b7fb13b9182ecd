"""Helpers of the hardening tests: test certificates, data directory snapshots, RPC tables."""

from __future__ import annotations

import datetime
import ipaddress
import sqlite3
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ltrnn.v1 import analysis_pb2, fit_pb2

SERVICES = (
    fit_pb2.DESCRIPTOR.services_by_name["FitService"],
    analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"],
)


def self_signed_certificate(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """Write a self-signed certificate for localhost and 127.0.0.1 and its key.

    Returns
    -------
    (certificate path, key path), both PEM.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def every_rpc():
    """Yield (full method path, method descriptor) of every FitService and AnalysisService RPC."""
    for service in SERVICES:
        for method in service.methods:
            yield f"/{service.full_name}/{method.name}", method


def call_raw(channel, path: str, method, metadata=(), timeout: float = 10.0):
    """Call ``path`` with an empty request of its type, whatever its streaming kind.

    Streaming responses are read to the end, so that their status is raised here.
    """
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    arguments = {
        "request_serializer": request_class.SerializeToString,
        "response_deserializer": response_class.FromString,
    }
    if method.client_streaming and method.server_streaming:
        raise NotImplementedError(f"{path} streams both ways; no such RPC is expected")
    if method.client_streaming:
        call = channel.stream_unary(path, **arguments)
        return call(iter([request_class()]), metadata=metadata, timeout=timeout)
    if method.server_streaming:
        call = channel.unary_stream(path, **arguments)
        return list(call(request_class(), metadata=metadata, timeout=timeout))
    call = channel.unary_unary(path, **arguments)
    return call(request_class(), metadata=metadata, timeout=timeout)


def health_status(channel, service: str = "") -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=10
    )
    return reply.status


def snapshot(data_dir: Path, database: Path) -> dict:
    """Return every file under ``data_dir`` (path, size, mtime) and the row counts of the job
    store, to show that a request wrote nothing."""
    files = sorted(
        (str(path.relative_to(data_dir)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in Path(data_dir).rglob("*")
        if path.is_file() and not path.name.startswith(database.name)
    )
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("jobs", "cells", "events")
        }
    return {"files": files, "rows": rows}


def status_of(call) -> grpc.StatusCode:
    """Run ``call()`` and return the status code of the RpcError it raises (OK when none)."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK
