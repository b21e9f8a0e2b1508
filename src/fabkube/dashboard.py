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
    "Broadcast latency p95 (orderers)": (
        "histogram_quantile(0.95, sum by (le, channel) "
        f'(rate(broadcast_enqueue_duration_bucket{{{N},kind="orderer"}}[1m])))',
        "s",
        "{{channel}}",
    ),
    # fabkube's Python chaincode runtime (chaincode/runtime/metrics.py); other languages export none.
    "Chaincode transactions per second, by function and outcome": (
        f'sum by (node, function, outcome) (rate(fabkube_chaincode_transactions_total{{{N},kind="chaincode"}}[1m]))',
        "ops",
        "{{node}} {{function}} {{outcome}}",
    ),
    "Chaincode transaction latency p95": (
        "histogram_quantile(0.95, sum by (le, node) "
        f'(rate(fabkube_chaincode_transaction_duration_seconds_bucket{{{N},kind="chaincode"}}[1m])))',
        "s",
        "{{node}}",
    ),
    "Chaincode transactions in flight": (
        f'sum by (node) (fabkube_chaincode_transactions_in_flight{{{N},kind="chaincode"}})',
        "short",
        "{{node}}",
    ),
    "Chaincode peer streams open": (
        f'sum by (node) (fabkube_chaincode_streams_open{{{N},kind="chaincode"}})',
        "short",
        "{{node}}",
    ),
    "CPU per node (cores)": (f"rate(process_cpu_seconds_total{{{N}}}[1m])", "short", "{{node}}"),
    "Memory per node (resident)": (f"process_resident_memory_bytes{{{N}}}", "bytes", "{{node}}"),
}

# Panels of one ordering type's orderers or backing services (the brokers' names are the JMX
# exporter rules' in consensus/kafka/settings.py; ZooKeeper's are its provider's own).
TYPE_PANELS: dict[str, dict[str, tuple[str, str, str]]] = {
    "kafka": {
        "Kafka under-replicated partitions": (
            f'sum by (node) (kafka_server_replicamanager_underreplicatedpartitions{{{N},kind="kafka"}})',
            "short",
            "{{node}}",
        ),
        "Kafka ISR shrinks per second": (
            f'sum by (node) (rate(kafka_server_replicamanager_isrshrinks_total{{{N},kind="kafka"}}[1m]))',
            "ops",
            "{{node}}",
        ),
        "Kafka ISR expands per second": (
            f'sum by (node) (rate(kafka_server_replicamanager_isrexpands_total{{{N},kind="kafka"}}[1m]))',
            "ops",
            "{{node}}",
        ),
        "Kafka produce latency p99 (ms)": (
            f'max by (node) (kafka_network_requestmetrics_totaltimems{{{N},request="Produce",quantile="0.99"}})',
            "ms",
            "{{node}}",
        ),
        "Kafka bytes in per topic": (
            f'sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesin_total{{{N},kind="kafka"}}[1m]))',
            "Bps",
            "{{topic}}",
        ),
        "Kafka bytes out per topic": (
            f'sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesout_total{{{N},kind="kafka"}}[1m]))',
            "Bps",
            "{{topic}}",
        ),
        "ZooKeeper average latency (ms)": (
            f'max by (node) (avg_latency{{{N},kind="zookeeper"}})',
            "ms",
            "{{node}}",
        ),
        "ZooKeeper outstanding requests": (
            f'max by (node) (outstanding_requests{{{N},kind="zookeeper"}})',
            "short",
            "{{node}}",
        ),
    },
    "raft": {
        "Orderer leading each channel": (
            f"max by (channel, node) (consensus_etcdraft_is_leader{{{N}}}) == 1",
            "short",
            "{{channel}}: {{node}}",
        ),
    },
    "bft": {
        "BFT orderer leading each channel": (
            f"max by (channel, node) (consensus_BFT_is_leader{{{N}}}) == 1",
            "short",
            "{{channel}}: {{node}}",
        ),
    },
}


def panels(ordering: str | None = None) -> dict[str, tuple[str, str, str]]:
    """Every panel, or those that apply to a network of one ordering type (a network migrated from
    Kafka to Raft has no brokers left to show)."""
    types = [ordering] if ordering else list(TYPE_PANELS)
    return PANELS | {t: q for kind in types for t, q in TYPE_PANELS.get(kind, {}).items()}


def dashboard(ordering: str | None = None, title: str = "fabkube network") -> dict:
    """Grafana's dashboard model (schemaVersion 39): one time-series panel per query, two a row."""
    out = []
    for i, (name, (expr, unit, legend)) in enumerate(panels(ordering).items()):
        out.append(
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
        "panels": out,
    }


def queries(network: str, ordering: str | None = None) -> dict[str, str]:
    """Each panel's query for one network, as Prometheus is asked it."""
    return {title: expr.replace("$network", network) for title, (expr, _, _) in panels(ordering).items()}


def dashboard_json(ordering: str | None = None) -> str:
    return json.dumps(dashboard(ordering), indent=2) + "\n"
