"""ZooKeeper and Kafka on Kubernetes: StatefulSets behind headless Services, as in the user's cluster,
and the Kafka orderers' probes (never /healthz)."""

from __future__ import annotations

import shlex

import yaml

from fabkube.backends.k8s.objects import (
    files_secret,
    heap_for,
    image,
    meta,
    resources,
    scheduling,
    selector,
)
from fabkube.backends.k8s.policies import operations_rule, pods_of, policy
from fabkube.backends.k8s.workloads import make_container, service, statefulset, tcp_probe
from fabkube.components import properties_text
from fabkube.consensus.k8s import K8sOrdering, register_k8s
from fabkube.consensus.kafka.model import kafka_model
from fabkube.consensus.kafka.sasl import jaas_files, jaas_option, sasl_dir
from fabkube.consensus.kafka.settings import (
    JMX_EXPORTER_RULES,
    kafka_properties,
    kafka_protocol,
    zookeeper_properties,
)
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode

ZK_CONFIG = "/fabkube/zookeeper"
KAFKA_VOLUME = "/var/lib/kafka/data"


SASL = "/sasl"


def zookeeper_objects(layout: Layout) -> list[dict]:
    topo = layout.topo
    kafka = kafka_model(topo.ordering)
    spec, ns = topo.spec, kafka.namespace
    res = spec.resources.zookeeper
    z0 = kafka.zookeepers[0]
    props = zookeeper_properties(kafka, z0, "/data", "/tls")
    # Each pod's own entry must listen on all interfaces (ZooKeeper's quorumListenOnAllIPs), and so
    # must its metrics (one zoo.cfg for every pod; the NetworkPolicy keeps the port to operationsFrom).
    props["quorumListenOnAllIPs"] = "true"
    if z0.metrics:
        props["metricsProvider.httpHost"] = "0.0.0.0"
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "zookeeper-config", ns, "zookeeper", "zookeeper"),
        "data": {"zoo.cfg": properties_text(props)},
    }
    ports = {"client": z0.client.port, "peer": z0.peer.port, "election": z0.election.port}
    if z0.metrics:
        ports["metrics"] = z0.metrics.port
    # Our zoo.cfg is mounted beside the image's /conf, not over it: /conf keeps its logging setup.
    start = (
        f"set -e; echo $(( ${{HOSTNAME##*-}} + 1 )) > /data/myid; exec zkServer.sh start-foreground {ZK_CONFIG}/zoo.cfg"
    )
    zookeeper_jaas, _ = jaas_files(sasl_dir(layout))
    secret, items = files_secret(
        spec, "zookeeper-sasl", ns, "zookeeper", "zookeeper", {"zookeeper.jaas": zookeeper_jaas}
    )
    jvm = f"-Xmx{heap_for(res)} -XX:+UseSerialGC {jaas_option(f'{SASL}/zookeeper.jaas')}"
    mounts = [
        {"name": "data", "mountPath": "/data"},
        {"name": "config", "mountPath": ZK_CONFIG},
        {"name": "sasl", "mountPath": SASL, "readOnly": True},
    ]
    volumes = [
        {"name": "config", "configMap": {"name": "zookeeper-config"}},
        {"name": "sasl", "secret": {"secretName": "zookeeper-sasl", "items": items, "defaultMode": 0o440}},
    ]
    objects = [secret]
    if spec.tls:
        tls = layout.tls_pair(kafka.zookeeper_tls)
        tls_secret, tls_items = files_secret(
            spec,
            "zookeeper-tls",
            ns,
            "zookeeper",
            "zookeeper",
            {"zookeeper.pem": tls / "zookeeper.pem", "ca.crt": tls / "ca.crt"},
        )
        objects.append(tls_secret)
        mounts.append({"name": "tls", "mountPath": "/tls", "readOnly": True})
        volumes.append(
            {"name": "tls", "secret": {"secretName": "zookeeper-tls", "items": tls_items, "defaultMode": 0o440}}
        )
    container = make_container(
        "zookeeper",
        image(spec, "zookeeper"),
        res,
        ["sh", "-c", start],
        # The root filesystem is read-only: the scripts' log directory goes to /tmp.
        {"SERVER_JVMFLAGS": jvm, "ZOO_LOG4J_PROP": "INFO,CONSOLE", "ZOO_LOG_DIR": "/tmp"},
        ports,
        mounts,
        tcp_probe(z0.client.port),
        tcp_probe(z0.client.port, 20),
    )
    pod = {
        "containers": [container],
        "volumes": volumes,
        **scheduling(spec, spec.kubernetes.placement.zookeeper, selector(spec, "zookeeper")),
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(spec, "zookeeper", ns, "zookeeper", "zookeeper"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(spec, "zookeeper")}},
    }
    return [
        config,
        *objects,
        service(topo, "zookeeper-headless", ns, "zookeeper", "zookeeper", ports, headless=True),
        service(topo, "zookeeper", ns, "zookeeper", "zookeeper", {"client": z0.client.port}),
        statefulset(
            "zookeeper",
            ns,
            topo,
            "zookeeper",
            "zookeeper",
            pod,
            len(kafka.zookeepers),
            "zookeeper-headless",
            spec.kubernetes.storage.get("zookeeper", "1Gi"),
        ),
        pdb,
    ]


def kafka_objects(layout: Layout) -> list[dict]:
    topo = layout.topo
    kafka = kafka_model(topo.ordering)
    spec, ns = topo.spec, kafka.namespace
    res = spec.resources.kafka
    k0 = kafka.kafkas[0]
    # A subdirectory of the volume: ext4 puts lost+found at its root, which Kafka 3.9 refuses as a
    # log directory entry (it is not a topic-partition) and stops.
    props = kafka_properties(kafka, k0, f"{KAFKA_VOLUME}/logs", "/tls")
    props.pop("broker.id")
    props.pop("advertised.listeners")
    # zookeeper-shell (the init container's wait) reads ZooKeeper's TLS settings from a file of
    # the broker's own zookeeper.* keys.
    zk_tls = {k: v for k, v in props.items() if k.startswith(("zookeeper.ssl.", "zookeeper.clientCnxnSocket"))}
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "kafka-config", ns, "kafka", "kafka"),
        "data": {"server.properties": properties_text(props)}
        | ({"zookeeper-tls.properties": properties_text(zk_tls)} if zk_tls else {})
        | ({"jmx-exporter.yaml": yaml.safe_dump(JMX_EXPORTER_RULES, sort_keys=False)} if k0.metrics else {}),
    }
    suffix = f"kafka-headless.{ns}.svc.cluster.local:{k0.address.port}"
    # Broker ID from the pod ordinal, advertised as the StatefulSet pod DNS name the genesis block lists.
    start = (
        "exec /opt/kafka/bin/kafka-server-start.sh /config/server.properties "
        "--override broker.id=${HOSTNAME##*-} "
        f"--override advertised.listeners={kafka_protocol(kafka)}://${{HOSTNAME}}.{suffix}"
    )
    zk = shlex.quote(kafka.zookeeper_connect)
    tls_flag = " -zk-tls-config-file /config/zookeeper-tls.properties" if spec.tls else ""
    wait_zk = (
        f"until /opt/kafka/bin/zookeeper-shell.sh {zk}{tls_flag} ls /; do echo waiting for ZooKeeper; sleep 3; done"
    )
    _, broker_jaas = jaas_files(sasl_dir(layout))
    sasl_secret, sasl_items = files_secret(spec, "kafka-sasl", ns, "kafka", "kafka", {"kafka.jaas": broker_jaas})
    sasl_mount = {"name": "sasl", "mountPath": SASL, "readOnly": True}
    # The broker's and zookeeper-shell's login; kafka-run-class.sh makes LOG_DIR (read-only root: /tmp).
    login = {"KAFKA_OPTS": jaas_option(f"{SASL}/kafka.jaas"), "LOG_DIR": "/tmp/kafka-logs"}
    mounts = [{"name": "data", "mountPath": KAFKA_VOLUME}, {"name": "config", "mountPath": "/config"}, sasl_mount]
    volumes: list[dict] = [
        {"name": "config", "configMap": {"name": "kafka-config"}},
        {"name": "sasl", "secret": {"secretName": "kafka-sasl", "items": sasl_items, "defaultMode": 0o440}},
    ]
    objects: list[dict] = [sasl_secret]
    if spec.tls:
        tls = layout.tls_pair(kafka.broker_tls)
        secret, items = files_secret(
            spec, "kafka-tls", ns, "kafka", "kafka", {"kafka.pem": tls / "kafka.pem", "ca.crt": tls / "ca.crt"}
        )
        objects.append(secret)
        mounts.append({"name": "tls", "mountPath": "/tls", "readOnly": True})
        volumes.append({"name": "tls", "secret": {"secretName": "kafka-tls", "items": items, "defaultMode": 0o440}})
    env = {
        "KAFKA_HEAP_OPTS": f"-Xms64m -Xmx{heap_for(res)}",
        "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        **login,
    }
    ports = {"kafka": k0.address.port}
    if k0.metrics:  # the broker's JVM only: the init container's zookeeper-shell keeps `login`
        agent = f"-javaagent:{spec.kubernetes.kafkaMetricsAgent}={k0.metrics.port}:/config/jmx-exporter.yaml"
        env["KAFKA_OPTS"] = f"{login['KAFKA_OPTS']} {agent}"
        ports["metrics"] = k0.metrics.port
    container = make_container(
        "kafka",
        image(spec, "kafka"),
        res,
        ["sh", "-c", start],
        env,
        ports,
        mounts,
        tcp_probe(k0.address.port, 10),
        tcp_probe(k0.address.port, 60),
    )
    init = {
        "name": "wait-for-zookeeper",
        "image": image(spec, "kafka"),
        "command": ["sh", "-c", wait_zk],
        "env": [{"name": k, "value": v} for k, v in login.items()],
        "volumeMounts": [m for m in mounts if m["name"] in ("sasl", "tls", "config")],
        "resources": resources(res),
    }
    pod = {
        "initContainers": [init],
        "containers": [container],
        "volumes": volumes,
        **scheduling(spec, spec.kubernetes.placement.kafka, selector(spec, "kafka")),
    }
    # A drain takes one broker at a time: with minInsyncReplicas below the replication factor,
    # writes go on while it is away.
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(spec, "kafka", ns, "kafka", "kafka"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(spec, "kafka")}},
    }
    return [
        config,
        *objects,
        service(topo, "kafka-headless", ns, "kafka", "kafka", {"kafka": k0.address.port}, headless=True),
        pdb,
        statefulset(
            "kafka",
            ns,
            topo,
            "kafka",
            "kafka",
            pod,
            len(kafka.kafkas),
            "kafka-headless",
            spec.kubernetes.storage.get("kafka", "2Gi"),
        ),
    ]


class KafkaK8s(K8sOrdering):
    type = "kafka"

    def files(self, layout: Layout) -> dict[str, list[dict]]:
        return {"zookeeper.yaml": zookeeper_objects(layout), "kafka.yaml": kafka_objects(layout)}

    def network_policies(self, layout: Layout) -> list[dict]:
        """Brokers to the orderers and to each other; ZooKeeper's client port to the brokers, its
        quorum ports to its own nodes. Nobody else reaches either."""
        topo, spec = layout.topo, layout.topo.spec
        kafka = kafka_model(topo.ordering)
        ns, z0, k0 = kafka.namespace, kafka.zookeepers[0], kafka.kafkas[0]
        orderers = [pods_of(spec, "orderer", o.namespace) for o in topo.orderer_orgs]
        brokers = [pods_of(spec, "kafka", ns)]
        return [
            policy(
                spec,
                f"{spec.name}-kafka",
                ns,
                "kafka",
                [
                    ([k0.address.port], [*orderers, *brokers]),
                    *(operations_rule(spec, [k0.metrics.port]) if k0.metrics else []),
                ],
            ),
            policy(
                spec,
                f"{spec.name}-zookeeper",
                ns,
                "zookeeper",
                [
                    ([z0.client.port], brokers),
                    ([z0.peer.port, z0.election.port], [pods_of(spec, "zookeeper", ns)]),
                    *(operations_rule(spec, [z0.metrics.port]) if z0.metrics else []),
                ],
            ),
        ]

    def monitored_services(self, layout: Layout) -> list[tuple[str, str]]:
        kafka = kafka_model(layout.topo.ordering)
        nodes = {"zookeeper": kafka.zookeepers[0], "kafka": kafka.kafkas[0]}
        return [(kafka.namespace, kind) for kind, node in nodes.items() if node.metrics]

    def orderer_probes(self, node: OrdererNode, tls: bool) -> tuple[dict, dict, dict]:
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


KAFKA_K8S = register_k8s(KafkaK8s())
