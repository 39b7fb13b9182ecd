"""The committed Python stubs match the .proto files and import inside the namespace package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PACKAGE = PROTO_ROOT / "ltrnn" / "v1"
VERSION_LINES = re.compile(r"^(# Protobuf Python Version: .*|GRPC_GENERATED_VERSION = .*)$", re.M)
FIX = "run proto/generate.sh and commit the stubs"


def _protoc(*outputs: str) -> None:
    pytest.importorskip("grpc_tools")
    protos = sorted(str(path.relative_to(PROTO_ROOT)) for path in PACKAGE.glob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", *outputs, *protos],
        cwd=PROTO_ROOT, check=True, capture_output=True,
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stubs")
    _protoc(f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}",
            f"--descriptor_set_out={out / 'descriptors.pb'}")
    return out


def test_every_stub_is_committed(fresh):
    generated = sorted(path.name for path in (fresh / "ltrnn" / "v1").iterdir())
    committed = sorted(path.name for path in PACKAGE.iterdir() if path.suffix in (".py", ".pyi"))
    assert committed == generated, FIX


def _clear_json_names(messages) -> None:
    # protoc writes json_name into descriptor sets but not into the _pb2 modules.
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _clear_json_names(message.nested_type)


def test_descriptors_match_proto_files(fresh):
    from importlib import import_module

    descriptors = descriptor_pb2.FileDescriptorSet.FromString((fresh / "descriptors.pb").read_bytes())
    assert descriptors.file
    for expected in descriptors.file:
        _clear_json_names(expected.message_type)
        module = import_module("ltrnn.v1." + Path(expected.name).stem + "_pb2")
        committed = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert committed == expected, f"{expected.name} changed; {FIX}"


def test_stub_text_matches_when_generators_match(fresh):
    for path in sorted((fresh / "ltrnn" / "v1").iterdir()):
        committed = (PACKAGE / path.name).read_text()
        generated = path.read_text()
        if VERSION_LINES.findall(committed) != VERSION_LINES.findall(generated):
            # A newer grpcio-tools writes other version checks; the descriptors still agree.
            continue
        assert committed == generated, f"{path.name} is stale; {FIX}"


def test_service_methods_match(fresh):
    pattern = re.compile(r"'/ltrnn\.v1\.\w+/\w+'")
    for name in ("fit_pb2_grpc.py", "analysis_pb2_grpc.py"):
        committed = set(pattern.findall((PACKAGE / name).read_text()))
        generated = set(pattern.findall((fresh / "ltrnn" / "v1" / name).read_text()))
        assert committed == generated, f"{name} is stale; {FIX}"


def test_stubs_import_inside_namespace_package():
    from ltrnn.v1 import analysis_pb2_grpc, fit_pb2, fit_pb2_grpc

    assert "SubmitSweep" in fit_pb2.DESCRIPTOR.services_by_name["FitService"].methods_by_name
    assert hasattr(fit_pb2_grpc, "FitServiceStub")
    assert hasattr(analysis_pb2_grpc, "AnalysisServiceServicer")
    assert not (ROOT / "proto" / "ltrnn" / "__init__.py").exists()
