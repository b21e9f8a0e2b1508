"""ZooKeeper and Kafka as local processes (`java -cp` over the jars the toolchain fetched), their
readiness and restart rules, and when a Kafka orderer is ready."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import yaml

from fabkube.components import Component, Health, properties_text
from fabkube.consensus.kafka.model import kafka_model
from fabkube.consensus.kafka.probes import (
    kafka_brokers,
    kafka_chain_started_line,
    kafka_orderer_started,
    zookeeper_mode,
)
from fabkube.consensus.kafka.sasl import jaas_files, jaas_option, sasl_dir
from fabkube.consensus.kafka.settings import (
    JMX_EXPORTER_RULES,
    JVM_FLAGS,
    KAFKA_ZK_SESSION_S,
    LOG4J,
    kafka_properties,
    zookeeper_properties,
)
from fabkube.consensus.local import LocalOrdering, Stage, read_from, register_local
from fabkube.consensus.raft.local import channels_with_leader
from fabkube.health import client_tls, tcp_open
from fabkube.layout import Layout
from fabkube.nodes import Endpoint, OrdererNode
from fabkube.toolchain import Toolchain

ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def _java(tools: Toolchain, heap: str, main: str, config: Path, log4j: Path, jaas: Path, agent: list[str]) -> list[str]:
    return [
        "java",
        "-Xms32m",
        f"-Xmx{heap}",
        *JVM_FLAGS,
        *agent,
        f"-Dlog4j.configuration=file:{log4j}",
        jaas_option(jaas),
        "-cp",
        tools.kafka_classpath,
        main,
        str(config),
    ]


def _jvm_component(
    layout: Layout,
    tools: Toolchain,
    name: str,
    kind: str,
    main: str,
    heap: str,
    config: tuple[str, str],
    ports: list,
    jaas: Path,
    metrics: Endpoint | None = None,
    exporter: bool = False,
) -> Component:
    """A Kafka-distribution JVM: its config file and log4j setup under the node's config dir, its
    login to ZooKeeper (JAAS) from the orderer org's crypto; with `exporter`, the JMX exporter agent
    serving `metrics` (otherwise the process serves them itself, as ZooKeeper does)."""
    conf = layout.config_dir(name)
    config_file, config_text = conf / config[0], config[1]
    files = {config_file: config_text, conf / "log4j.properties": LOG4J}
    agent = []
    if metrics and exporter:
        rules = conf / "jmx-exporter.yaml"
        files[rules] = yaml.safe_dump(JMX_EXPORTER_RULES, sort_keys=False)
        # The host given explicitly: the agent binds 0.0.0.0 by default.
        agent = [f"-javaagent:{tools.jmx_exporter_agent}={metrics.host}:{metrics.port}:{rules}"]
    command = _java(tools, heap, main, config_file, conf / "log4j.properties", jaas, agent)
    return Component(
        name, kind, command, {}, files, ports, Health(kind, ports[0]), layout.node_dir(name), str(ports[0]), metrics
    )


def local_components(layout: Layout, tools: Toolchain) -> list[Component]:
    """The ZooKeeper ensemble, then the brokers, in start order."""
    kafka = kafka_model(layout.topo.ordering)
    spec = kafka.spec
    zookeeper_jaas, broker_jaas = jaas_files(sasl_dir(layout))
    zookeeper_tls_dir = layout.tls_pair(kafka.zookeeper_tls)
    out: list[Component] = []
    for z in kafka.zookeepers:
        data = layout.data_dir(z.name)
        zoo_cfg = ("zoo.cfg", properties_text(zookeeper_properties(kafka, z, str(data), str(zookeeper_tls_dir))))
        comp = _jvm_component(
            layout,
            tools,
            z.name,
            "zookeeper",
            ZOOKEEPER_MAIN,
            spec.zookeeper.heap,
            zoo_cfg,
            [z.client, z.peer, z.election, *([z.metrics] if z.metrics else [])],
            zookeeper_jaas,
            z.metrics,
        )
        comp.files[data / "myid"] = f"{z.myid}\n"
        out.append(comp)
    tls_dir = layout.tls_pair(kafka.broker_tls)
    for k in kafka.kafkas:
        props = kafka_properties(kafka, k, str(layout.data_dir(k.name)), str(tls_dir))
        server = ("server.properties", properties_text(props))
        out.append(
            _jvm_component(
                layout,
                tools,
                k.name,
                "kafka",
                "kafka.Kafka",
                spec.kafka.heap,
                server,
                [k.address, *([k.metrics] if k.metrics else [])],
                broker_jaas,
                k.metrics,
                exporter=True,
            )
        )
    return out


class KafkaLocal(LocalOrdering):
    type = "kafka"
    # Generous: on a busy 2-core machine JVMs start slowly, and a Kafka orderer retries the brokers
    # every 5 s (Kafka.Retry.ShortInterval) until its chain has started.
    stages = (
        Stage("zookeeper", "ZooKeeper ensemble (quorum)", 120.0, "the ensemble to have a leader (srvr)"),
        Stage(
            "kafka", "Kafka brokers (all registered)", 180.0, "every broker to be registered (Kafka Metadata over TLS)"
        ),
    )
    orderer = Stage(
        "orderer",
        "orderers (Kafka chains started)",
        180.0,
        "its gRPC port and the start phase of every channel's chain",
    )

    def __init__(self) -> None:
        self._tls: dict[str, ssl.SSLContext] = {}

    def services(self, layout: Layout, tools: Toolchain) -> list[Component]:
        return local_components(layout, tools)

    def service_ready(self, comp: Component, layout: Layout) -> Callable[[], bool]:
        ep = comp.health.endpoint
        tls = self._client_tls(layout)
        if comp.kind == "zookeeper":
            return lambda: zookeeper_mode(ep, tls) in ("leader", "follower", "standalone")
        want = [k.broker_id for k in kafka_model(layout.topo.ordering).kafkas]
        return lambda: kafka_brokers(ep, tls) == want

    def _client_tls(self, layout: Layout) -> ssl.SSLContext | None:
        """Brokers and ZooKeeper require a client certificate from the orderer org's TLS CA (fabkube
        presents the brokers'); one context per work dir, built when first needed and reused by every poll."""
        if not layout.topo.spec.tls:
            return None
        d = layout.tls_pair(kafka_model(layout.topo.ordering).broker_tls)
        key = str(d)
        if key not in self._tls:
            self._tls[key] = client_tls(str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key"))
        return self._tls[key]

    def orderer_ready(
        self, node: OrdererNode, log: Path, offset: int, channels: list[str], ops_tls: ssl.SSLContext | None
    ) -> bool:
        # Never /healthz on a Kafka orderer: see probes.kafka_orderer_started.
        if kafka_orderer_started(node.address, log, offset, channels):
            return True
        # A migration to Raft interrupted after its switch, before it recorded Raft (its restart
        # had stopped the orderers): the orderer serves the switched channels as etcdraft chains,
        # and starting the network to resume waits for those to have a leader.
        text = read_from(log, offset)
        led = channels_with_leader(text)
        switched = all(ch in led or kafka_chain_started_line(ch) in text for ch in channels)
        return bool(led) and switched and tcp_open(node.address)

    def restart_delay(self, comp: Component, recent_log: str) -> float | None:
        # A broker restarted within ZooKeeper's session timeout finds its old registration
        # still there and exits (NodeExists); once the session expires it starts.
        if comp.kind == "kafka" and "NodeExists" in recent_log:
            return KAFKA_ZK_SESSION_S + 1
        return None


KAFKA_LOCAL = register_local(KafkaLocal())
