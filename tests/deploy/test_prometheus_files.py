"""Prometheus rules, scrape configuration, check script and documented queries.

Every metric name that these files use must be one that ltrnn.server.metrics exports, so a
renamed metric fails here instead of in a dashboard.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from deploy_helpers import DEPLOY, K8S, REPO, render
from ltrnn.server.metrics import REGISTRY

PROMETHEUS = DEPLOY / "prometheus"
# A histogram is also named by its family name, as in the metrics table of docs/deploy.md.
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("", "_bucket", "_count", "_sum"),
    "gauge": ("",),
}
DOCUMENTED_SUFFIX = {"counter": "_total", "histogram": "", "gauge": ""}
METRIC_NAME = re.compile(r"\b(ltrnn_[a-z_]+)\b")


@pytest.fixture(scope="module")
def exported_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        for suffix in SAMPLE_SUFFIXES[family.type]:
            names.add(family.name + suffix)
    assert "ltrnn_cells_finished_total" in names
    return names


def _used_names(text: str) -> set[str]:
    return set(METRIC_NAME.findall(text))


@pytest.mark.parametrize(
    "path",
    [PROMETHEUS / "rules.yml", PROMETHEUS / "check.py", REPO / "docs" / "deploy.md"],
    ids=lambda path: path.name,
)
def test_used_metrics_are_exported(path, exported_names):
    used = _used_names(path.read_text())
    assert used, f"{path.name} uses no ltrnn metric"
    unknown = used - exported_names
    assert not unknown, f"{path.name} uses metrics that the services do not export: {sorted(unknown)}"


def test_deploy_doc_lists_every_metric():
    table_names = set(re.findall(r"^\| `(ltrnn_[a-z_]+)` \|", (REPO / "docs" / "deploy.md").read_text(), re.M))
    exported = {family.name + DOCUMENTED_SUFFIX[family.type] for family in REGISTRY.collect()}
    assert table_names == exported


def test_rules_are_well_formed():
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    records = [rule for group in groups for rule in group["rules"] if "record" in rule]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert records
    assert alerts
    for rule in records:
        # Recording rule names follow level:metric:operations.
        assert rule["record"].count(":") == 2, rule["record"]
    for rule in alerts:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    record_names = {rule["record"] for rule in records}
    for rule in alerts:
        for name in re.findall(r"\b(ltrnn:[a-z_0-9]+:[a-z_0-9]+)\b", rule["expr"]):
            assert name in record_names, f"alert {rule['alert']} uses unknown record {name}"


def test_scrape_job_follows_annotations():
    job = yaml.safe_load((PROMETHEUS / "scrape-kubernetes.yml").read_text())["scrape_configs"][0]
    namespace = next(r for r in render(K8S / "overlays" / "gpu") if r["kind"] == "Namespace")
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == [namespace["metadata"]["name"]]

    relabel = {
        tuple(rule["source_labels"]): rule for rule in job["relabel_configs"]
    }
    keep = relabel[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
    assert keep["action"] == "keep"
    assert keep["regex"] == "true"

    # Prometheus anchors relabel regexes at both ends, as re.fullmatch does.
    address = relabel[("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port")]
    replacement = address["replacement"].replace("$1", r"\1").replace("$2", r"\2")
    for source, expected in (("10.1.2.3:50051;9464", "10.1.2.3:9464"), ("10.1.2.3;9464", "10.1.2.3:9464")):
        match = re.fullmatch(address["regex"], source)
        assert match is not None, source
        assert match.expand(replacement) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ranks", "0"], "--ranks must be at least 1, got 0"),
        (["--timeout", "-1"], "--timeout must be positive, got -1.0"),
    ],
)
def test_check_script_rejects_bad_options(args, message):
    result = subprocess.run(
        [sys.executable, str(PROMETHEUS / "check.py"), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_check_script_reports_missing_prometheus(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROMETHEUS / "check.py"), "--prometheus", str(tmp_path / "prometheus")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "prometheus not found; install it with: apt-get install prometheus" in result.stderr
