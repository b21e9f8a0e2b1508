"""Kafka ordering as plain data: a ZooKeeper ensemble and brokers behind the orderers, the brokers'
TLS pair, the system channel, the orderers' Kafka settings and the Kafka jars in the toolchain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fabkube.consensus.kafka.ports import BROKER_PORTS, METRICS_PORTS, ZOOKEEPER_PORTS
from fabkube.consensus.kafka.sasl import kafka_sasl_dir, write_jaas
from fabkube.consensus.model import ModelContext, OrderingModel, ServiceNode, TlsPair, register_model
from fabkube.nodes import CLUSTER_DOMAIN, LOCAL_HOST, Endpoint, OrdererNode, Org
from fabkube.spec import kafka_metrics_fit


@dataclass
class ZooKeeperNode(ServiceNode):
    kind: ClassVar[str] = "zookeeper"
    client: Endpoint
    peer: Endpoint
    election: Endpoint

    @property
    def myid(self) -> int:
        return self.index + 1


@dataclass
class KafkaNode(ServiceNode):
    kind: ClassVar[str] = "kafka"
    address: Endpoint

    @property
    def broker_id(self) -> int:
        return self.index


@register_model
class KafkaModel(OrderingModel):
    type = "kafka"
    title = "Kafka"
    system_channel = True  # Kafka has no channel participation: orderers boot from the system channel
    toolchain_parts = ("kafka",)

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        spec = ctx.spec
        self.namespace = spec.kubernetes.kafkaNamespace or f"{ctx.namespace_prefix}-kafka"
        self.zookeepers: list[ZooKeeperNode] = []
        self.kafkas: list[KafkaNode] = []
        # Locally where the ports fit; in pods when something scrapes them (kubernetes.monitoring):
        # ZooKeeper's image ships its provider, and a broker's only where the spec names the JMX
        # exporter agent in its image (apache/kafka's has none).
        local = ctx.target == "local"
        wanted = kafka_metrics_fit(spec) if local else spec.kubernetes.monitoring != "none"
        metrics = ctx.metrics_endpoint if wanted else None
        brokers = local or spec.kubernetes.kafkaMetricsAgent is not None
        for i in range(spec.zookeeper.nodes):
            host = f"zookeeper-{i}.zookeeper-headless.{self.namespace}.{CLUSTER_DOMAIN}"  # zookeeper_headless
            client, peer, election = (ctx.endpoint(host, port) for port in ZOOKEEPER_PORTS.values())
            node = ZooKeeperNode(i, f"zookeeper-{i}", self.namespace, client, peer, election)
            node.metrics = metrics(host, METRICS_PORTS["zookeeper"]) if metrics else None
            self.zookeepers.append(node)
        for i in range(spec.kafka.brokers):
            host = f"kafka-{i}.{self.headless}"
            broker = KafkaNode(i, f"kafka-{i}", self.namespace, ctx.endpoint(host, BROKER_PORTS["kafka"]))
            broker.metrics = metrics(host, METRICS_PORTS["kafka"]) if metrics and brokers else None
            self.kafkas.append(broker)

    @property
    def services(self) -> list[ServiceNode]:
        return [*self.zookeepers, *self.kafkas]

    @property
    def headless(self) -> str:
        """The brokers' headless Service on Kubernetes (their pods are <name>.<headless>)."""
        return f"kafka-headless.{self.namespace}.{CLUSTER_DOMAIN}"

    @property
    def broker_addresses(self) -> list[str]:
        return [str(k.address) for k in self.kafkas]

    @property
    def zookeeper_connect(self) -> str:
        return ",".join(str(z.client) for z in self.zookeepers)

    @property
    def broker_tls(self) -> TlsPair:
        """One certificate for all brokers, from the orderer org's TLS CA: orderers verify brokers with
        the CA they already trust, and brokers require the orderers' TLS certificates. It covers
        loopback locally and the headless Service's pods on Kubernetes."""
        org = self.orderer_org
        sans = ("localhost", LOCAL_HOST, f"*.{self.headless}", self.headless)
        return TlsPair(org, "kafka/tls", f"kafka.{org.domain}", sans, bundle="kafka.pem")

    @property
    def zookeeper_headless(self) -> str:
        return f"zookeeper-headless.{self.namespace}.{CLUSTER_DOMAIN}"

    @property
    def zookeeper_tls(self) -> TlsPair:
        """ZooKeeper's server and quorum certificate, one for the ensemble, from the orderer org's
        TLS CA (the brokers verify it by the CA they already trust, and its name: loopback locally,
        the headless Service's pods and the client Service on Kubernetes)."""
        org = self.orderer_org
        sans = (
            "localhost",
            LOCAL_HOST,
            f"*.{self.zookeeper_headless}",
            f"zookeeper.{self.namespace}.{CLUSTER_DOMAIN}",
        )
        return TlsPair(org, "kafka/zookeeper-tls", f"zookeeper.{org.domain}", sans, bundle="zookeeper.pem")

    def tls_pairs(self, orderers: list[OrdererNode]) -> list[TlsPair]:
        return [self.broker_tls, self.zookeeper_tls] if self.spec.tls else [self.broker_tls]

    def write_secrets(self, org_dir: Callable[[Org], Path]) -> int:
        return int(write_jaas(kafka_sasl_dir(org_dir(self.orderer_org))))

    def configtx_orderer(self, orderers: list[OrdererNode], tls_dir: Callable[[OrdererNode], Path]) -> dict:
        return {"OrdererType": "kafka", "Kafka": {"Brokers": self.broker_addresses}}

    def orderer_env(self, node: OrdererNode, tls: Path) -> dict[str, str]:
        """The orderer's Kafka consenter settings: protocol version sarama speaks, topic RF, client TLS."""
        env = {
            "ORDERER_KAFKA_VERSION": "1.0.0",
            "ORDERER_KAFKA_TOPIC_REPLICATIONFACTOR": str(self.spec.kafka.replicationFactor),
            "ORDERER_KAFKA_VERBOSE": "false",
        }
        if self.spec.tls:
            env |= {
                "ORDERER_KAFKA_TLS_ENABLED": "true",
                "ORDERER_KAFKA_TLS_PRIVATEKEY_FILE": str(tls / "server.key"),
                "ORDERER_KAFKA_TLS_CERTIFICATE_FILE": str(tls / "server.crt"),
                "ORDERER_KAFKA_TLS_ROOTCAS_FILE": str(tls / "ca.crt"),
            }
        return env


def kafka_model(ordering: OrderingModel) -> KafkaModel:
    """The network's model, known to be Kafka's (for Kafka's deployment parts)."""
    if not isinstance(ordering, KafkaModel):
        raise TypeError(f"ordering type {ordering.type!r} is not kafka")
    return ordering
