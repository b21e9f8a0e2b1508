"""A Prometheus scrape config for a local network: every orderer's and peer's operations
endpoint (`/metrics`), by org.

With TLS, Fabric serves `/metrics` only to a client certificate of the org's TLS CA (core/operations
system.go registers it as secure), so each org gets its own job presenting that org admin's TLS
pair; without TLS the endpoints speak plain HTTP. Every sample carries the network, org, node and
kind labels the dashboard queries by."""

from __future__ import annotations

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


def scrape_configs(layout: Layout) -> list[dict]:
    """One job per org and kind of node, each target labelled with its node."""
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
    return jobs


def prometheus_config(layout: Layout) -> dict:
    """A whole prometheus.yml: the global interval and this network's jobs."""
    return {"global": {"scrape_interval": SCRAPE_INTERVAL}, "scrape_configs": scrape_configs(layout)}
