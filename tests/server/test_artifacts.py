"""The artifact store: safe ids, content addressing and atomic writes."""

from __future__ import annotations

import hashlib
import os

import pytest

from ltrnn.server.artifacts import ArtifactStore, InvalidIdError, check_id


@pytest.mark.parametrize("value", ["a" * 64, "0123abcdef", "job_1-2", "A" * 128])
def test_valid_ids_pass(value):
    assert check_id("job_id", value) == value


@pytest.mark.parametrize(
    "value, match",
    [
        ("", "job_id is missing"),
        ("../etc/passwd", "never paths"),
        ("a/b", "never paths"),
        ("a\\b", "never paths"),
        ("..", "never paths"),
        (".hidden", "never paths"),
        ("a.npz", "never paths"),
        ("abc\n", "never paths"),
        ("x" * 129, "never paths"),
        ("caf\u00e9", "never paths"),
    ],
)
def test_invalid_ids_raise(value, match):
    with pytest.raises(InvalidIdError, match=match):
        check_id("job_id", value)


def test_models_are_content_addressed(tmp_path):
    store = ArtifactStore(tmp_path)
    content = b"model bytes"
    model_id = store.add_model(content, {"job_id": "j"})
    assert model_id == hashlib.sha256(content).hexdigest()
    assert store.model_path(model_id).read_bytes() == content
    assert store.add_model(content, {"job_id": "other"}) == model_id
    assert store.model_info(model_id) == {"job_id": "j"}
    assert os.listdir(tmp_path / "tmp") == []


def test_dataset_moves_into_place_once(tmp_path):
    store = ArtifactStore(tmp_path)
    sha = "a" * 64
    first = store.temporary_path(".npz")
    first.write_bytes(b"data")
    assert store.add_dataset(first, sha, {"name": "one"})
    assert not first.exists()
    second = store.temporary_path(".npz")
    second.write_bytes(b"data")
    assert not store.add_dataset(second, sha, {"name": "two"})
    assert not second.exists()
    assert store.dataset_info(sha) == {"name": "one"}
    assert store.has_dataset(sha)


def test_results_round_trip(tmp_path):
    store = ArtifactStore(tmp_path)
    store.write_result("job1", {"chosenRank": 3, "loss": float("nan")})
    result = store.read_result("job1")
    assert result["chosenRank"] == 3
    assert store.read_result("job2") == {}


def test_old_partial_files_are_removed(tmp_path):
    store = ArtifactStore(tmp_path)
    old = store.temporary_path()
    old.write_bytes(b"partial")
    os.utime(old, (0, 0))
    fresh = store.temporary_path()
    fresh.write_bytes(b"being written")
    store.clean_temporary()
    assert not old.exists()
    assert fresh.exists()
