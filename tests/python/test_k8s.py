"""The Kubernetes base and its overlays, rendered by kustomize, against the Kubernetes API schemas
(offline, from kubernetes-validate), and against the binary they run: settings it knows, the port
it listens on, the health names it answers, the drain it does on SIGTERM, the identity mode each
selects. Every check of the base runs on each overlay too. Also the Dockerfile's pins and labels."""

import functools
import os
import re
import shutil
import subprocess
import tomllib

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, leadpool_binary

# gRPC probes are GA from 1.27; the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
# In-flight calls finish within the database statement timeout (src/store/mod.rs: 10 s).
IN_FLIGHT_S = 10
# What `kubectl apply -k` is pointed at: the base, and every overlay in k8s/overlays (ours are
# mesh and jwt; one you add is checked like them).
OVERLAYS = sorted(p.name for p in (ROOT / "k8s" / "overlays").iterdir() if p.is_dir())
KUSTOMIZATIONS = ["base"] + [f"overlays/{name}" for name in OVERLAYS]
# Any one of these turns JWT mode on (src/config/mod.rs); none: trusted metadata.
JWT_KEYS = {
    "LEADPOOL_JWT_HS256_SECRET",
    "LEADPOOL_JWT_RS256_PUBLIC_KEY_FILE",
    "LEADPOOL_JWT_JWKS_FILE",
}
JWT_CLAIM_CHECKS = {"LEADPOOL_JWT_ISSUER", "LEADPOOL_JWT_AUDIENCE"}
# The Secret the jwt overlay takes its key from (the operator creates it; no value is committed).
JWT_SECRET = "leadpool-jwt"


@functools.cache
def rendered(kustomization):
    """`kustomize build k8s/<kustomization>`, by the kustomize built into kubectl."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render k8s/"
    return subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / kustomization)],
        check=True, capture_output=True, text=True,
    ).stdout


def render(kustomization):
    return list(yaml.safe_load_all(rendered(kustomization)))


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def manifests(request):
    return render(request.param)


@functools.cache
def binary():
    return str(leadpool_binary())


@functools.cache
def settings_the_binary_reads():
    """The environment variables `leadpool --help` lists."""
    help_text = subprocess.run(
        [binary(), "--help"], check=True, capture_output=True, text=True
    ).stdout
    return frozenset(re.findall(r"\[env: ([A-Z0-9_]+)", help_text))


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


def test_settings_are_ones_the_binary_reads(settings, container):
    known = settings_the_binary_reads()
    assert "LEADPOOL_LISTEN" in known
    assert set(settings) <= known, f"unknown settings: {set(settings) - known}"
    env = {e["name"] for e in container["env"]}
    assert env <= known, f"unknown variables: {env - known}"


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
        [binary(), "migrate", "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "--check" in help_text


def test_the_config_map_is_the_generated_one(manifests, container):
    generated = one(manifests, "ConfigMap")["metadata"]["name"]
    assert re.fullmatch(r"leadpool-config-[a-z0-9]{10}", generated), generated
    assert {"configMapRef": {"name": generated}} in container["envFrom"]


# Identity: which mode each kustomization selects, and what that mode needs.


def auth_settings(container, settings):
    """The LEADPOOL_JWT_* settings a container gets, from the ConfigMap or its own env."""
    names = set(settings) | {e["name"] for e in container.get("env", [])}
    return {n for n in names if n.startswith("LEADPOOL_JWT_")}


def test_both_identity_overlays_are_rendered_and_checked():
    assert {"mesh", "jwt"} <= set(OVERLAYS)


def test_the_annotation_names_the_mode_the_settings_select(manifests, container, settings):
    deployment = one(manifests, "Deployment")
    mode = "jwt" if auth_settings(container, settings) & JWT_KEYS else "trusted-metadata"
    assert deployment["metadata"]["annotations"]["leadpool.io/authentication"] == mode
    # An issuer or audience without a key refuses to start.
    assert not (auth_settings(container, settings) & JWT_CLAIM_CHECKS) or mode == "jwt"
    # No kustomization carries a secret value: keys come from Secrets the operator creates.
    assert not [m for m in manifests if m["kind"] == "Secret"]


def test_the_base_alone_is_trusted_metadata():
    manifests = render("base")
    (container,) = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert auth_settings(container, one(manifests, "ConfigMap")["data"]) == set()
    for name in ("deployment.yaml", "kustomization.yaml", "leadpool.env"):
        text = (ROOT / "k8s" / "base" / name).read_text()
        assert "trusted" in text and "mesh" in text, f"{name} says how identity is trusted"


def test_the_mesh_overlay_keeps_trusted_metadata_and_injects_the_sidecar():
    manifests = render("overlays/mesh")
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    settings = one(manifests, "ConfigMap")["data"]
    assert auth_settings(container, settings) == set()
    assert settings == one(render("base"), "ConfigMap")["data"]
    assert deployment["metadata"]["annotations"]["leadpool.io/authentication"] == "trusted-metadata"
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    annotations = pod["metadata"]["annotations"]
    # The init container runs before the proxy: the database port bypasses it.
    assert "5432" in annotations["traffic.sidecar.istio.io/excludeOutboundPorts"].split(",")
    # Prometheus scrapes the metrics port in plain text.
    metrics_port = settings["LEADPOOL_METRICS_LISTEN"].rsplit(":", 1)[1]
    assert annotations["traffic.sidecar.istio.io/excludeInboundPorts"].split(",") == [metrics_port]
    # The sidecar outlives leadpool's drain, within the grace period.
    drain = yaml.safe_load(annotations["proxy.istio.io/config"])["terminationDrainDuration"]
    drain_s = int(re.fullmatch(r"(\d+)s", drain).group(1))
    delay = int(settings["LEADPOOL_SHUTDOWN_DELAY_SECONDS"])
    assert delay + IN_FLIGHT_S <= drain_s < pod["spec"]["terminationGracePeriodSeconds"]


def test_the_jwt_overlay_verifies_tokens_with_a_key_from_a_secret():
    manifests = render("overlays/jwt")
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    settings = one(manifests, "ConfigMap")["data"]
    assert deployment["metadata"]["annotations"]["leadpool.io/authentication"] == "jwt"
    # One key, a file: the key set. The issuer and audience are checked.
    assert auth_settings(container, settings) == {"LEADPOOL_JWT_JWKS_FILE"} | JWT_CLAIM_CHECKS
    for name in JWT_CLAIM_CHECKS:
        assert settings[name].strip(), f"{name} is set, so tokens are checked against it"
    # The file lies in a read-only mount of the Secret, under the Secret key of its name.
    key_file = settings["LEADPOOL_JWT_JWKS_FILE"]
    (mount,) = [m for m in container["volumeMounts"] if key_file.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]
    assert secret["secretName"] == JWT_SECRET and secret.get("optional") is False
    relative = key_file[len(mount["mountPath"]) + 1:]
    assert {"key": "jwks.json", "path": relative} in secret["items"]
    # Readable by the non-root user without an fsGroup (the files belong to root).
    assert secret["defaultMode"] & 0o004
    # The init container never opens the key, so it gets no mount.
    (migrate,) = pod["initContainers"]
    assert "volumeMounts" not in migrate
    # Everything else is the base's.
    base = one(render("base"), "ConfigMap")["data"]
    jwt = auth_settings(container, settings)
    assert {k: v for k, v in settings.items() if k not in jwt} == base


def test_the_jwt_settings_are_ones_the_binary_reads():
    assert JWT_KEYS | JWT_CLAIM_CHECKS <= settings_the_binary_reads()


def test_the_init_container_migrates_under_the_jwt_settings_without_the_key():
    # `leadpool migrate` with the jwt overlay's settings and no key file at the path: its settings
    # are valid (a key is configured), so it goes on to the database, which is not there.
    settings = one(render("overlays/jwt"), "ConfigMap")["data"]
    assert not os.path.exists(settings["LEADPOOL_JWT_JWKS_FILE"])
    env = {"PATH": os.environ.get("PATH", ""), **settings,
           "DATABASE_URL": "postgres://leadpool@127.0.0.1:1/leadpool"}
    run = subprocess.run([binary(), "migrate"], env=env, capture_output=True, text=True,
                         timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "cannot connect to PostgreSQL" in output, output
    assert "jwks" not in output.lower(), output


# The image.

OCI_LABELS = ["title", "description", "source", "licenses", "version", "base.name"]


def dockerfile_instructions():
    """(instruction, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (l.strip() for l in joined.splitlines()) if line
    ]


def test_the_base_images_are_pinned_by_digest_and_labelled():
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    froms = [args.split() for name, args in dockerfile_instructions() if name == "FROM"]
    stages = set()
    pins = []
    for words in froms:
        image = words[0]
        if image not in stages:
            match = re.fullmatch(r"([^@\s:]+(?:/[^@\s:]+)*):([^@\s]+)@(sha256:[0-9a-f]{64})", image)
            assert match, f"FROM {image}: pin it as image:tag@sha256:<digest>"
            pins.append(match.groups())
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    (build, build_tag, _), (runtime, runtime_tag, runtime_digest) = pins
    # Edition 2024 needs the toolchain Cargo.toml names; the build's glibc is the runtime's.
    assert build == "rust"
    version = tuple(int(n) for n in re.match(r"(\d+)\.(\d+)", build_tag).groups())
    assert version >= tuple(int(n) for n in cargo["rust-version"].split(".")[:2])
    assert build_tag.endswith("-bookworm") and runtime.endswith("-debian12")

    labels = {}
    for name, args in dockerfile_instructions():
        if name == "LABEL":
            labels.update(re.findall(r'(\S+?)="([^"]*)"', args))
    for key in OCI_LABELS:
        label = f"org.opencontainers.image.{key}"
        assert labels.get(label), f"LABEL {label}"
    oci = {k.removeprefix("org.opencontainers.image."): v for k, v in labels.items()}
    assert oci["licenses"] == cargo["license"] == "Apache-2.0"
    assert oci["version"] == cargo["version"]
    assert oci["base.name"] == f"{runtime}:{runtime_tag}"
    assert oci["base.digest"] == runtime_digest
