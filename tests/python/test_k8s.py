"""The Kubernetes base, rendered by kustomize, against the Kubernetes API schemas (offline, from
kubernetes-validate), and against the binary it runs: settings it knows, the port it listens on,
the health names it answers, the drain it does on SIGTERM."""

import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, leadpool_binary

# gRPC probes are GA from 1.27; the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
# In-flight calls finish within the database statement timeout (src/store/mod.rs: 10 s).
IN_FLIGHT_S = 10


@pytest.fixture(scope="module")
def manifests():
    """`kustomize build k8s/base`, by the kustomize built into kubectl."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render k8s/base"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / "base")],
        check=True, capture_output=True, text=True,
    ).stdout
    return list(yaml.safe_load_all(rendered))


def one(manifests, kind, name=None):
    found = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(found) == 1, f"one {kind} {name or ''}: {[m['metadata']['name'] for m in found]}"
    return found[0]


@pytest.fixture(scope="module")
def pod(manifests):
    return one(manifests, "Deployment")["spec"]["template"]


@pytest.fixture(scope="module")
def container(pod):
    (container,) = pod["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def settings(manifests):
    return one(manifests, "ConfigMap")["data"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_resource_matches_the_kubernetes_schema(manifests, version):
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_base_holds_the_resources_of_a_deployment(manifests):
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == sorted(
        ["ServiceAccount", "ConfigMap", "Service", "Service", "Deployment", "PodDisruptionBudget",
         "NetworkPolicy", "HorizontalPodAutoscaler"]
    )


def test_three_replicas_and_a_budget_that_keeps_two(manifests, pod):
    deployment = one(manifests, "Deployment")
    assert "replicas" not in deployment["spec"], "the autoscaler owns the count"
    scaler = one(manifests, "HorizontalPodAutoscaler")["spec"]
    assert scaler["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (scaler["minReplicas"], scaler["maxReplicas"]) == (3, 4)
    assert scaler["metrics"][0]["resource"]["name"] == "cpu"
    labels = pod["metadata"]["labels"]
    budget = one(manifests, "PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    for service in (m for m in manifests if m["kind"] == "Service"):
        assert service["spec"]["selector"].items() <= labels.items()


def test_settings_are_ones_the_binary_reads(settings):
    help_text = subprocess.run(
        [str(leadpool_binary()), "--help"], check=True, capture_output=True, text=True
    ).stdout
    known = set(re.findall(r"\[env: ([A-Z0-9_]+)", help_text))
    assert "LEADPOOL_LISTEN" in known
    assert set(settings) <= known, f"unknown settings: {set(settings) - known}"


def test_port_listen_address_probes_and_services_agree(manifests, container, settings):
    port = int(settings["LEADPOOL_LISTEN"].rsplit(":", 1)[1])
    assert {"name": "grpc", "containerPort": port, "protocol": "TCP"} in container["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == port, probe
    for service in (m for m in manifests if m["kind"] == "Service"):
        (service_port,) = service["spec"]["ports"]
        assert service_port["name"] == "grpc" and service_port["targetPort"] == "grpc"
        assert service_port["appProtocol"] == "grpc"


def test_readiness_follows_the_database_and_liveness_does_not(container):
    # "" turns NOT_SERVING when the database stops answering and on SIGTERM; "liveness" stays
    # SERVING (test_polyglot checks the binary answers both).
    assert container["readinessProbe"]["grpc"].get("service", "") == ""
    assert container["livenessProbe"]["grpc"]["service"] == "liveness"
    assert container["startupProbe"]["grpc"]["service"] == "liveness"


def test_the_grace_period_covers_the_drain(pod, settings):
    delay = int(settings["LEADPOOL_SHUTDOWN_DELAY_SECONDS"])
    assert delay > 0, "endpoints need a moment to drop the pod before the listener closes"
    assert pod["spec"]["terminationGracePeriodSeconds"] >= delay + IN_FLIGHT_S + 5


def test_runs_as_non_root_on_a_read_only_root_with_the_database_from_a_secret(pod, container):
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # With DATABASE_URL set the binary writes no file (it starts no private PostgreSQL).
    (database_url,) = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
    secret = database_url["valueFrom"]["secretKeyRef"]
    assert secret["name"] == "leadpool-database" and not secret.get("optional", False)
    for limit in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][limit].keys()


def test_only_labelled_callers_and_the_scraper_reach_the_pods(manifests, pod, container, settings):
    policy = one(manifests, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress"]
    reachable = {
        rule["ports"][0]["port"]: rule["from"][0]["podSelector"]["matchLabels"]
        for rule in policy["ingress"]
    }
    assert reachable == {
        "grpc": {"leadpool.io/client": "true"},
        "metrics": {"app.kubernetes.io/name": "prometheus"},
    }
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(settings["LEADPOOL_METRICS_LISTEN"].rsplit(":", 1)[1])
    assert settings["LEADPOOL_METRICS_LISTEN"].startswith("0.0.0.0:")


def test_every_resource_carries_the_recommended_labels(manifests, pod):
    for manifest in manifests + [pod]:
        labels = manifest["metadata"]["labels"]
        for key in ("name", "part-of", "component", "version", "managed-by"):
            assert f"app.kubernetes.io/{key}" in labels, (manifest.get("kind", "pod"), labels)
    zones = [c["topologyKey"] for c in pod["spec"]["topologySpreadConstraints"]]
    assert zones == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]


def test_migrations_run_as_their_own_step_before_the_server(pod, container, settings):
    (migrate,) = pod["spec"]["initContainers"]
    assert migrate["image"] == container["image"]
    assert migrate["args"] == ["migrate"]
    assert migrate["envFrom"] == container["envFrom"]
    assert migrate["env"] == [e for e in container["env"] if e["name"] == "DATABASE_URL"]
    assert migrate["securityContext"] == container["securityContext"]
    assert settings["LEADPOOL_MIGRATE_ON_START"] == "false"
    help_text = subprocess.run(
        [str(leadpool_binary()), "migrate", "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "--check" in help_text


def test_the_config_map_is_the_generated_one(manifests, container):
    generated = one(manifests, "ConfigMap")["metadata"]["name"]
    assert re.fullmatch(r"leadpool-config-[a-z0-9]{10}", generated), generated
    assert {"configMapRef": {"name": generated}} in container["envFrom"]
