"""Render the kustomize overlays and check them offline.

Built-in kinds are validated against the Kubernetes OpenAPI schemas that the
kubernetes-validate package ships. The RayCluster and ServiceMonitor custom resources have
no schema there, so their pod templates are validated as core PodTemplates and the rest is
checked field by field.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError

from deploy_helpers import (
    DEPLOY,
    K8S,
    dockerfile_arg_defaults,
    find,
    only,
    parse_dockerfile,
    parse_quantity,
    render,
    selector_matches,
    write_kustomization,
)
from ltrnn.server.settings import SETTINGS, Settings

# Oldest and newest Kubernetes versions the manifests are checked against; native gRPC
# probes need 1.27 or later.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
CUSTOM_KINDS = {"RayCluster", "ServiceMonitor"}
NAMESPACE = "ltrnn"

# Field names of the ray.io/v1 RayCluster spec in KubeRay 1.1 to 1.7 (apis/ray/v1).
RAYCLUSTER_SPEC_FIELDS = {
    "headGroupSpec", "workerGroupSpecs", "rayVersion", "enableInTreeAutoscaling",
    "autoscalerOptions", "headServiceAnnotations", "suspend", "managedBy",
    "gcsFaultToleranceOptions", "upgradeStrategy", "authOptions",
}
AUTOSCALER_FIELDS = {
    "resources", "image", "imagePullPolicy", "env", "envFrom", "volumeMounts",
    "securityContext", "idleTimeoutSeconds", "upscalingMode", "version",
}
HEAD_GROUP_FIELDS = {"serviceType", "headService", "enableIngress", "rayStartParams", "template"}
WORKER_GROUP_FIELDS = {
    "groupName", "replicas", "minReplicas", "maxReplicas", "numOfHosts", "rayStartParams",
    "template", "scaleStrategy", "suspend", "idleTimeoutSeconds",
}


def _settings(resources) -> dict:
    return only(resources, "ConfigMap", "ltrnn-settings")["data"]


def _pod_templates(resources) -> list[tuple[str, dict]]:
    """(description, pod template) for every Deployment and Ray group."""
    templates = [
        (f"Deployment {deployment['metadata']['name']}", deployment["spec"]["template"])
        for deployment in find(resources, "Deployment")
    ]
    for cluster in find(resources, "RayCluster"):
        spec = cluster["spec"]
        templates.append(("Ray head", spec["headGroupSpec"]["template"]))
        for group in spec.get("workerGroupSpecs", []):
            templates.append((f"Ray group {group['groupName']}", group["template"]))
    return templates


def _validate_strict(resource: dict, version: str) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


def _as_pod_template(name: str, template: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "template": template,
    }


# --- rendering and schema validation ---------------------------------------------------


def test_overlay_renders_every_part(rendered):
    kinds = sorted(resource["kind"] for resource in rendered)
    assert kinds.count("Deployment") == 2
    assert kinds.count("Service") == 2
    assert kinds.count("NetworkPolicy") == 2
    assert kinds.count("PodDisruptionBudget") >= 1
    for kind in ("Namespace", "ConfigMap", "PersistentVolumeClaim", "RayCluster", "ServiceMonitor"):
        assert kind in kinds, f"{kind} missing from the overlay"


def test_base_leaves_worker_group_to_overlays():
    cluster = only(render(K8S / "base"), "RayCluster", "ltrnn-ray")
    assert "workerGroupSpecs" not in cluster["spec"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_kinds_match_schema(rendered, version):
    checked = 0
    for resource in rendered:
        if resource["kind"] in CUSTOM_KINDS:
            continue
        _validate_strict(resource, version)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_custom_resource_pod_templates_match_schema(rendered, version):
    cluster = only(rendered, "RayCluster", "ltrnn-ray")
    templates = [cluster["spec"]["headGroupSpec"]["template"]]
    templates += [group["template"] for group in cluster["spec"]["workerGroupSpecs"]]
    for index, template in enumerate(templates):
        _validate_strict(_as_pod_template(f"ray-{index}", template), version)


def test_custom_kinds_have_no_bundled_schema(rendered):
    # If a later kubernetes-validate ships these schemas, validate them like the rest.
    for kind in CUSTOM_KINDS:
        resource = find(rendered, kind)[0]
        with pytest.raises(SchemaNotFoundError):
            _validate_strict(resource, KUBERNETES_VERSIONS[-1])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("readinessProbe", {"grpc": {"port": "grpc"}}, "is not of type 'integer'"),
        ("securityContext", {"readOnlyRootFS": True}, "Additional properties are not allowed"),
    ],
)
def test_schema_validation_rejects_broken_deployment(field, value, message):
    deployment = only(render(K8S / "overlays" / "gpu"), "Deployment", "ltrnn-fit")
    deployment["spec"]["template"]["spec"]["containers"][0][field] = value
    with pytest.raises(kubernetes_validate.ValidationError, match=re.escape(message)):
        _validate_strict(deployment, KUBERNETES_VERSIONS[-1])


def test_resources_live_in_one_namespace(rendered):
    for resource in rendered:
        if resource["kind"] == "Namespace":
            assert resource["metadata"]["name"] == NAMESPACE
            continue
        name = f"{resource['kind']} {resource['metadata']['name']}"
        assert resource["metadata"].get("namespace") == NAMESPACE, name


def test_images_are_tagged(rendered):
    templates = _pod_templates(rendered)
    for description, template in templates:
        for container in template["spec"]["containers"]:
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert repository and "/" not in tag, f"{description}: image {image!r} has no tag"
            assert tag != "latest", f"{description}: image {image!r} uses the latest tag"


# --- services ----------------------------------------------------------------------------


def test_deployments_are_locked_down(rendered):
    for description, template in _pod_templates(rendered):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, description
        assert pod["securityContext"]["runAsUser"] != 0, description
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", description
        assert pod.get("automountServiceAccountToken") is False or "Ray head" in description, (
            description
        )
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, description
            assert context["readOnlyRootFilesystem"] is True, description
            assert context["capabilities"]["drop"] == ["ALL"], description
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{description}: /tmp must be writable"


def test_containers_request_and_limit_resources(rendered):
    for description, template in _pod_templates(rendered):
        for container in template["spec"]["containers"]:
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = parse_quantity(resources["requests"][resource])
                limit = parse_quantity(resources["limits"][resource])
                assert 0 < request <= limit, f"{description}: {resource} {request} > {limit}"


def test_services_use_grpc_probes_on_settings_port(rendered):
    settings = _settings(rendered)
    port = int(settings["LTRNN_PORT"])
    assert port == 50051
    for deployment in find(rendered, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port}, f"{deployment['metadata']['name']} {probe}"


def test_service_ports_follow_settings(rendered):
    settings = _settings(rendered)
    grpc_port = int(settings["LTRNN_PORT"])
    metrics_port = int(settings["LTRNN_METRICS_PORT"])
    for deployment in find(rendered, "Deployment"):
        name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        container = template["spec"]["containers"][0]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"grpc": grpc_port, "metrics": metrics_port}, name
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(metrics_port), name
        assert annotations["prometheus.io/path"] == "/metrics", name

        service = only(rendered, "Service", name)
        assert selector_matches({"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"])
        for service_port in service["spec"]["ports"]:
            assert service_port["targetPort"] in ports, f"Service {name}: {service_port}"
            assert service_port["port"] == ports[service_port["targetPort"]], f"Service {name}"


def test_deployments_run_their_role(rendered):
    roles = {
        deployment["metadata"]["name"]: deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        for deployment in find(rendered, "Deployment")
    }
    assert roles == {"ltrnn-fit": ["fit"], "ltrnn-analysis": ["analysis"]}


def test_services_are_single_replicas(rendered):
    # Both services open the SQLite job store, which supports one replica of each.
    for deployment in find(rendered, "Deployment"):
        name = deployment["metadata"]["name"]
        assert deployment["spec"]["replicas"] == 1, name
        assert deployment["spec"]["strategy"]["type"] == "Recreate", name


def test_data_volume_and_settings_are_wired(rendered):
    settings = _settings(rendered)
    claim = only(rendered, "PersistentVolumeClaim", "ltrnn-data")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    for deployment in find(rendered, "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": "ltrnn-settings"}}], name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}

        data_volume = volumes[mounts[settings["LTRNN_DATA_DIR"]]]
        assert data_volume["persistentVolumeClaim"]["claimName"] == "ltrnn-data", name
        database = PurePosixPath(settings["LTRNN_DATABASE"])
        assert database.is_relative_to(settings["LTRNN_DATA_DIR"]), "database must be on the volume"

        token_file = PurePosixPath(settings["LTRNN_AUTH_TOKEN_FILE"])
        auth_volume = volumes[mounts[str(token_file.parent)]]
        assert auth_volume["secret"]["secretName"] == "ltrnn-auth", name
        assert auth_volume["secret"]["items"] == [{"key": "tokens", "path": token_file.name}], name


def test_no_secret_is_committed(rendered):
    assert find(rendered, "Secret") == []


def test_settings_parse_with_service_code(rendered):
    settings_data = _settings(rendered)
    known = {setting.env for setting in SETTINGS}
    unknown = set(settings_data) - known
    assert not unknown, f"ConfigMap keys that the services do not read: {sorted(unknown)}"
    settings = Settings.from_env(settings_data)
    assert settings.host == "0.0.0.0"
    assert settings.ray_address.startswith("ray://")


def test_analysis_runs_beside_fit_pod(rendered):
    analysis = only(rendered, "Deployment", "ltrnn-analysis")["spec"]["template"]["spec"]
    fit_labels = only(rendered, "Deployment", "ltrnn-fit")["spec"]["template"]["metadata"]["labels"]
    terms = analysis["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert any(
        selector_matches(term["labelSelector"], fit_labels)
        and term["topologyKey"] == "kubernetes.io/hostname"
        for term in terms
    )


# --- Ray cluster -------------------------------------------------------------------------


def test_raycluster_fields_are_known(rendered):
    cluster = only(rendered, "RayCluster", "ltrnn-ray")
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert set(spec) <= RAYCLUSTER_SPEC_FIELDS, set(spec) - RAYCLUSTER_SPEC_FIELDS
    assert set(spec["autoscalerOptions"]) <= AUTOSCALER_FIELDS
    assert spec["upgradeStrategy"]["type"] in {"Recreate", "None"}
    assert set(spec["headGroupSpec"]) <= HEAD_GROUP_FIELDS
    for group in spec["workerGroupSpecs"]:
        assert set(group) <= WORKER_GROUP_FIELDS, set(group) - WORKER_GROUP_FIELDS
        assert all(isinstance(value, str) for value in group["rayStartParams"].values())
    assert all(isinstance(value, str) for value in spec["headGroupSpec"]["rayStartParams"].values())


def test_raycluster_autoscales_within_bounds(rendered):
    spec = only(rendered, "RayCluster", "ltrnn-ray")["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["upscalingMode"] in {"Default", "Aggressive", "Conservative"}
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert len(spec["workerGroupSpecs"]) == 1
    for group in spec["workerGroupSpecs"]:
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group["groupName"]
        assert group["maxReplicas"] >= 1


def test_ray_version_matches_image(rendered):
    spec = only(rendered, "RayCluster", "ltrnn-ray")["spec"]
    image_args = dockerfile_arg_defaults(parse_dockerfile(DEPLOY / "docker" / "Dockerfile"))
    assert spec["rayVersion"] == image_args["RAY_VERSION"]


def test_head_schedules_no_cells_and_serves_clients(rendered):
    head = only(rendered, "RayCluster", "ltrnn-ray")["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    container = head["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["gcs"] == 6379
    assert ports["client"] == 10001
    assert ports["dashboard"] == 8265


def test_services_connect_to_head_service(rendered):
    cluster = only(rendered, "RayCluster", "ltrnn-ray")
    container = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    client_port = {port["name"]: port["containerPort"] for port in container["ports"]}["client"]
    expected = f"ray://{cluster['metadata']['name']}-head-svc:{client_port}"
    assert _settings(rendered)["LTRNN_RAY_ADDRESS"] == expected


def test_gpu_workers_request_gpus():
    resources = render(K8S / "overlays" / "gpu")
    spec = only(resources, "RayCluster", "ltrnn-ray")["spec"]
    services_image = only(resources, "Deployment", "ltrnn-fit")["spec"]["template"]["spec"]["containers"][0]["image"]
    head_image = spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    assert head_image == services_image
    for group in spec["workerGroupSpecs"]:
        pod = group["template"]["spec"]
        container = pod["containers"][0]
        requested = container["resources"]["requests"]["nvidia.com/gpu"]
        limited = container["resources"]["limits"]["nvidia.com/gpu"]
        assert requested == limited >= 1, group["groupName"]
        assert container["image"] != services_image
        assert re.search(r":[\w.-]*cu\d+$", container["image"]), container["image"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert "/dev/shm" in mounts


def test_cpu_overlay_has_no_gpus():
    resources = render(K8S / "overlays" / "cpu")
    spec = only(resources, "RayCluster", "ltrnn-ray")["spec"]
    services_image = only(resources, "Deployment", "ltrnn-fit")["spec"]["template"]["spec"]["containers"][0]["image"]
    for group in spec["workerGroupSpecs"]:
        container = group["template"]["spec"]["containers"][0]
        assert "nvidia.com/gpu" not in container["resources"]["requests"]
        assert "nvidia.com/gpu" not in container["resources"]["limits"]
        assert container["image"] == services_image
        assert group["minReplicas"] >= 1, "cells would wait for the first CPU worker to start"


# --- network policy, disruption budgets, scraping -------------------------------------


def _pod_labels(resources) -> dict[str, dict]:
    labels = {description: template["metadata"]["labels"] for description, template in _pod_templates(resources)}
    cluster_name = only(resources, "RayCluster", "ltrnn-ray")["metadata"]["name"]
    # KubeRay adds these labels to every pod it creates.
    for description in labels:
        if description.startswith("Ray head"):
            labels[description] = {**labels[description], "ray.io/cluster": cluster_name, "ray.io/node-type": "head"}
        elif description.startswith("Ray group"):
            labels[description] = {**labels[description], "ray.io/cluster": cluster_name, "ray.io/node-type": "worker"}
    return labels


def test_services_policy_admits_grpc_and_scrapes(rendered):
    policy = only(rendered, "NetworkPolicy", "ltrnn-services")
    selected = {
        description
        for description, labels in _pod_labels(rendered).items()
        if selector_matches(policy["spec"]["podSelector"], labels)
    }
    assert selected == {"Deployment ltrnn-fit", "Deployment ltrnn-analysis"}
    settings = _settings(rendered)
    ports = {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
    assert ports == {int(settings["LTRNN_PORT"]), int(settings["LTRNN_METRICS_PORT"])}


def test_ray_policy_admits_only_ray_and_services(rendered):
    policy = only(rendered, "NetworkPolicy", "ltrnn-ray")
    labels = _pod_labels(rendered)
    selected = {d for d, pod in labels.items() if selector_matches(policy["spec"]["podSelector"], pod)}
    assert selected == {d for d in labels if d.startswith("Ray")}

    client_port = int(_settings(rendered)["LTRNN_RAY_ADDRESS"].rsplit(":", 1)[1])
    for description, pod in labels.items():
        allowed_ports = set()
        for rule in policy["spec"]["ingress"]:
            if any(selector_matches(peer["podSelector"], pod) for peer in rule["from"]):
                allowed_ports |= {port["port"] for port in rule.get("ports", [])} or {"all"}
        if description.startswith("Ray"):
            assert allowed_ports == {"all"}, description
        else:
            assert allowed_ports == {client_port}, description
    for rule in policy["spec"]["ingress"]:
        assert all("namespaceSelector" not in peer and "ipBlock" not in peer for peer in rule["from"])


def test_disruption_budgets_select_pods(rendered):
    labels = _pod_labels(rendered)
    budgets = find(rendered, "PodDisruptionBudget")
    for budget in budgets:
        selected = [d for d, pod in labels.items() if selector_matches(budget["spec"]["selector"], pod)]
        assert selected, f"PodDisruptionBudget {budget['metadata']['name']} selects no pod"
    worker_budget = only(rendered, "PodDisruptionBudget", "ltrnn-ray-workers")
    assert worker_budget["spec"]["maxUnavailable"] == 1
    for description in ("Deployment ltrnn-fit", "Deployment ltrnn-analysis"):
        assert not any(selector_matches(budget["spec"]["selector"], labels[description]) for budget in budgets), (
            f"a budget on the single replica of {description} would block node drains"
        )


def test_service_monitor_scrapes_both_services(rendered):
    monitor = only(rendered, "ServiceMonitor", "ltrnn")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selected = [
        service for service in find(rendered, "Service")
        if selector_matches(monitor["spec"]["selector"], service["metadata"]["labels"])
    ]
    assert sorted(service["metadata"]["name"] for service in selected) == ["ltrnn-analysis", "ltrnn-fit"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        for service in selected:
            assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


# --- TLS component -----------------------------------------------------------------------


@pytest.fixture
def rendered_with_tls(tmp_path):
    overlay = write_kustomization(
        tmp_path / "tls-overlay",
        resources=[K8S / "overlays" / "gpu"],
        components=[K8S / "components" / "tls"],
    )
    return render(overlay)


def test_tls_component_switches_probes_and_mounts(rendered_with_tls):
    for deployment in find(rendered_with_tls, "Deployment"):
        name = deployment["metadata"]["name"]
        _validate_strict(deployment, KUBERNETES_VERSIONS[-1])
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert "grpc" not in container[probe], f"{name} {probe}"
            assert container[probe]["tcpSocket"] == {"port": 50051}, f"{name} {probe}"
        env = {variable["name"]: variable["value"] for variable in container["env"]}
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == "ltrnn-tls"
        for variable, file_name in (("LTRNN_TLS_CERT", "tls.crt"), ("LTRNN_TLS_KEY", "tls.key")):
            assert env[variable] == f"{mounts['tls']}/{file_name}", f"{name} {variable}"
