"""ZooKeeper and Kafka as local processes: `java -cp` over the jars the toolchain fetched."""

from __future__ import annotations

from pathlib import Path

from fabkube.components import Component, Health, properties_text
from fabkube.consensus.kafka.settings import JVM_FLAGS, LOG4J, kafka_properties, zookeeper_properties
from fabkube.layout import Layout
from fabkube.toolchain import Toolchain


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


def local_components(layout: Layout, tools: Toolchain) -> list[Component]:
    """The ZooKeeper ensemble, then the brokers, in start order."""
    topo = layout.topo
    out: list[Component] = []
    for z in topo.zookeepers:
        conf, data = layout.config_dir(z.name), layout.data_dir(z.name)
        out.append(
            Component(
                z.name,
                "zookeeper",
                _java(
                    tools,
                    topo.spec.zookeeper.heap,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    conf / "zoo.cfg",
                    conf / "log4j.properties",
                ),
                {},
                {
                    conf / "zoo.cfg": properties_text(zookeeper_properties(topo, z, str(data))),
                    conf / "log4j.properties": LOG4J,
                    data / "myid": f"{z.myid}\n",
                },
                [z.client, z.peer, z.election],
                Health("zookeeper", z.client),
                layout.node_dir(z.name),
                str(z.client),
            )
        )
    for k in topo.kafkas:
        conf, data = layout.config_dir(k.name), layout.data_dir(k.name)
        out.append(
            Component(
                k.name,
                "kafka",
                _java(
                    tools, topo.spec.kafka.heap, "kafka.Kafka", conf / "server.properties", conf / "log4j.properties"
                ),
                {},
                {
                    conf / "server.properties": properties_text(
                        kafka_properties(topo, k, str(data), str(layout.kafka_tls))
                    ),
                    conf / "log4j.properties": LOG4J,
                },
                [k.address],
                Health("kafka", k.address),
                layout.node_dir(k.name),
                str(k.address),
            )
        )
    return out
