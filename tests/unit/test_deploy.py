"""deploy/ and docs/operations.md against the code: no drift in names, ports, settings, topics or metrics.

Files are parsed and cross-checked here; the real validators run too: ``promtool``
(Debian package ``prometheus``) checks the Prometheus configs, the alert rules, their
unit tests and every dashboard query, and ``docker-compose`` (Debian package
``docker-compose``) validates the compose file against its schema. ``make setup``
installs both; a missing one fails naming its package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.app import FETCH_HEADROOM
from streams.metrics import METRICS, SPECS, Metrics, metrics_reference
from streams.runtime import SERVED_MODELS
from streams.settings import Settings
from streams.settings_doc import SECRET_SETTINGS, env_names, settings_reference
from streams.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OPERATIONS = ROOT / "docs" / "operations.md"
COMPOSE = DEPLOY / "docker-compose.yml"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "alerts_test.yml"
PROMETHEUS_CONFIGS = (DEPLOY / "prometheus" / "prometheus.yml", DEPLOY / "prometheus" / "prometheus-k8s.yml")
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "streamdecide.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
DEFAULTS = Settings(_env_file=None)
NAMESPACE = "streamdecide"

# Settings the deploy files may set before streams/settings.py has them (none today).
PENDING_SETTINGS: frozenset[str] = frozenset()
# Series of Triton's own /metrics the dashboard plots (checked against the real server in
# tests/integration/test_metrics_endpoint.py).
TRITON_SERVER_METRICS: tuple[str, ...] = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
)
TRITON_SERVER_LABELS = frozenset({"model", "version"})
PROMETHEUS_LABELS = frozenset({"instance", "job", "le", "pod"})
TOPIC_LIKE = re.compile(r"\b(?:events|catalog|decisions|ops)\.[a-z][a-z-]*\b")
METRIC_NAME = re.compile(r"\b(streamdecide_[a-z0-9_]+|nv_[a-z0-9_]+)\b")
SELECTOR = re.compile(r"\b(streamdecide_[a-z0-9_]+)\s*\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
METRICS_URL = re.compile(r"127\.0\.0\.1:(\d+)/metrics")
READY_LINE = b"streamdecide_worker_ready 1.0"


def need_tool(binary: str, package: str) -> str:
    """Path of ``binary``, or a failure naming the Debian package that ships it."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} not found: install the Debian package {package!r} "
                    f"(apt-get install -y --no-install-recommends {package}; `make setup` does it)")
    return path


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in load_yaml_documents(path)]


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name} in deploy/k8s, found {len(found)}"
    return found[0]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p.get("targets", [])]


def rule_queries() -> list[str]:
    return [rule["expr"] for rule in alert_rules()]


def referenced_metric_names() -> set[str]:
    """Every streamdecide_* and nv_* series name the dashboard and the alert rules query."""
    return {name for expr in dashboard_queries() + rule_queries() for name in METRIC_NAME.findall(expr)}


def family_of(sample: str) -> str | None:
    """The :data:`METRICS` family exposing series ``sample``."""
    return next((spec.name for spec in METRICS if sample in spec.sample_names()), None)


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def flag_values(args: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for arg in args:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def deploy_text_files() -> Iterator[Path]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".json", ".md", ".dockerignore", ""}:
            yield path


# --- files parse ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    assert load_yaml_documents(path), f"{path} is empty"


def test_dashboard_is_json_with_unique_ids_and_no_overlapping_panels() -> None:
    data = dashboard()
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in data["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_dashboard_uses_the_provisioned_datasource() -> None:
    uids = {d["uid"] for d in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert all(t["datasource"]["uid"] in uids for t in panel["targets"]), panel["title"]


# --- metrics: every name and label the dashboard and the rules use exists in streams/metrics.py ---


def test_every_referenced_metric_exists() -> None:
    names = referenced_metric_names()
    unknown = sorted(n for n in names if n.startswith("streamdecide_") and family_of(n) is None)
    assert not unknown, f"dashboard/rules query series that streams/metrics.py does not expose: {unknown}"
    triton = sorted(n for n in names if n.startswith("nv_") and n not in TRITON_SERVER_METRICS)
    assert not triton, f"add to TRITON_SERVER_METRICS (checked against the real Triton): {triton}"


def test_every_family_is_on_the_dashboard() -> None:
    shown = {family_of(n) for n in METRIC_NAME.findall(" ".join(dashboard_queries()))}
    missing = sorted(spec.name for spec in METRICS if spec.name not in shown)
    assert not missing, f"metrics with no dashboard panel: {missing}"


@pytest.mark.parametrize("expr", dashboard_queries() + rule_queries())
def test_queries_use_only_labels_the_metrics_have(expr: str) -> None:
    families = {family_of(n) for n in METRIC_NAME.findall(expr) if n.startswith("streamdecide_")} - {None}
    known = PROMETHEUS_LABELS | {label for f in families for label in SPECS[f].labels}
    if any(n.startswith("nv_") for n in METRIC_NAME.findall(expr)):
        known |= TRITON_SERVER_LABELS
    for sample, selector in SELECTOR.findall(expr):
        keys = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", selector))
        assert keys <= set(SPECS[family_of(sample)].labels) | PROMETHEUS_LABELS, (sample, keys)
    for grouping in GROUPING.findall(expr):
        labels = {label.strip() for label in grouping.split(",") if label.strip()}
        assert labels <= known, (expr, labels - known)


def test_label_values_in_queries_are_real() -> None:
    types, actions = {"bid", "price", "fraud"}, {"bid", "no_bid", "up", "down", "list", "allow", "review", "block",
                                                 "rejected", "rolled_back"}
    for expr in dashboard_queries() + rule_queries():
        for value in re.findall(r'\btype="([^"]+)"', expr):
            assert value in types, expr
        for value in re.findall(r'\baction=~?"([^"]+)"', expr):
            assert set(value.split("|")) <= actions, expr
        for value in re.findall(r'\bjob="([^"]+)"', expr):
            assert value in {"streamdecide-worker", "triton"}, expr


# --- Prometheus: the real validator ------------------------------------------------------------


@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda p: p.name)
def test_promtool_checks_config(config: Path) -> None:
    promtool = need_tool("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_rules_and_runs_their_unit_tests() -> None:
    promtool = need_tool("promtool", "prometheus")
    for command in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        result = subprocess.run([promtool, *command], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    promtool = need_tool("promtool", "prometheus")
    rules = [{"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
             for i, expr in enumerate(dashboard_queries())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_are_documented_for_on_call() -> None:
    doc = OPERATIONS.read_text()
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert re.search(rf"^### {name}$", doc, re.M), f"docs/operations.md has no '### {name}' section"


def test_prometheus_scrapes_the_default_ports() -> None:
    for path in PROMETHEUS_CONFIGS:
        jobs = {job["job_name"]: job for job in yaml.safe_load(path.read_text())["scrape_configs"]}
        assert jobs["streamdecide-worker"]["dns_sd_configs"][0]["port"] == DEFAULTS.metrics_port
        (target,) = jobs["triton"]["static_configs"][0]["targets"]
        assert host_port(target)[1] == DEFAULTS.triton_metrics_port
    service = k8s_object("Service", "streamdecide-worker-metrics")
    k8s_jobs = {j["job_name"]: j for j in yaml.safe_load(PROMETHEUS_CONFIGS[1].read_text())["scrape_configs"]}
    (name,) = k8s_jobs["streamdecide-worker"]["dns_sd_configs"][0]["names"]
    assert name == f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True


# --- docker compose ----------------------------------------------------------------------------


def test_docker_compose_validates(tmp_path: Path) -> None:
    binary = need_tool("docker-compose", "docker-compose")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "STREAMDECIDE_PII_KEY": "test-key-1234",
           "GRAFANA_ADMIN_PASSWORD": "test"}
    result = subprocess.run([binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                            timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def assert_valid_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Names are fields of Settings and the values validate, read from the environment as in a container."""
    unknown = set(env) - PENDING_SETTINGS - env_names()
    assert not unknown, f"not settings of streams/settings.py: {sorted(unknown)}"
    for name in list(env_names()):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if not str(value).startswith("${"):
            monkeypatch.setenv(name, str(value))
    Settings(_env_file=None)


def test_compose_settings_are_settings_with_the_default_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    env = services["worker"]["environment"]
    assert_valid_settings(env, monkeypatch)
    assert services["topics"]["environment"] == env
    kafka_host, kafka_port = host_port(env["STREAMDECIDE_KAFKA_BOOTSTRAP"])
    assert kafka_host in services and kafka_port == DEFAULTS.broker_port
    kafka = services["kafka"]["environment"]
    assert f"PLAINTEXT://:{kafka_port}" in kafka["KAFKA_LISTENERS"].split(",")
    assert kafka["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{kafka_host}:{kafka_port}"
    assert int(kafka["KAFKA_MESSAGE_MAX_BYTES"]) >= DEFAULTS.max_message_bytes * FETCH_HEADROOM
    assert int(kafka["KAFKA_NUM_PARTITIONS"]) == int(env["STREAMDECIDE_TOPIC_PARTITIONS"])
    assert env["STREAMDECIDE_TRITON_URL"] == f"triton:{DEFAULTS.triton_grpc_port}"
    assert int(env["STREAMDECIDE_METRICS_PORT"]) == DEFAULTS.metrics_port
    assert services["worker"]["deploy"]["replicas"] <= int(env["STREAMDECIDE_TOPIC_PARTITIONS"])


def assert_triton_command(args: list[str]) -> None:
    flags = flag_values(args)
    assert flags["http-port"] == [str(DEFAULTS.triton_http_port)]
    assert flags["grpc-port"] == [str(DEFAULTS.triton_grpc_port)]
    assert flags["metrics-port"] == [str(DEFAULTS.triton_metrics_port)]
    assert flags["model-control-mode"] == ["explicit"]
    assert sorted(flags["load-model"]) == sorted(SERVED_MODELS)


def test_compose_triton_serves_deploy_triton_on_a_gpu() -> None:
    triton = compose()["services"]["triton"]
    assert_triton_command(triton["command"])
    (volume,) = triton["volumes"]
    source, target, _ = volume.split(":")
    assert source == "./triton" and flag_values(triton["command"])["model-repository"] == [target]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_compose_mounts_files_that_exist() -> None:
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists() or source == "./triton", volume
    build = compose()["services"]["worker"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


# --- Kubernetes ----------------------------------------------------------------------------------


def test_k8s_objects_are_well_formed_and_listed_in_the_kustomization() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for obj in k8s_objects():
        assert {"apiVersion", "kind", "metadata"} <= set(obj), obj
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE == kustomization["namespace"], obj["metadata"]


def test_k8s_settings_are_settings_and_secrets_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    config = k8s_object("ConfigMap", "streamdecide-settings")["data"]
    secret = k8s_object("Secret", "streamdecide-kafka")["stringData"]
    assert_valid_settings({**config, **secret}, monkeypatch)
    assert not SECRET_SETTINGS & set(config), "secrets belong in the Secret, not the ConfigMap"
    assert set(secret) == SECRET_SETTINGS
    assert config["STREAMDECIDE_TRITON_URL"] == f"triton:{DEFAULTS.triton_grpc_port}"
    assert int(config["STREAMDECIDE_METRICS_PORT"]) == DEFAULTS.metrics_port


def test_k8s_workloads_have_probes_limits_and_run_as_non_root() -> None:
    for obj in k8s_objects():
        if obj["kind"] not in {"Deployment", "Job"}:
            continue
        spec = obj["spec"]["template"]["spec"]
        assert spec.get("securityContext", {}).get("runAsNonRoot") or obj["metadata"]["name"] == "triton", obj["metadata"]
        declared = {v["name"] for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), container["name"]
            assert {m["name"] for m in container.get("volumeMounts", [])} <= declared, container["name"]
            if obj["kind"] == "Deployment":
                assert {"livenessProbe", "readinessProbe"} <= set(container), container["name"]
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_k8s_workers_scale_by_partitions_and_use_the_settings() -> None:
    worker = k8s_object("Deployment", "streamdecide-worker")
    config = k8s_object("ConfigMap", "streamdecide-settings")["data"]
    assert worker["spec"]["replicas"] <= int(config["STREAMDECIDE_TOPIC_PARTITIONS"])
    (container,) = containers(worker)
    refs = {(r.get("configMapRef") or r.get("secretRef"))["name"] for r in container["envFrom"]}
    assert refs == {"streamdecide-settings", "streamdecide-kafka"}
    assert [p["containerPort"] for p in container["ports"]] == [DEFAULTS.metrics_port]
    tls = next(v for v in worker["spec"]["template"]["spec"]["volumes"] if v["name"] == "kafka-tls")
    tls_secret = k8s_object("Secret", tls["secret"]["secretName"])["stringData"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "kafka-tls")["mountPath"]
    cafile = Path(config["STREAMDECIDE_KAFKA_SSL_CAFILE"])
    assert cafile.parent == Path(mount) and cafile.name in tls_secret


def test_k8s_triton_has_a_gpu_and_the_default_ports() -> None:
    triton = k8s_object("Deployment", "triton")
    (container,) = containers(triton)
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert_triton_command(container["args"])
    assert container["args"] == compose()["services"]["triton"]["command"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    want = {"http": DEFAULTS.triton_http_port, "grpc": DEFAULTS.triton_grpc_port, "metrics": DEFAULTS.triton_metrics_port}
    assert ports == want
    service = k8s_object("Service", "triton")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == want
    assert container["image"] == compose()["services"]["triton"]["image"]


def test_topic_jobs_create_topics_from_the_code() -> None:
    (job,) = containers(k8s_object("Job", "streamdecide-topics"))
    assert "topic_specs(s.topic_partitions)" in job["args"][0]
    assert job["args"] == compose()["services"]["topics"]["command"]


# --- probes, image, topics -----------------------------------------------------------------------


def test_probes_scrape_the_default_metrics_port_and_ready_line() -> None:
    ports = {int(p) for path in deploy_text_files() for p in METRICS_URL.findall(path.read_text())}
    assert ports == {DEFAULTS.metrics_port}
    metrics = Metrics()
    metrics.set_worker_ready(True)
    assert READY_LINE in metrics.exposition()
    assert READY_LINE.decode() in COMPOSE.read_text() and READY_LINE.decode() in (K8S / "worker.yaml").read_text()


def test_dockerfile_installs_the_lock_under_the_constraints() -> None:
    text = DOCKERFILE.read_text()
    install = next(line for line in text.splitlines() if "requirements.lock" in line and "pip install" in line)
    assert "-c constraints.txt" in install and "-r requirements.lock" in install
    assert f"EXPOSE {DEFAULTS.metrics_port}" in text
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M)
    assert 'ENTRYPOINT ["streamdecide"]' in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name
    images = {s.get("image") for s in compose()["services"].values() if "build" in s}
    k8s_images = {c["image"] for o in k8s_objects() if o["kind"] in {"Deployment", "Job"} for c in containers(o)}
    assert images <= k8s_images


def test_deploy_and_docs_name_only_contract_topics() -> None:
    for path in [*deploy_text_files(), OPERATIONS]:
        unknown = set(TOPIC_LIKE.findall(path.read_text())) - set(ALL_TOPICS)
        assert not unknown, f"{path.relative_to(ROOT)} names topics outside streams/topics.py: {sorted(unknown)}"


# --- docs/operations.md ---------------------------------------------------------------------------


def test_operations_doc_has_the_current_settings_reference() -> None:
    assert settings_reference() in OPERATIONS.read_text(), (
        "docs/operations.md is stale: run `python -m streams.settings_doc docs/operations.md`"
    )


def test_operations_doc_has_the_current_metrics_list() -> None:
    assert metrics_reference() in OPERATIONS.read_text(), (
        "docs/operations.md is stale: run `python -m streams.settings_doc docs/operations.md`"
    )
