#!/usr/bin/env bash
# Regenerate the Python stubs of the ltrnn.v1 API next to the .proto files.
# Run from anywhere; needs grpcio-tools (the project's "test" extra).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto \
    --grpc_python_out=proto proto/ltrnn/v1/*.proto
