"""The monitoring kit (k8s/monitoring): the PodMonitor scrapes the port the pods declare, the
alert rules pass `promtool check rules`, and every metric the rules and the dashboard query is one
a running leadpool exports (checked against a scrape of the server)."""

import json
import re
import shutil
import subprocess
import time
import urllib.request

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, fresh_database, started_server
from test_k8s import KUBERNETES_VERSIONS

# Names our queries may use: the conventional gRPC ones, the process ones and our own.
METRIC = re.compile(r"\b((?:grpc_server|process|leadpool)_[a-z0-9_]+)")
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


@pytest.fixture(scope="module")
def rendered() -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render k8s/monitoring"
    return subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / "monitoring")],
        check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture(scope="module")
def monitoring(rendered):
    return {m["kind"]: m for m in yaml.safe_load_all(rendered)}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_resource_matches_its_schema(rendered, monitoring, version):
    """Kubernetes kinds against the API's schemas; the Prometheus Operator's kinds against their
    CRDs' schemas (tests/crds, from npm), which fails on any kind it has no schema for."""
    for manifest in monitoring.values():
        if manifest["apiVersion"] == "v1":
            kubernetes_validate.validate(manifest, version, strict=True)
    crds = ROOT / "tests" / "crds"
    assert (crds / "node_modules").is_dir(), "run `npm ci --prefix tests/crds`"
    checked = subprocess.run(
        [shutil.which("node") or "node", str(crds / "validate.mjs")],
        input=rendered, capture_output=True, text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sorted(checked.stdout.split()) == [
        "PodMonitor/leadpool", "PrometheusRule/leadpool", "valid:", "valid:",
    ]


def base_pod():
    rendered = subprocess.run(
        [shutil.which("kubectl"), "kustomize", str(ROOT / "k8s" / "base")],
        check=True, capture_output=True, text=True,
    ).stdout
    (deployment,) = [m for m in yaml.safe_load_all(rendered) if m["kind"] == "Deployment"]
    return deployment["spec"]["template"]


def queries(monitoring) -> list[str]:
    rules = [r["expr"] for g in monitoring["PrometheusRule"]["spec"]["groups"] for r in g["rules"]]
    dashboard = json.loads(monitoring["ConfigMap"]["data"]["leadpool.json"])
    panels = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert rules and panels
    return rules + panels


def test_the_pod_monitor_scrapes_the_declared_metrics_port(monitoring):
    pod = base_pod()
    spec = monitoring["PodMonitor"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (endpoint,) = spec["podMetricsEndpoints"]
    (container,) = pod["spec"]["containers"]
    assert endpoint["port"] in {p["name"] for p in container["ports"]}
    assert endpoint["path"] == "/metrics"
    assert monitoring["ConfigMap"]["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_the_alert_rules_pass_promtool(monitoring, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed to check the rules"
    rules = tmp_path / "leadpool-rules.yaml"
    rules.write_text(yaml.safe_dump(monitoring["PrometheusRule"]["spec"]))
    checked = subprocess.run([promtool, "check", "rules", str(rules)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "7 rules found" in checked.stdout, checked.stdout


def test_every_queried_metric_is_exported(monitoring, server):
    with urllib.request.urlopen(server.metrics_url(), timeout=10) as response:
        scrape = response.read().decode()
    exported = set(re.findall(r"^# TYPE (\S+) ", scrape, re.MULTILINE))
    assert "grpc_server_handled" in exported and "process_cpu_seconds" in exported, exported
    used = {name for expr in queries(monitoring) for name in METRIC.findall(expr)}
    missing = []
    for name in sorted(used):
        family = name
        for suffix in SUFFIXES:
            family = family.removesuffix(suffix)
        if family not in exported:
            missing.append(name)
    assert not missing, f"queried but not exported: {missing}"


def test_a_started_server_holds_its_whole_connection_pool_open(tmp_path):
    """LEADPOOL_DB_MIN_CONNECTIONS defaults to the maximum: the pool opens every connection as
    the server starts, so a burst of calls never waits for one to open. Its own server: the
    shared one may have lost a connection to an earlier test's cancelled call (the pool opens
    it again on demand, or at its next maintenance)."""
    with fresh_database() as env, started_server(env, tmp_path) as server:
        deadline = time.monotonic() + 15
        while True:
            with urllib.request.urlopen(server.metrics_url(), timeout=10) as response:
                scrape = response.read().decode()
            gauges = dict(re.findall(r"^(leadpool_db_pool_(?:max_)?connections) (\d+)", scrape,
                                     re.MULTILINE))
            opened, limit = (int(gauges[name]) for name in ("leadpool_db_pool_connections",
                                                            "leadpool_db_pool_max_connections"))
            if opened == limit or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert limit == 20, f"the default pool is 20 connections, the server says {limit}"
    assert opened == limit, f"{opened} of {limit} connections open 15 s after the start"
