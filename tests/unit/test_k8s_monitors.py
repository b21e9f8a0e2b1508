"""`kubernetes.monitoring: prometheus-operator`: the PodMonitors and dashboard ConfigMap, checked
against the operator's own CRD schema and against the pods they are meant to select; what a real
Prometheus makes of them on real pods is tests/e2e/test_k8s_real.py's."""

import json

import jsonschema
import pytest
from conftest import EXAMPLES
from tooling.podmonitors import crd, scrape_configs, sd_groups

from fabkube.backends.k8s.render import render
from fabkube.dashboard import queries
from fabkube.errors import UserError
from fabkube.spec import parse_spec

MONITORED = (
    "kubernetes:\n  monitoring: prometheus-operator\n  prometheusRelease: prom\n  operationsFrom: [monitoring]\n"
)


def monitored(example: str, tls: bool = True) -> str:
    text = (EXAMPLES / f"{example}.yaml").read_text()
    text = text.replace("kubernetes:\n", MONITORED, 1) if "kubernetes:\n" in text else text + MONITORED
    return text if tls else text + "tls: false\n"


@pytest.fixture(scope="module", params=["seed", "raft"])
def rendered(request, tools, tmp_path_factory):
    loaded = parse_spec(monitored(request.param))
    return loaded, render(loaded, tmp_path_factory.mktemp("k8s"), tools)


def by_kind(r, kind):
    return [o for o in r.objects() if o["kind"] == kind]


def test_podmonitors_validate_against_the_operators_crd(rendered):
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    monitors = by_kind(rendered[1], "PodMonitor")
    assert monitors
    for m in monitors:
        jsonschema.validate(m, schema)
        assert m["metadata"]["labels"]["release"] == "prom"  # kube-prometheus-stack selects by its release
    bad = json.loads(json.dumps(monitors[0]))
    bad["spec"]["podMetricsEndpoints"][0]["scheme"] = "tcp"
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict enough to fail
        jsonschema.validate(bad, schema)


def pods_of(r):
    """The pods the workloads would make, as the API returns them (one per replica, with an IP)."""
    out = []
    for o in r.objects():
        if o["kind"] not in ("StatefulSet", "Deployment"):
            continue
        replicas = o["spec"].get("replicas", 1)
        for i in range(replicas):
            name = f"{o['metadata']['name']}-{i}"
            template = o["spec"]["template"]
            out.append(
                {
                    "metadata": {
                        "name": name,
                        "namespace": o["metadata"]["namespace"],
                        "labels": template["metadata"]["labels"],
                    },
                    "spec": template["spec"],
                    "status": {"podIP": f"10.244.0.{len(out) + 2}", "phase": "Running"},
                }
            )
    return out


def selected(monitor, pods):
    """Pods and ports each endpoint keeps, by the operator's selector and port rules and the
    monitor's own keep rule (what Prometheus' relabeling does with them, in Python)."""
    import re

    configs, _ = scrape_configs(monitor)
    out = []
    ns_pods = [p for p in pods if p["metadata"]["namespace"] == monitor["metadata"]["namespace"]]
    for config in configs:
        for group in sd_groups(ns_pods):
            labels = dict(group["labels"])
            kept = True
            for rule in config["relabel_configs"]:
                if rule.get("action") not in ("keep", "drop"):
                    continue
                value = ";".join(labels.get(s, "") for s in rule["source_labels"])
                match = re.fullmatch(rule["regex"], value) is not None
                if match != (rule["action"] == "keep"):
                    kept = False
                    break
            if kept:
                out.append((labels["__meta_kubernetes_pod_name"], group["targets"][0].rsplit(":", 1)[1]))
    return out


def test_each_endpoint_selects_exactly_its_node_and_port(rendered):
    loaded, r = rendered
    pods = pods_of(r)
    monitors = by_kind(r, "PodMonitor")
    picked = [t for m in monitors for t in selected(m, pods)]
    assert len(picked) == len(set(picked))  # no target twice
    names = {p for p, _ in picked}
    topo = r.layout.topo
    want = {f"{n.hostname}-0" for n in topo.orderers + topo.peers} | {f"cc-{cc.name}-0" for cc in topo.chaincodes}
    if topo.ordering.type == "kafka":
        want |= {f"zookeeper-{i}" for i in range(loaded.spec.zookeeper.nodes)}  # one StatefulSet's pods
    assert names == want
    ports = {port for _, port in picked}
    assert ports <= {"9443", "9444", "9180", "7000"}, ports  # operations (peer, orderer), chaincode, ZooKeeper
    assert not any(p.startswith(("kafka-", "lifecycle")) for p in names)  # brokers serve none in pods


def test_tls_endpoints_name_the_nodes_service_and_carry_the_orgs_client_pair(rendered):
    _, r = rendered
    topo = r.layout.topo
    secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in by_kind(r, "Secret")}
    nodes = {n.hostname: n for n in topo.orderers + topo.peers}
    for m in by_kind(r, "PodMonitor"):
        for ep in m["spec"]["podMetricsEndpoints"]:
            if ep["port"] != "operations":
                assert ep["scheme"] == "http" and "tlsConfig" not in ep
                continue
            keep = next(x for x in ep["relabelings"] if x["action"] == "keep")
            tls = ep["tlsConfig"]
            node = nodes[keep["regex"]]
            # The name its clients dial, which its certificate carries (a pod IP it does not).
            assert ep["scheme"] == "https" and tls["serverName"] == node.address.host
            assert tls["serverName"] in topo.tls_sans(node)
            secret = secrets[(m["metadata"]["namespace"], tls["keySecret"]["name"])]
            assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}


def test_the_dashboard_configmap_is_for_the_grafana_sidecar(rendered):
    loaded, r = rendered
    (config,) = [o for o in by_kind(r, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    (board,) = [json.loads(v) for v in config["data"].values()]
    exprs = {p["targets"][0]["expr"] for p in board["panels"]}
    assert exprs == set(queries("$network", loaded.spec.ordering.type).values())


def test_operations_and_metrics_ports_open_to_operations_from_only(rendered):
    _, r = rendered
    opened = {}
    for pol in by_kind(r, "NetworkPolicy"):
        for rule in pol["spec"].get("ingress", []):
            for port in rule["ports"]:
                opened.setdefault(port["port"], []).append(rule.get("from"))
    for port in (9443, 9444, 9180, *((7000,) if rendered[0].spec.ordering.type == "kafka" else ())):
        assert opened[port] and all(
            f == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
            for f in opened[port]
        ), opened[port]


def test_without_tls_plain_http_and_no_client_secret(tools, tmp_path):
    r = render(parse_spec(monitored("seed", tls=False)), tmp_path, tools)
    assert not [o for o in by_kind(r, "Secret") if o["metadata"]["name"].endswith("-metrics-client")]
    assert {ep["scheme"] for m in by_kind(r, "PodMonitor") for ep in m["spec"]["podMetricsEndpoints"]} == {"http"}


def test_monitoring_off_renders_none_and_no_metrics_port_in_pods(tools, tmp_path):
    r = render(parse_spec((EXAMPLES / "seed.yaml").read_text()), tmp_path, tools)
    assert not by_kind(r, "PodMonitor") and "monitoring.yaml" not in r.files
    ports = {p["containerPort"] for o in r.objects() for c in containers(o) for p in c.get("ports", [])}
    assert not ports & {9180, 7000}  # nothing changes in the pods of a network that had no monitoring


def test_a_chaincode_in_an_image_of_the_users_serves_no_metrics(tools, tmp_path):
    text = monitored("seed").replace('init: [a, "100", b, "200"]}', 'init: [a, "100", b, "200"], image: "me/mycc:1"}')
    r = render(parse_spec(text), tmp_path, tools)
    assert not [m for m in by_kind(r, "PodMonitor") if m["metadata"]["name"].startswith("seed-chaincode")]
    assert 9180 not in {p["containerPort"] for o in r.objects() for c in containers(o) for p in c.get("ports", [])}


def containers(obj):
    if obj["kind"] not in ("StatefulSet", "Deployment"):
        return []
    return obj["spec"]["template"]["spec"]["containers"]


def test_empty_operations_from_is_warned_of():
    text = monitored("seed").replace("  operationsFrom: [monitoring]\n", "")
    assert any("operationsFrom" in w and "Prometheus" in w for w in parse_spec(text).warnings)


def test_brokers_serve_metrics_through_the_agent_the_spec_names(tools, tmp_path):
    jar = "/opt/kafka/libs/jmx_prometheus_javaagent-1.0.1.jar"
    text = monitored("seed").replace(
        "  monitoring: prometheus-operator\n", f"  monitoring: prometheus-operator\n  kafkaMetricsAgent: {jar}\n"
    )
    r = render(parse_spec(text), tmp_path, tools)
    (sts,) = [o for o in by_kind(r, "StatefulSet") if o["metadata"]["name"] == "kafka"]
    pod = sts["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert f"-javaagent:{jar}=7071:/config/jmx-exporter.yaml" in env["KAFKA_OPTS"]
    assert not any("javaagent" in e["value"] for e in pod["initContainers"][0]["env"])  # zookeeper-shell's JVM
    assert {"name": "metrics", "containerPort": 7071} in pod["containers"][0]["ports"]
    (config,) = [o for o in by_kind(r, "ConfigMap") if o["metadata"]["name"] == "kafka-config"]
    assert "underreplicated" in config["data"]["jmx-exporter.yaml"].lower()
    assert "seed-kafka" in {m["metadata"]["name"] for m in by_kind(r, "PodMonitor")}
    with pytest.raises(UserError, match=r"kubernetes\.kafkaMetricsAgent .*'libs/agent\.jar' is not an absolute path"):
        parse_spec(text.replace(jar, "libs/agent.jar"))
