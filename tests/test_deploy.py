"""The deployment files agree with each other and with the code.

No Docker engine or cluster runs here, so these checks read the files: the compose stack's services,
mounts, ports and environment; the Kubernetes manifests' probes, annotations and config; the
Dockerfile's stages, user and health check; Prometheus' rule files and alert routing. promtool runs
on the Prometheus files in tests/test_prometheus_proof.py.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from streams.config import load_config

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
WORKERS = ["worker-1", "worker-2"]
K8S = {path.name: list(yaml.safe_load_all(path.read_text())) for path in sorted((DEPLOY / "k8s").glob("*.yaml"))}
DOCKERFILE = (REPO / "Dockerfile").read_text()
PROMETHEUS = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
PROMETHEUS_K8S = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.k8s.yml").read_text())
ALERTMANAGER = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())


def k8s_object(kind: str) -> dict[str, Any]:
    (found,) = [doc for docs in K8S.values() for doc in docs if doc and doc["kind"] == kind]
    return found


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every short-syntax volume of a compose service."""
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


# --------------------------------------------------------------------------- docker compose


def test_compose_runs_the_whole_stack() -> None:
    assert set(SERVICES) == {"kafka", *WORKERS, "prometheus", "alertmanager", "grafana"}
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    for name in WORKERS:
        build = SERVICES[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"


def test_every_mounted_host_path_exists_and_named_volumes_are_declared() -> None:
    for name, service in SERVICES.items():
        for source, target in volume_mounts(service):
            assert target.startswith("/"), (name, target)
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"


def test_kafka_is_a_kraft_node_that_other_containers_reach() -> None:
    env = SERVICES["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(entry.split("://") for entry in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(entry.split("://") for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(entry.split(":") for entry in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) == set(protocols)
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised, "the controller listener is not for clients"
    node, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == str(env["KAFKA_NODE_ID"])
    assert voter == f"{SERVICES['kafka']['hostname']}{listeners[env['KAFKA_CONTROLLER_LISTENER_NAMES']]}"
    internal = advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal == f"kafka{listeners[env['KAFKA_INTER_BROKER_LISTENER_NAME']]}"
    for name in WORKERS:
        assert SERVICES[name]["environment"]["CRISISWATCH_KAFKA_BOOTSTRAP"] == internal
    published = [p.split(":")[0] for p in SERVICES["kafka"]["ports"]]
    host_listener = [addr for addr in advertised.values() if addr.startswith("localhost:")]
    assert [addr.split(":")[1] for addr in host_listener] == published, "the host listener must be published"


def test_workers_share_a_group_but_not_data_dirs_or_host_ports() -> None:
    envs = [SERVICES[name]["environment"] for name in WORKERS]
    assert envs[0] == envs[1], "same config, same group"
    data = [dict((t, s) for s, t in volume_mounts(SERVICES[name]))[envs[0]["CRISISWATCH_DATA_DIR"]]
            for name in WORKERS]
    assert len(set(data)) == len(WORKERS), "each worker needs its own data directory"
    host_ports = [p.split(":")[0] for name in WORKERS for p in SERVICES[name]["ports"]]
    assert len(set(host_ports)) == len(host_ports)
    config_mount = dict((t, s) for s, t in volume_mounts(SERVICES["worker-1"]))[envs[0]["CRISISWATCH_CONFIG"]]
    assert (DEPLOY / config_mount).resolve() == REPO / "crisiswatch.yaml"
    for secret in ("SLACK_BOT_TOKEN", "PAGERDUTY_ROUTING_KEY"):
        assert envs[0][secret].startswith("${"), f"{secret} must come from the environment, not the file"


def test_prometheus_scrapes_both_workers_and_sends_to_alertmanager() -> None:
    (job,) = [j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == "crisiswatch"]
    targets = job["static_configs"][0]["targets"]
    port = SERVICES["worker-1"]["environment"]["CRISISWATCH_METRICS_PORT"]
    assert sorted(targets) == sorted(f"{SERVICES[n]['hostname']}:{port}" for n in WORKERS)
    (alertmanager,) = PROMETHEUS["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == "alertmanager:9093" and "9093:9093" in SERVICES["alertmanager"]["ports"]
    mounts = dict((t, s) for s, t in volume_mounts(SERVICES["prometheus"]))
    assert (DEPLOY / mounts["/etc/prometheus"]).resolve() == DEPLOY / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]


def test_grafana_mounts_the_provisioning_where_the_provider_looks() -> None:
    mounts = dict((t, s) for s, t in volume_mounts(SERVICES["grafana"]))
    assert (DEPLOY / mounts["/etc/grafana/provisioning"]).resolve() == REPO / "grafana" / "provisioning"
    provider = yaml.safe_load((REPO / "grafana" / "provisioning" / "dashboards" / "crisiswatch.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert (DEPLOY / mounts[path]).resolve() == REPO / "grafana" / "dashboards"
    datasource = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "grafana" / "dashboards" / Path(home).name).exists() and home.startswith(path)


def test_alertmanager_reads_the_slack_url_from_the_compose_secret() -> None:
    (secret,) = SERVICES["alertmanager"]["secrets"]
    assert "environment" in COMPOSE["secrets"][secret], "the URL comes from the environment, not a file in git"
    assert ALERTMANAGER["global"]["slack_api_url_file"] == f"/run/secrets/{secret}"
    assert "slack_api_url" not in ALERTMANAGER["global"]


# --------------------------------------------------------------------------- alert routing


def test_every_alert_has_a_routed_severity_annotations_and_a_unit_test() -> None:
    routed = {m for route in ALERTMANAGER["route"]["routes"] for m in route["matchers"]
              if m.startswith("severity=")}
    receivers = {r["name"] for r in ALERTMANAGER["receivers"]}
    assert {route["receiver"] for route in ALERTMANAGER["route"]["routes"]} <= receivers
    unit_tests = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "tests").glob("*.yml"))
    rules = alert_rules()
    assert len(rules) >= 5
    for rule in rules:
        assert f'severity="{rule["labels"]["severity"]}"' in routed, rule["alert"]
        assert rule["labels"]["service"] == "crisiswatch"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert f"alertname: {rule['alert']}" in unit_tests, f"{rule['alert']} has no promtool unit test"
        assert 'job="crisiswatch"' in rule["expr"] or "by (job" in rule["expr"], rule["alert"]


def test_prometheus_configs_load_rule_files_that_exist() -> None:
    for config in (PROMETHEUS, PROMETHEUS_K8S):
        assert config["rule_files"]
        for rule_file in config["rule_files"]:
            assert (DEPLOY / "prometheus" / rule_file).is_file(), rule_file
        assert [j for j in config["scrape_configs"] if j["job_name"] == "crisiswatch"]


# --------------------------------------------------------------------------- kubernetes


def test_k8s_manifests_parse_and_kustomization_lists_them() -> None:
    kustomization = K8S["kustomization.yaml"][0]
    assert sorted(kustomization["resources"]) == sorted(name for name in K8S if name != "kustomization.yaml")
    kinds = {doc["kind"] for docs in K8S.values() for doc in docs if doc}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service"} <= kinds


def test_worker_deployment_has_probes_on_declared_ports_and_runs_as_non_root() -> None:
    pod = k8s_object("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe
    assert container["livenessProbe"]["httpGet"]["port"] == "web"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["CRISISWATCH_METRICS_PORT"]) == ports["metrics"]
    assert int(env["CRISISWATCH_WEB_PORT"]) == ports["web"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(Path(env["CRISISWATCH_CONFIG"]).parent)] == "config"
    assert env["CRISISWATCH_DATA_DIR"] in mounts
    assert container["envFrom"][0]["secretRef"]["name"] == k8s_object("Secret")["metadata"]["name"]


def test_pods_and_service_carry_the_scrape_annotations_prometheus_k8s_keeps() -> None:
    deployment = k8s_object("Deployment")
    template = deployment["spec"]["template"]
    metrics_port = next(p["containerPort"] for p in template["spec"]["containers"][0]["ports"]
                        if p["name"] == "metrics")
    for notes in (template["metadata"]["annotations"], k8s_object("Service")["metadata"]["annotations"]):
        assert notes["prometheus.io/scrape"] == "true"
        assert notes["prometheus.io/port"] == str(metrics_port)
        assert notes["prometheus.io/path"] == "/metrics"
    (job,) = PROMETHEUS_K8S["scrape_configs"]
    keep = next(r for r in job["relabel_configs"]
                if r["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"])
    assert re.fullmatch(keep["regex"], template["metadata"]["labels"]["app.kubernetes.io/name"])
    assert k8s_object("Service")["spec"]["selector"].items() <= template["metadata"]["labels"].items()


def test_configmap_holds_a_valid_config_with_the_demo_brands(tmp_path: Path) -> None:
    data = k8s_object("ConfigMap")["data"]["crisiswatch.yaml"]
    path = tmp_path / "crisiswatch.yaml"
    path.write_text(data)
    config = load_config(path, env={})
    assert config.brand_names == load_config(REPO / "crisiswatch.yaml", env={}).brand_names
    assert config.worker.data_dir.startswith("/")


def test_secret_holds_placeholders_only() -> None:
    secret = k8s_object("Secret")
    assert secret["stringData"] and all("REPLACE-ME" in v for v in secret["stringData"].values())


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_entrypoint() -> None:
    instructions = dockerfile_instructions()
    assert sum(1 for op, _ in instructions if op == "FROM") >= 2
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (healthcheck,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/metrics" in healthcheck and "CRISISWATCH_METRICS_PORT" in healthcheck
    assert ("ENTRYPOINT", '["crisiswatch"]') in instructions
    assert ("CMD", '["worker"]') in instructions
    assert any(op == "COPY" and "--from=builder" in arg for op, arg in instructions)


def test_dockerfile_copies_only_what_exists_and_dockerignore_keeps() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for op, arg in dockerfile_instructions():
        if op != "COPY" or arg.startswith("--from"):
            continue
        *sources, _ = arg.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert source.rstrip("/") not in ignored, f"{source} is copied but .dockerignore excludes it"
    assert "crisiswatch = streams.cli:main" in (REPO / "setup.cfg").read_text()


def test_dockerfile_ports_match_the_compose_and_k8s_workers() -> None:
    exposed = {int(p) for op, arg in dockerfile_instructions() if op == "EXPOSE" for p in arg.split()}
    env = SERVICES["worker-1"]["environment"]
    assert {int(env["CRISISWATCH_METRICS_PORT"]), int(env["CRISISWATCH_WEB_PORT"])} == exposed


# --------------------------------------------------------------------------- install script


def test_install_prometheus_script_is_idempotent_and_valid_bash() -> None:
    script = REPO / "scripts" / "install_prometheus.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.index("command -v promtool") < text.index("apt-get install"), "check before installing"
