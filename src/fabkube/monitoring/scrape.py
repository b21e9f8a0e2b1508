"""A Prometheus scrape config for a local network: every orderer's and peer's operations
endpoint (`/metrics`), by org; then what serves metrics of its own (Kafka's ZooKeeper nodes and
brokers, the Python chaincode servers).

With TLS, Fabric serves `/metrics` only to a client certificate of the org's TLS CA (core/operations
system.go registers it as secure), so each org gets its own job presenting that org admin's TLS
pair; without TLS the endpoints speak plain HTTP. Every sample carries the network, org, node and
kind labels the dashboard queries by."""

from __future__ import annotations

from fabkube.components import Component
from fabkube.layout import Layout
from fabkube.nodes import Org

SCRAPE_INTERVAL = "5s"  # a local network's blocks come in seconds: a minute's rate needs points


def _tls(layout: Layout, org: Org) -> dict:
    pair = layout.admin_tls(org)
    return {
        "ca_file": str(layout.tls_ca(org)),
        "cert_file": str(pair / "client.crt"),
        "key_file": str(pair / "client.key"),
    }


def scrape_configs(layout: Layout, components: list[Component]) -> list[dict]:
    """One job per org and kind of Fabric node, each target labelled with its node; then the local
    `components` that serve metrics of their own."""
    topo = layout.topo
    tls = topo.spec.tls
    jobs = []
    for kind, nodes in (("orderer", topo.orderers), ("peer", topo.peers)):
        orgs = {n.org.name: n.org for n in nodes}
        for org in orgs.values():
            job = {
                "job_name": f"{topo.spec.name}-{kind}-{org.name}".lower(),
                "scrape_interval": SCRAPE_INTERVAL,
                "metrics_path": "/metrics",
                "scheme": "https" if tls else "http",
                "static_configs": [
                    {
                        "targets": [str(n.operations)],
                        "labels": {"network": topo.spec.name, "org": org.name, "node": n.name, "kind": kind},
                    }
                    for n in nodes
                    if n.org.name == org.name
                ],
            }
            if tls:
                job["tls_config"] = _tls(layout, org)
            jobs.append(job)
    return jobs + _service_jobs(layout, components)


def _service_jobs(layout: Layout, components: list[Component]) -> list[dict]:
    """Components with a plain-HTTP endpoint of their own (Kafka's ZooKeeper provider and brokers'
    JMX exporter, fabkube's Python chaincode runtime), one job per kind; on loopback only."""
    topo = layout.topo
    by_kind: dict[str, list[Component]] = {}
    for c in components:
        if c.metrics:
            by_kind.setdefault(c.kind, []).append(c)
    return [
        {
            "job_name": f"{topo.spec.name}-{kind}".lower(),
            "scrape_interval": SCRAPE_INTERVAL,
            "metrics_path": "/metrics",
            "scheme": "http",
            "static_configs": [
                {
                    "targets": [str(c.metrics)],
                    "labels": {"network": topo.spec.name, "org": _org(topo, c), "node": c.name, "kind": kind},
                }
                for c in comps
            ],
        }
        for kind, comps in by_kind.items()
    ]


def _org(topo, c: Component) -> str:
    """The org a component serves: a chaincode server its channel's first org (locally one server
    serves them all), a backing service the orderer org."""
    if c.kind == "chaincode":
        return topo.chaincode(c.name.removeprefix("chaincode-")).orgs[0].name
    return topo.orderer_org.name


def prometheus_config(layout: Layout, components: list[Component]) -> dict:
    """A whole prometheus.yml: the global interval and this network's jobs."""
    return {"global": {"scrape_interval": SCRAPE_INTERVAL}, "scrape_configs": scrape_configs(layout, components)}
