"""`kubernetes.monitoring: prometheus-operator`: what kube-prometheus-stack's Prometheus and Grafana
pick up by themselves (sources for each choice: docs/k8s-monitoring-research.md).

- One PodMonitor (monitoring.coreos.com/v1) per org and kind of Fabric node, in the org's namespace,
  labelled `release: <kubernetes.prometheusRelease>` (the chart's Prometheus selects monitors by its
  Helm release). One endpoint per node: Fabric's certificates name the node's Service, never a pod
  IP, so each endpoint keeps its own pod and gives that name as `serverName`. With TLS the client
  pair is the org admin's TLS pair (Fabric serves /metrics only to a client of the org's TLS CA),
  in a Secret of the monitor's own namespace, the only one the operator reads a monitor's from.
- One PodMonitor per org for fabkube's Python chaincode servers (plain HTTP on CHAINCODE_METRICS_PORT),
  and one per backing service that serves metrics in pods (the ordering type says which: Kafka's
  ZooKeeper, and its brokers where the spec names the JMX exporter agent in their image).
- The dashboard as a ConfigMap labelled `grafana_dashboard: "1"` (the chart's sidecar loads those
  from every namespace).
Every target gets the labels the dashboard queries by: network, org, node, kind (as locally,
monitoring/scrape.py). The NetworkPolicies open these ports to kubernetes.operationsFrom only.
"""

from __future__ import annotations

import json

from fabkube.backends.k8s.objects import files_secret, meta
from fabkube.consensus.k8s import k8s_part
from fabkube.dashboard import dashboard
from fabkube.layout import Layout
from fabkube.nodes import Org

API_GROUP, API_VERSION = "monitoring.coreos.com", "v1"
CHAINCODE_METRICS_PORT = 9180  # fabkube's chaincode runtime's /metrics in a chaincode pod
INTERVAL = "15s"
NAME_LABEL = "__meta_kubernetes_pod_label_app_kubernetes_io_name"  # the operator's sanitised pod label
POD_NAME = "__meta_kubernetes_pod_name"


def metrics_client_secret(spec_name: str, org: Org) -> str:
    return f"{spec_name}-{org.name.lower()}-metrics-client"


def _endpoint(port: str, scheme: str, labels: dict[str, str], component: str | None, node: str | None) -> dict:
    """One podMetricsEndpoint: keep the pod of `component` (None: every pod the monitor selects),
    then label the target as the local scrape config does (monitoring/scrape.py): `labels`, and the
    node's topology name (None: the pod's own name, for one StatefulSet's pods)."""
    keep = [{"action": "keep", "sourceLabels": [NAME_LABEL], "regex": component}] if component else []
    named = [
        {"action": "replace", "targetLabel": "node", "replacement": node}
        if node
        else {"action": "replace", "sourceLabels": [POD_NAME], "targetLabel": "node"}
    ]
    return {
        "port": port,
        "path": "/metrics",
        "interval": INTERVAL,
        "scheme": scheme,
        "relabelings": [
            *keep,
            *({"action": "replace", "targetLabel": k, "replacement": v} for k, v in labels.items()),
            *named,
        ],
    }


def _monitor(layout: Layout, name: str, namespace: str, kind: str, endpoints: list[dict]) -> dict:
    spec = layout.topo.spec
    metadata = meta(spec, name, namespace, name, "monitoring")
    metadata["labels"]["release"] = spec.kubernetes.prometheusRelease
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "PodMonitor",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/part-of": spec.name, "app.kubernetes.io/component": kind}},
            "podMetricsEndpoints": endpoints,
        },
    }


def monitor_objects(layout: Layout, python_chaincodes: frozenset[str]) -> list[dict]:
    """PodMonitors, their TLS client Secrets and the dashboard ConfigMap; none unless the spec asks."""
    topo, spec = layout.topo, layout.topo.spec
    if spec.kubernetes.monitoring != "prometheus-operator":
        return []
    out: list[dict] = []
    secrets: dict[str, Org] = {}
    for kind, nodes in (("orderer", topo.orderers), ("peer", topo.peers)):
        for org in {n.org.name: n.org for n in nodes}.values():
            endpoints = []
            labels = {"network": spec.name, "org": org.name, "kind": kind}
            for n in (n for n in nodes if n.org.name == org.name):
                ep = _endpoint("operations", "https" if spec.tls else "http", labels, n.hostname, n.name)
                if spec.tls:
                    secret = metrics_client_secret(spec.name, org)
                    secrets[secret] = org
                    ep["tlsConfig"] = {
                        "ca": {"secret": {"name": secret, "key": "ca.crt"}},
                        "cert": {"secret": {"name": secret, "key": "tls.crt"}},
                        "keySecret": {"name": secret, "key": "tls.key"},
                        "serverName": n.address.host,
                    }
                endpoints.append(ep)
            out.append(_monitor(layout, f"{spec.name}-{kind}s-{org.name.lower()}", org.namespace, kind, endpoints))
    for org in topo.orgs:
        served = [cc for cc in topo.chaincodes if cc.name in python_chaincodes and org in cc.orgs]
        if not served:
            continue
        labels = {"network": spec.name, "org": org.name, "kind": "chaincode"}
        endpoints = [_endpoint("metrics", "http", labels, f"cc-{cc.name}", f"chaincode-{cc.name}") for cc in served]
        out.append(_monitor(layout, f"{spec.name}-chaincode-{org.name.lower()}", org.namespace, "chaincode", endpoints))
    for namespace, kind in k8s_part(topo.ordering.type).monitored_services(layout):
        labels = {"network": spec.name, "org": topo.orderer_org.name, "kind": kind}
        out.append(
            _monitor(layout, f"{spec.name}-{kind}", namespace, kind, [_endpoint("metrics", "http", labels, None, None)])
        )
    for name, org in secrets.items():
        pair = layout.admin_tls(org)
        files = {"ca.crt": layout.tls_ca(org), "tls.crt": pair / "client.crt", "tls.key": pair / "client.key"}
        out.insert(0, files_secret(spec, name, org.namespace, name, "monitoring", files)[0])
    board = dashboard(topo.ordering.type, title=f"fabkube {spec.name}")
    board["uid"] = f"fabkube-{spec.name}"[:40]
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, f"{spec.name}-dashboard", topo.orderer_org.namespace, "dashboard", "monitoring"),
        "data": {f"fabkube-{spec.name}.json": json.dumps(board, indent=1)},
    }
    config["metadata"]["labels"]["grafana_dashboard"] = "1"
    return [*out, config]
