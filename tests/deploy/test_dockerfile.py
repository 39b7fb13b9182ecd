"""Structural checks of deploy/docker/Dockerfile (no Docker engine runs in CI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from deploy_helpers import DEPLOY, REPO, dockerfile_arg_defaults, parse_dockerfile

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"


@pytest.fixture(scope="module")
def instructions():
    return parse_dockerfile(DOCKERFILE)


@pytest.fixture(scope="module")
def arg_defaults(instructions):
    return dockerfile_arg_defaults(instructions)


def _resolve(text: str, arg_defaults: dict) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: arg_defaults[m.group(1) or m.group(2)], text)


def _final_stage(instructions):
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1]:]


def _project_requirement(name: str) -> Requirement:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency in pyproject.toml")


def test_parser_joins_continuations(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("# comment\nFROM a:1.2.3\nRUN one \\\n    # inside\n    two\nUSER 5\n")
    assert parse_dockerfile(dockerfile) == [("FROM", "a:1.2.3"), ("RUN", "one two"), ("USER", "5")]


def test_base_image_pinned(instructions, arg_defaults):
    images = [_resolve(arguments.split()[0], arg_defaults) for keyword, arguments in instructions if keyword == "FROM"]
    assert images, "no FROM instruction"
    for image in images:
        name, _, digest = image.partition("@")
        tag = name.rpartition(":")[2] if ":" in name else ""
        pinned_by_digest = re.fullmatch(r"sha256:[0-9a-f]{64}", digest) is not None
        pinned_by_version = re.match(r"\d+\.\d+\.\d+", tag) is not None
        assert pinned_by_digest or pinned_by_version, f"base image {image!r} is not pinned"


def test_final_user_is_numeric_non_root(instructions):
    users = [arguments for keyword, arguments in _final_stage(instructions) if keyword == "USER"]
    assert users, "the final stage sets no USER, so the image runs as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit(), f"USER {users[-1]} must be numeric for runAsNonRoot checks"
    assert int(user) != 0, "USER 0 is root"
    if group:
        assert group.isdigit(), f"group of USER {users[-1]} must be numeric"
        assert int(group) != 0, "group 0 is root"


def test_entrypoint_healthcheck_and_ports(instructions):
    final = dict(_final_stage(instructions))
    assert "ltrnn-entrypoint" in final.get("ENTRYPOINT", "")
    assert "CMD" in final
    assert "ltrnn-healthcheck" in final.get("HEALTHCHECK", "")
    exposed = {int(port) for _, arguments in _final_stage(instructions) if _ == "EXPOSE" for port in arguments.split()}
    assert exposed == {50051, 9464}


def test_copied_sources_exist(instructions):
    for keyword, arguments in instructions:
        if keyword != "COPY" or "--from" in arguments:
            continue
        sources = [part for part in arguments.split() if not part.startswith("--")][:-1]
        for source in sources:
            assert (REPO / source).exists(), f"COPY source {source} does not exist"


def test_torch_and_ray_pins_fit_project(arg_defaults):
    torch_version = arg_defaults["TORCH_VERSION"]
    ray_version = arg_defaults["RAY_VERSION"]
    assert _project_requirement("torch").specifier.contains(torch_version)
    assert _project_requirement("ray").specifier.contains(ray_version)
    ci_script = (REPO / ".ci" / "run").read_text()
    assert f"torch=={torch_version}" in ci_script, "CI and the image should test the same torch"


def test_torch_comes_from_variant_index(instructions):
    torch_installs = [arguments for keyword, arguments in instructions if keyword == "RUN" and "torch==" in arguments]
    assert len(torch_installs) == 1
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in torch_installs[0]


def test_dockerignore_keeps_build_inputs():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml", "README.md", "proto", "services", "clients", "deploy/docker"]
    for path in needed:
        assert not any(Path(path).match(pattern) or path == pattern for pattern in patterns), path
    assert ".venv" in patterns
    assert ".git" in patterns
