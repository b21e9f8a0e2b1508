"""Kafka ordering: a ZooKeeper ensemble and Kafka brokers behind the orderers, with the system channel."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

from fabkube import health
from fabkube.components import Component, Health
from fabkube.consensus import Consensus, EndpointFactory, register
from fabkube.consensus.kafka.settings import KAFKA_ZK_SESSION_S, orderer_kafka_env
from fabkube.layout import Layout
from fabkube.toolchain import Toolchain
from fabkube.topology import CLUSTER_DOMAIN, Endpoint, KafkaNode, OrdererNode, Topology, ZooKeeperNode


class KafkaConsensus(Consensus):
    type = "kafka"
    service_titles = (("zookeeper", "ZooKeeper ensemble (quorum)"), ("kafka", "Kafka brokers (all registered)"))
    orderer_title = "orderers (Kafka chains started)"

    def __init__(self) -> None:
        self._tls: dict[str, ssl.SSLContext] = {}

    def add_nodes(self, topo: Topology, endpoint: EndpointFactory) -> None:
        spec, kns = topo.spec, topo.services_namespace
        for i in range(spec.zookeeper.nodes):
            host = f"zookeeper-{i}.zookeeper-headless.{kns}.{CLUSTER_DOMAIN}"
            topo.zookeepers.append(
                ZooKeeperNode(
                    i,
                    f"zookeeper-{i}",
                    kns,
                    endpoint(host, "zk_client"),
                    endpoint(host, "zk_peer"),
                    endpoint(host, "zk_election"),
                )
            )
        for i in range(spec.kafka.brokers):
            host = f"kafka-{i}.kafka-headless.{kns}.{CLUSTER_DOMAIN}"
            topo.kafkas.append(KafkaNode(i, f"kafka-{i}", kns, endpoint(host, "kafka")))

    def configtx_orderer(self, topo: Topology) -> dict:
        return {"OrdererType": "kafka", "Kafka": {"Brokers": topo.broker_addresses}}

    def orderer_env(self, topo: Topology, node: OrdererNode, tls: Path) -> dict[str, str]:
        return orderer_kafka_env(topo, node, tls)

    def local_components(self, layout: Layout, tools: Toolchain) -> list[Component]:
        from fabkube.consensus.kafka.local import local_components

        return local_components(layout, tools)

    def service_ready(self, comp: Component, layout: Layout) -> Callable[[], bool]:
        ep = comp.health.endpoint
        if comp.kind == "zookeeper":
            return lambda: health.zookeeper_mode(ep) in ("leader", "follower", "standalone")
        want = [k.broker_id for k in layout.topo.kafkas]
        tls = self._client_tls(layout)
        return lambda: health.kafka_brokers(ep, tls) == want

    def _client_tls(self, layout: Layout) -> ssl.SSLContext | None:
        """Brokers require a client certificate from the orderer org's TLS CA; one context per work dir,
        built when first needed and reused by every poll."""
        if not layout.topo.spec.tls:
            return None
        d = layout.kafka_tls
        key = str(d)
        if key not in self._tls:
            self._tls[key] = health.client_tls(str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key"))
        return self._tls[key]

    def orderer_health(self, node: OrdererNode) -> Health:
        # Never /healthz on a Kafka orderer: see health.kafka_orderer_started.
        return Health("orderer", node.address)

    def orderer_ready(self, endpoint: Endpoint, log: Path, offset: int, channels: list[str]) -> bool:
        return health.kafka_orderer_started(endpoint, log, offset, channels)

    def restart_delay(self, comp: Component, recent_log: str) -> float | None:
        # A broker restarted within ZooKeeper's session timeout finds its old registration
        # still there and exits (NodeExists); once the session expires it starts.
        if comp.kind == "kafka" and "NodeExists" in recent_log:
            return KAFKA_ZK_SESSION_S + 1
        return None

    def k8s_files(self, layout: Layout) -> dict[str, list[dict]]:
        from fabkube.consensus.kafka.k8s import kafka_objects, zookeeper_objects

        return {"zookeeper.yaml": zookeeper_objects(layout.topo), "kafka.yaml": kafka_objects(layout)}

    def orderer_probes(self, node: OrdererNode) -> tuple[dict, dict, dict]:
        """A Kafka orderer is never probed on /healthz: Fabric 2.5's Kafka chain HealthCheck uses the
        chain's producer without a nil check, and the producer exists only once the chain has
        connected to Kafka, so one GET during a cold start (Kafka takes tens of seconds on a cluster),
        or after a restart while Kafka is unreachable, panics the orderer and it crash-loops. Its gRPC
        port opens only after every chain has been created, so a TCP check there cannot crash it and
        still means the process is up; whether it can order yet is the lifecycle Job's concern (it
        retries SERVICE_UNAVAILABLE). The orderer reconnects to Kafka by itself (Kafka.Retry), so
        liveness must not restart it while the brokers are away: the startup probe allows 10 minutes.
        """
        port = node.address.port
        startup = {"tcpSocket": {"port": port}, "periodSeconds": 5, "failureThreshold": 120, "timeoutSeconds": 3}
        ready = {"tcpSocket": {"port": port}, "periodSeconds": 5, "timeoutSeconds": 3}
        live = {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 6, "timeoutSeconds": 3}
        return startup, ready, live


KAFKA = register(KafkaConsensus())
