"""Kafka and ZooKeeper settings from Fabric's Kafka guide, shared by the local and Kubernetes renderings."""

from __future__ import annotations

from fabkube.consensus.kafka.model import KafkaModel, KafkaNode, ZooKeeperNode
from fabkube.consensus.kafka.sasl import broker_auth_properties, zookeeper_auth_properties
from fabkube.spec import size_bytes

JVM_FLAGS = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:MaxMetaspaceSize=96m",
    "-Xss512k",
    "-Djava.awt.headless=true",
]
# Fabric's Kafka guide: AbsoluteMaxBytes < replica.fetch.max.bytes <= message.max.bytes.
KAFKA_MESSAGE_HEADROOM = 1024 * 1024
# Short, so a broker that was killed can re-register soon after (ZooKeeper's minimum is 2 ticks).
KAFKA_ZK_SESSION_S = 6

LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.zookeeper.audit=WARN
"""


def zookeeper_properties(kafka: KafkaModel, node: ZooKeeperNode, data_dir: str, tls_dir: str) -> dict[str, str]:
    """zoo.cfg; with TLS (`tls_dir`: ZooKeeper's PEM bundle and the CA) the client port and the
    quorum speak only TLS, and clients must present a certificate from the orderer org's TLS CA."""
    tls = kafka.spec.tls
    port_key = "secureClientPort" if tls else "clientPort"
    props = {
        "tickTime": "2000",
        "initLimit": "10",
        "syncLimit": "5",
        "dataDir": data_dir,
        port_key: str(node.client.port),
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "ruok,srvr,mntr,stat",
        "autopurge.purgeInterval": "1",
        **zookeeper_auth_properties(len(kafka.zookeepers)),
    }
    if tls:
        props |= zookeeper_tls_properties(tls_dir, len(kafka.zookeepers) > 1)
    if kafka.target == "local":
        props[f"{port_key}Address"] = node.client.host
    if node.metrics:
        props |= zookeeper_metrics_properties(node.metrics.host, node.metrics.port)
    if len(kafka.zookeepers) > 1:
        for z in kafka.zookeepers:
            props[f"server.{z.myid}"] = f"{z.peer.host}:{z.peer.port}:{z.election.port}"
    return props


def zookeeper_metrics_properties(host: str, port: int) -> dict[str, str]:
    """ZooKeeper's own Prometheus provider (3.8, zookeeperMonitor.md), on the given address: it
    speaks no TLS before 3.10, so locally it listens on loopback only (its default is 0.0.0.0)."""
    return {
        "metricsProvider.className": "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
        "metricsProvider.httpHost": host,
        "metricsProvider.httpPort": str(port),
        "metricsProvider.exportJvmInfo": "true",
    }


def zookeeper_tls_properties(tls_dir: str, quorum: bool) -> dict[str, str]:
    """ZooKeeper 3.8 TLS (zookeeperAdmin "Encryption, Authentication, Authorization Options"): Netty
    for the client port, PEM stores (PKCS#8 key + certificate in one file), client certificates
    required (ssl.clientAuth defaults to need). Peers' names are not checked, only their CA: clients
    and quorum members connect from pod addresses that have no name of their own."""
    stores = {
        "keyStore.location": f"{tls_dir}/zookeeper.pem",
        "keyStore.type": "PEM",
        "trustStore.location": f"{tls_dir}/ca.crt",
        "trustStore.type": "PEM",
    }
    props = {
        "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
        **{f"ssl.{k}": v for k, v in stores.items()},
        "ssl.hostnameVerification": "false",
    }
    if quorum:
        props |= {"sslQuorum": "true", **{f"ssl.quorum.{k}": v for k, v in stores.items()}}
        props["ssl.quorum.hostnameVerification"] = "false"
    return props


def broker_zookeeper_tls_properties(tls_dir: str) -> dict[str, str]:
    """The brokers as TLS clients of ZooKeeper (Kafka's zookeeper.ssl.* settings), presenting their
    own certificate and checking ZooKeeper's name against the connect string."""
    return {
        "zookeeper.ssl.client.enable": "true",
        "zookeeper.clientCnxnSocket": "org.apache.zookeeper.ClientCnxnSocketNetty",
        "zookeeper.ssl.keystore.type": "PEM",
        "zookeeper.ssl.keystore.location": f"{tls_dir}/kafka.pem",
        "zookeeper.ssl.truststore.type": "PEM",
        "zookeeper.ssl.truststore.location": f"{tls_dir}/ca.crt",
    }


def kafka_protocol(kafka: KafkaModel) -> str:
    return "SSL" if kafka.spec.tls else "PLAINTEXT"


def kafka_tls_properties(tls_dir: str) -> dict[str, str]:
    """Brokers speak TLS to orderers and to each other, and require a certificate from the orderer
    org's TLS CA (Kafka's PEM key and trust stores; the key may be unencrypted since Kafka 3.2)."""
    return {
        "security.inter.broker.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": f"{tls_dir}/kafka.pem",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": f"{tls_dir}/ca.crt",
        "ssl.client.auth": "required",
    }


def kafka_properties(kafka: KafkaModel, node: KafkaNode, log_dir: str, tls_dir: str) -> dict[str, str]:
    spec = kafka.spec
    k = spec.kafka
    max_bytes = size_bytes(spec.ordering.absoluteMaxBytes) + KAFKA_MESSAGE_HEADROOM
    system_rf = str(min(3, k.brokers))
    proto = kafka_protocol(kafka)
    listener = f"{proto}://{node.address.host}:{node.address.port}"
    tls = kafka_tls_properties(tls_dir) | broker_zookeeper_tls_properties(tls_dir) if spec.tls else {}
    return {
        "broker.id": str(node.broker_id),
        **tls,
        "listeners": listener if kafka.target == "local" else f"{proto}://0.0.0.0:{node.address.port}",
        "advertised.listeners": listener,
        "log.dirs": log_dir,
        "zookeeper.connect": kafka.zookeeper_connect,
        "zookeeper.connection.timeout.ms": "30000",
        "zookeeper.session.timeout.ms": str(KAFKA_ZK_SESSION_S * 1000),
        "num.partitions": "1",
        "default.replication.factor": str(k.replicationFactor),
        "min.insync.replicas": str(k.minInsyncReplicas),
        "unclean.leader.election.enable": "false",
        # A channel's topic is its only ordering history: no request, and no marker written into
        # ZooKeeper (/admin/delete_topics/<channel>), makes the brokers delete it.
        "delete.topic.enable": "false",
        **broker_auth_properties(),
        "log.retention.ms": "-1",
        "message.max.bytes": str(max_bytes),
        "replica.fetch.max.bytes": str(max_bytes),
        "offsets.topic.replication.factor": system_rf,
        "transaction.state.log.replication.factor": system_rf,
        "transaction.state.log.min.isr": str(min(k.minInsyncReplicas, int(system_rf))),
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "background.threads": "2",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


# The JMX exporter agent's rules (agent 1.0.1): only the broker metrics that bear on Fabric's
# ordering, named for the dashboard. Yammer meters export a Count (a counter: the agent appends
# _total), gauges a Value; request latency comes as the broker's own percentiles.
_REPLICAS = "UnderReplicatedPartitions|UnderMinIsrPartitionCount|OfflineReplicaCount|PartitionCount|LeaderCount"
_REQUESTS = "kafka.network<type=RequestMetrics, name=TotalTimeMs, request=(Produce|FetchConsumer|Fetch)>"
JMX_EXPORTER_RULES = {
    "lowercaseOutputName": True,
    "lowercaseOutputLabelNames": True,
    "includeObjectNames": [
        "kafka.server:type=ReplicaManager,*",
        "kafka.server:type=BrokerTopicMetrics,*",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,*",
        "kafka.controller:type=KafkaController,*",
    ],
    "rules": [
        {
            "pattern": f"kafka.server<type=ReplicaManager, name=({_REPLICAS})><>Value",
            "name": "kafka_server_replicamanager_$1",
            "type": "GAUGE",
        },
        {
            "pattern": "kafka.server<type=ReplicaManager, name=(IsrShrinks|IsrExpands)PerSec><>Count",
            "name": "kafka_server_replicamanager_$1",
            "type": "COUNTER",
        },
        {
            "pattern": "kafka.server<type=BrokerTopicMetrics, name=(BytesIn|BytesOut|MessagesIn)PerSec, "
            "topic=(.+)><>Count",
            "name": "kafka_server_brokertopicmetrics_$1",
            "type": "COUNTER",
            "labels": {"topic": "$2"},
        },
        {
            "pattern": f"{_REQUESTS}<>(50|99)thPercentile",
            "name": "kafka_network_requestmetrics_totaltimems",
            "type": "GAUGE",
            "labels": {"request": "$1", "quantile": "0.$2"},
        },
        {
            "pattern": f"{_REQUESTS}<>Count",
            "name": "kafka_network_requestmetrics_requests",
            "type": "COUNTER",
            "labels": {"request": "$1"},
        },
        {
            "pattern": "kafka.controller<type=KafkaController, "
            "name=(ActiveControllerCount|OfflinePartitionsCount)><>Value",
            "name": "kafka_controller_kafkacontroller_$1",
            "type": "GAUGE",
        },
    ],
}
