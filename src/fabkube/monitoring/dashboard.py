"""The Grafana dashboard of a fabkube network, as data: panels of PromQL over the labels the scrape
config gives every target (network, org, node, kind). Grafana itself is not shipped (AGPL): the
JSON is imported by the user's Grafana, or picked up from a ConfigMap by kube-prometheus-stack's
sidecar. Each panel's query is what the tests ask a real Prometheus.

Metric names are Fabric's (2.5.9 and 3.1.1 alike, docs/observability-plan.md section 4);
`network` is a dashboard variable."""

from __future__ import annotations

import json

N = 'network="$network"'

# title -> (PromQL, unit, legend). The block rate and transactions come from the peers' commit
# histograms and counters (one peer's view per channel: every peer commits the same blocks).
PANELS: dict[str, tuple[str, str, str]] = {
    "Ledger height per node and channel": (
        f"max by (node, channel) (ledger_blockchain_height{{{N}}})",
        "short",
        "{{node}} {{channel}}",
    ),
    "Blocks committed per second": (
        f'max by (channel) (rate(ledger_block_processing_time_count{{{N},kind="peer"}}[1m]))',
        "ops",
        "{{channel}}",
    ),
    "Transactions committed per second, by validation code": (
        f'max by (channel, validation_code) (rate(ledger_transaction_count{{{N},kind="peer"}}[1m]))',
        "ops",
        "{{channel}} {{validation_code}}",
    ),
    "Endorsement latency p95": (
        f"histogram_quantile(0.95, sum by (le, chaincode) (rate(endorser_proposal_duration_bucket{{{N}}}[1m])))",
        "s",
        "{{chaincode}}",
    ),
    "Orderer leading each channel": (
        f"max by (channel, node) (consensus_etcdraft_is_leader{{{N}}}) == 1 "
        f"or max by (channel, node) (consensus_BFT_is_leader{{{N}}}) == 1",
        "short",
        "{{channel}}: {{node}}",
    ),
    "Broadcast latency p95 (orderers)": (
        "histogram_quantile(0.95, sum by (le, channel) "
        f'(rate(broadcast_enqueue_duration_bucket{{{N},kind="orderer"}}[1m])))',
        "s",
        "{{channel}}",
    ),
    "CPU per node (cores)": (f"rate(process_cpu_seconds_total{{{N}}}[1m])", "short", "{{node}}"),
    "Memory per node (resident)": (f"process_resident_memory_bytes{{{N}}}", "bytes", "{{node}}"),
}


def dashboard(title: str = "fabkube network") -> dict:
    """Grafana's dashboard model (schemaVersion 39): one time-series panel per query, two a row."""
    panels = []
    for i, (name, (expr, unit, legend)) in enumerate(PANELS.items()):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": name,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
            }
        )
    variables = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {
            "name": "network",
            "type": "query",
            "label": "Network",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": "label_values(ledger_blockchain_height, network)",
            "refresh": 2,
        },
    ]
    return {
        "title": title,
        "uid": "fabkube-network",
        "schemaVersion": 39,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": variables},
        "panels": panels,
    }


def queries(network: str) -> dict[str, str]:
    """Each panel's query for one network, as Prometheus is asked it."""
    return {p["title"]: p["targets"][0]["expr"].replace("$network", network) for p in dashboard()["panels"]}


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"
