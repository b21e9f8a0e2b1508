"""ZooKeeper and Kafka as local processes: `java -cp` over the jars the toolchain fetched."""

from __future__ import annotations

from pathlib import Path

from fabkube.components import Component, Health, properties_text
from fabkube.consensus.kafka.settings import JVM_FLAGS, LOG4J, kafka_properties, zookeeper_properties
from fabkube.layout import Layout
from fabkube.toolchain import Toolchain

ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def _java(tools: Toolchain, heap: str, main: str, config: Path, log4j: Path) -> list[str]:
    return [
        "java",
        "-Xms32m",
        f"-Xmx{heap}",
        *JVM_FLAGS,
        f"-Dlog4j.configuration=file:{log4j}",
        "-cp",
        tools.kafka_classpath,
        main,
        str(config),
    ]


def _jvm_component(
    layout: Layout, tools: Toolchain, name: str, kind: str, main: str, heap: str, config: tuple[str, str], ports: list
) -> Component:
    """A Kafka-distribution JVM: its config file and log4j setup under the node's config dir."""
    conf = layout.config_dir(name)
    config_file, config_text = conf / config[0], config[1]
    command = _java(tools, heap, main, config_file, conf / "log4j.properties")
    files = {config_file: config_text, conf / "log4j.properties": LOG4J}
    return Component(
        name, kind, command, {}, files, ports, Health(kind, ports[0]), layout.node_dir(name), str(ports[0])
    )


def local_components(layout: Layout, tools: Toolchain) -> list[Component]:
    """The ZooKeeper ensemble, then the brokers, in start order."""
    topo = layout.topo
    out: list[Component] = []
    for z in topo.zookeepers:
        data = layout.data_dir(z.name)
        zoo_cfg = ("zoo.cfg", properties_text(zookeeper_properties(topo, z, str(data))))
        comp = _jvm_component(
            layout,
            tools,
            z.name,
            "zookeeper",
            ZOOKEEPER_MAIN,
            topo.spec.zookeeper.heap,
            zoo_cfg,
            [z.client, z.peer, z.election],
        )
        comp.files[data / "myid"] = f"{z.myid}\n"
        out.append(comp)
    for k in topo.kafkas:
        props = kafka_properties(topo, k, str(layout.data_dir(k.name)), str(layout.kafka_tls))
        server = ("server.properties", properties_text(props))
        out.append(
            _jvm_component(layout, tools, k.name, "kafka", "kafka.Kafka", topo.spec.kafka.heap, server, [k.address])
        )
    return out
