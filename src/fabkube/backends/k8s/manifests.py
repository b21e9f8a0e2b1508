"""Kubernetes manifests for the whole network, from the same topology and component settings.

Namespaces: one for ZooKeeper/Kafka, one for the orderer org, one per peer org (the seed
used default, ord and org1). apps/v1 only. Crypto material goes into Secrets, never
ConfigMaps; the genesis block and channel transactions (public) into ConfigMaps.
Chaincode runs as a service: a Deployment + Service per chaincode per org, so peers need
no Docker socket, no Docker-in-Docker and no privileged container.
"""

from __future__ import annotations

import base64
import shlex
from pathlib import Path, PurePosixPath

from fabkube.backends.k8s.objects import (
    files_secret,
    files_under,
    heap_for,
    image,
    labels,
    meta,
    resources,
    scheduling,
    security_context,
    selector,
)
from fabkube.components import (
    kafka_properties,
    kafka_protocol,
    orderer_env,
    peer_env,
    properties_text,
    zookeeper_properties,
)
from fabkube.layout import Layout
from fabkube.ops.lifecycle import plan, shell_script, smoke_step
from fabkube.topology import OrdererNode, PeerNode, Topology

POD_ROOT = Path("/fabkube")  # where crypto and artifacts are mounted in every pod
DATA = "/var/hyperledger/production"
TOOLS_CONFIG = "/etc/hyperledger/fabric"  # core.yaml inside the fabric-tools image
CHAINCODE_PORT = 9999
CHAINCODE_UID = 65534  # USER in the Dockerfile `fabkube chaincode dockerfile` writes


def _pvc(name: str, size: str, storage_class: str | None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name}, "spec": spec}


def _statefulset(
    name: str,
    ns: str,
    topo: Topology,
    kind: str,
    component: str,
    pod: dict,
    replicas: int,
    service: str,
    pvc_size: str | None,
    data_mount: str = "data",
) -> dict:
    spec = topo.spec
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(spec, name, ns, component, kind),
        "spec": {
            "serviceName": service,
            "replicas": replicas,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": selector(spec, component)},
            "template": {"metadata": {"labels": labels(spec, component, kind)}, "spec": pod},
        },
    }
    if pvc_size:
        sts["spec"]["volumeClaimTemplates"] = [_pvc(data_mount, pvc_size, spec.kubernetes.storageClass)]
    return sts


def _service(
    topo: Topology, name: str, ns: str, component: str, kind: str, ports: dict[str, int], headless: bool = False
) -> dict:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(topo.spec, name, ns, component, kind),
        "spec": {
            "selector": selector(topo.spec, component),
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports.items()],
        },
    }
    if headless:
        svc["spec"]["clusterIP"] = "None"
        svc["spec"]["publishNotReadyAddresses"] = True
    return svc


def _container(
    name: str,
    img: str,
    res,
    command: list[str],
    env: dict[str, str],
    ports: dict[str, int],
    mounts: list[dict],
    readiness: dict,
    liveness: dict | None = None,
) -> dict:
    c = {
        "name": name,
        "image": img,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
        "volumeMounts": mounts,
        "resources": resources(res),
        "readinessProbe": readiness,
        "securityContext": security_context(),
    }
    if liveness:
        c["livenessProbe"] = liveness
    return c


def _tcp_probe(port: int, delay: int = 5) -> dict:
    return {"tcpSocket": {"port": port}, "initialDelaySeconds": delay, "periodSeconds": 5}


def _http_probe(port: int, delay: int = 5) -> dict:
    return {"httpGet": {"path": "/healthz", "port": port}, "initialDelaySeconds": delay, "periodSeconds": 10}


def _fabric_probes(node: OrdererNode | PeerNode) -> tuple[dict, dict, dict]:
    """Startup, readiness and liveness probes of an orderer or a peer.

    A Kafka orderer is never probed on /healthz: Fabric 2.5's Kafka chain HealthCheck uses the
    chain's producer without a nil check, and the producer exists only once the chain has
    connected to Kafka, so one GET during a cold start (Kafka takes tens of seconds on a cluster),
    or after a restart while Kafka is unreachable, panics the orderer and it crash-loops. Its gRPC
    port opens only after every chain has been created, so a TCP check there cannot crash it and
    still means the process is up; whether it can order yet is the lifecycle Job's concern (it
    retries SERVICE_UNAVAILABLE). The orderer reconnects to Kafka by itself (Kafka.Retry), so
    liveness must not restart it while the brokers are away: the startup probe allows 10 minutes.
    Peers have no such check and are probed on /healthz.
    """
    if isinstance(node, OrdererNode):
        port = node.address.port
        startup = {"tcpSocket": {"port": port}, "periodSeconds": 5, "failureThreshold": 120, "timeoutSeconds": 3}
        ready = {"tcpSocket": {"port": port}, "periodSeconds": 5, "timeoutSeconds": 3}
        live = {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 6, "timeoutSeconds": 3}
        return startup, ready, live
    ops = node.operations.port
    startup = {**_http_probe(ops, 0), "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3}
    ready = {**_http_probe(ops, 0), "timeoutSeconds": 3}
    live = {**_http_probe(ops, 0), "failureThreshold": 6, "timeoutSeconds": 3}
    return startup, ready, live


def zookeeper_objects(topo: Topology) -> list[dict]:
    spec, ns = topo.spec, topo.kafka_namespace
    res = spec.resources.zookeeper
    z0 = topo.zookeepers[0]
    props = zookeeper_properties(topo, z0, "/data")
    # Each pod's own entry must listen on all interfaces (ZooKeeper's quorumListenOnAllIPs).
    props["quorumListenOnAllIPs"] = "true"
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "zookeeper-config", ns, "zookeeper", "zookeeper"),
        "data": {"zoo.cfg": properties_text(props)},
    }
    ports = {"client": z0.client.port, "peer": z0.peer.port, "election": z0.election.port}
    start = "set -e; echo $(( ${HOSTNAME##*-} + 1 )) > /data/myid; exec zkServer.sh start-foreground /conf/zoo.cfg"
    container = _container(
        "zookeeper",
        image(spec, "zookeeper"),
        res,
        ["sh", "-c", start],
        {"SERVER_JVMFLAGS": f"-Xmx{heap_for(res)} -XX:+UseSerialGC", "ZOO_LOG4J_PROP": "INFO,CONSOLE"},
        ports,
        [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/conf"}],
        _tcp_probe(z0.client.port),
        _tcp_probe(z0.client.port, 20),
    )
    pod = {
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": "zookeeper-config"}}],
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
        _service(topo, "zookeeper-headless", ns, "zookeeper", "zookeeper", ports, headless=True),
        _service(topo, "zookeeper", ns, "zookeeper", "zookeeper", {"client": z0.client.port}),
        _statefulset(
            "zookeeper",
            ns,
            topo,
            "zookeeper",
            "zookeeper",
            pod,
            len(topo.zookeepers),
            "zookeeper-headless",
            spec.kubernetes.storage.get("zookeeper", "1Gi"),
        ),
        pdb,
    ]


KAFKA_UID = 1000  # the apache/kafka image runs as appuser (1000): group-own its volumes


def kafka_objects(layout: Layout) -> list[dict]:
    topo = layout.topo
    spec, ns = topo.spec, topo.kafka_namespace
    res = spec.resources.kafka
    k0 = topo.kafkas[0]
    props = kafka_properties(topo, k0, "/var/lib/kafka/data", "/tls")
    props.pop("broker.id")
    props.pop("advertised.listeners")
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "kafka-config", ns, "kafka", "kafka"),
        "data": {"server.properties": properties_text(props)},
    }
    suffix = f"kafka-headless.{ns}.svc.cluster.local:{k0.address.port}"
    # Broker ID from the pod ordinal, advertised as the StatefulSet pod DNS name the genesis block lists.
    start = (
        "exec /opt/kafka/bin/kafka-server-start.sh /config/server.properties "
        "--override broker.id=${HOSTNAME##*-} "
        f"--override advertised.listeners={kafka_protocol(topo)}://${{HOSTNAME}}.{suffix}"
    )
    zk = shlex.quote(topo.zookeeper_connect)
    wait_zk = f"until /opt/kafka/bin/zookeeper-shell.sh {zk} ls /; do echo waiting for ZooKeeper; sleep 3; done"
    mounts = [{"name": "data", "mountPath": "/var/lib/kafka/data"}, {"name": "config", "mountPath": "/config"}]
    volumes: list[dict] = [{"name": "config", "configMap": {"name": "kafka-config"}}]
    objects: list[dict] = []
    if spec.tls:
        tls = layout.kafka_tls
        secret, items = files_secret(
            spec, "kafka-tls", ns, "kafka", "kafka", {"kafka.pem": tls / "kafka.pem", "ca.crt": tls / "ca.crt"}
        )
        objects.append(secret)
        mounts.append({"name": "tls", "mountPath": "/tls", "readOnly": True})
        volumes.append({"name": "tls", "secret": {"secretName": "kafka-tls", "items": items, "defaultMode": 0o440}})
    container = _container(
        "kafka",
        image(spec, "kafka"),
        res,
        ["sh", "-c", start],
        {
            "KAFKA_HEAP_OPTS": f"-Xms64m -Xmx{heap_for(res)}",
            "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        },
        {"kafka": k0.address.port},
        mounts,
        _tcp_probe(k0.address.port, 10),
        _tcp_probe(k0.address.port, 60),
    )
    init = {
        "name": "wait-for-zookeeper",
        "image": image(spec, "kafka"),
        "command": ["sh", "-c", wait_zk],
        "resources": resources(res),
        "securityContext": security_context(),
    }
    pod = {
        "securityContext": {"fsGroup": KAFKA_UID},
        "initContainers": [init],
        "containers": [container],
        "volumes": volumes,
        **scheduling(spec, spec.kubernetes.placement.kafka, selector(spec, "kafka")),
    }
    return [
        config,
        *objects,
        _service(topo, "kafka-headless", ns, "kafka", "kafka", {"kafka": k0.address.port}, headless=True),
        _statefulset(
            "kafka",
            ns,
            topo,
            "kafka",
            "kafka",
            pod,
            len(topo.kafkas),
            "kafka-headless",
            spec.kubernetes.storage.get("kafka", "2Gi"),
        ),
    ]


def _node_crypto(layout: Layout, pod_layout: Layout, node) -> dict[str, Path]:
    """The node's msp/ and tls/ files, keyed by their path under /fabkube."""
    base = layout.node_crypto(node)
    pod_base = PurePosixPath(str(pod_layout.node_crypto(node).relative_to(POD_ROOT)))
    return {str(pod_base / rel): path for rel, path in files_under(base, base).items()}


def _crypto_volume(secret_name: str, items: list[dict]) -> dict:
    return {"name": "crypto", "secret": {"secretName": secret_name, "items": items, "defaultMode": 0o400}}


def _fabric_node_objects(
    layout: Layout,
    pod_layout: Layout,
    node: OrdererNode | PeerNode,
    command: list[str],
    env: dict[str, str],
    ports: dict[str, int],
    extra_mounts: list[dict],
    extra_volumes: list[dict],
) -> list[dict]:
    """Secret (MSP + TLS), Service and single-replica StatefulSet of one orderer or peer."""
    spec, kind, name = layout.topo.spec, node.kind, node.hostname
    startup, readiness, liveness = _fabric_probes(node)
    secret, items = files_secret(
        spec, f"{name}-crypto", node.namespace, name, kind, _node_crypto(layout, pod_layout, node)
    )
    mounts = [
        {"name": "data", "mountPath": DATA},
        {"name": "crypto", "mountPath": str(POD_ROOT / "crypto"), "readOnly": True},
        *extra_mounts,
    ]
    container = _container(
        kind,
        image(spec, kind),
        getattr(spec.resources, kind),
        command,
        env,
        ports,
        mounts,
        readiness,
        liveness,
    )
    container["startupProbe"] = startup
    items = [{"key": i["key"], "path": i["path"].removeprefix("crypto/")} for i in items]
    pod = {
        "containers": [container],
        "volumes": [_crypto_volume(f"{name}-crypto", items), *extra_volumes],
        **scheduling(
            spec,
            getattr(spec.kubernetes.placement, kind),
            {"app.kubernetes.io/component": kind, "app.kubernetes.io/part-of": spec.name},
        ),
    }
    return [
        secret,
        _service(layout.topo, name, node.namespace, name, kind, ports),
        _statefulset(
            name, node.namespace, layout.topo, kind, name, pod, 1, name, spec.kubernetes.storage.get(kind, "1Gi")
        ),
    ]


def orderer_objects(layout: Layout, pod_layout: Layout) -> list[dict]:
    topo, spec = layout.topo, layout.topo.spec
    ns = topo.orderer_org.namespace
    genesis = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "genesis-block", ns, "genesis-block", "orderer"),
        "binaryData": {"system-genesis.block": base64.b64encode(layout.genesis_block.read_bytes()).decode()},
    }
    out = [genesis]
    for o in topo.orderers:
        ports = {"grpc": o.address.port, "operations": o.operations.port, "admin": o.admin.port}
        out += _fabric_node_objects(
            layout,
            pod_layout,
            o,
            ["orderer"],
            orderer_env(topo, o, pod_layout, DATA),
            ports,
            [{"name": "genesis", "mountPath": str(pod_layout.artifacts), "readOnly": True}],
            [{"name": "genesis", "configMap": {"name": "genesis-block"}}],
        )
    return out


def peer_objects(layout: Layout, pod_layout: Layout) -> list[dict]:
    topo = layout.topo
    out = []
    for p in topo.peers:
        ports = {"grpc": p.address.port, "chaincode": p.chaincode.port, "operations": p.operations.port}
        out += _fabric_node_objects(
            layout, pod_layout, p, ["peer", "node", "start"], peer_env(topo, p, pod_layout, DATA), ports, [], []
        )
    return out


def chaincode_objects(layout: Layout, package_ids: dict[str, dict[str, str]]) -> list[dict]:
    """Per chaincode per org: a Deployment serving it (TLS key from a Secret) and its Service."""
    topo, spec = layout.topo, layout.topo.spec
    res = spec.resources.chaincode
    out = []
    for cc in topo.chaincodes:
        img = cc.image or image(spec, "chaincode", name=cc.name, version=cc.version)
        for org in cc.orgs:
            name = f"cc-{cc.name}"
            env = {
                "CHAINCODE_ID": package_ids[cc.name][org.name],
                "CHAINCODE_SERVER_ADDRESS": f"0.0.0.0:{CHAINCODE_PORT}",
            }
            mounts, volumes, objects = [], [], []
            if spec.tls:
                tls = layout.chaincode_tls(cc, org)
                secret, items = files_secret(
                    spec,
                    f"{name}-tls",
                    org.namespace,
                    name,
                    "chaincode",
                    {
                        "server.crt": tls / "server.crt",
                        "server.key": tls / "server.key",
                        "client-ca.crt": layout.tls_ca(org),
                    },
                )
                objects.append(secret)
                mounts.append({"name": "tls", "mountPath": "/tls", "readOnly": True})
                volumes.append(
                    {"name": "tls", "secret": {"secretName": f"{name}-tls", "items": items, "defaultMode": 0o440}}
                )
                env.update(
                    {
                        "CHAINCODE_TLS_CERT": "/tls/server.crt",
                        "CHAINCODE_TLS_KEY": "/tls/server.key",
                        "CHAINCODE_TLS_CLIENT_CA": "/tls/client-ca.crt",
                    }
                )
            container = _container(
                "chaincode", img, res, [], env, {"grpc": CHAINCODE_PORT}, mounts, _tcp_probe(CHAINCODE_PORT, 3)
            )
            del container["command"]  # the image's own entrypoint serves the chaincode
            # The image runs as nobody (see `fabkube chaincode dockerfile`): group-own the TLS secret.
            pod = {
                "securityContext": {"fsGroup": CHAINCODE_UID},
                "containers": [container],
                "volumes": volumes,
                **scheduling(spec, spec.kubernetes.placement.chaincode, None),
            }
            deploy = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta(spec, name, org.namespace, name, "chaincode"),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": selector(spec, name)},
                    "template": {"metadata": {"labels": labels(spec, name, "chaincode")}, "spec": pod},
                },
            }
            out += [*objects, deploy, _service(topo, name, org.namespace, name, "chaincode", {"grpc": CHAINCODE_PORT})]
    return out


def lifecycle_objects(layout: Layout, pod_layout: Layout, package_ids: dict[str, dict[str, str]]) -> list[dict]:
    """The admin Job: the same lifecycle steps as the local backend, as a script in fabric-tools."""
    topo, spec = layout.topo, layout.topo.spec
    ns = topo.orgs[0].namespace
    steps = plan(pod_layout, package_ids)
    steps += [s for cc in topo.chaincodes if (s := smoke_step(pod_layout, cc))]
    script = shell_script(steps, pod_layout, TOOLS_CONFIG)
    crypto: dict[str, Path] = {}
    # Peer-org admins sign; of the orderer org only its TLS CA is needed (to trust the orderers).
    crypto[str(PurePosixPath(str(pod_layout.tls_ca(topo.orderer_org).relative_to(POD_ROOT / "crypto"))))] = (
        layout.tls_ca(topo.orderer_org)
    )
    for org in topo.orgs:
        admin = layout.admin_msp(org).parent
        pod_admin = PurePosixPath(str(pod_layout.admin_msp(org).parent.relative_to(POD_ROOT / "crypto")))
        for rel, path in files_under(admin, admin).items():
            crypto[str(pod_admin / rel)] = path
        crypto[str(PurePosixPath(str(pod_layout.tls_ca(org).relative_to(POD_ROOT / "crypto"))))] = layout.tls_ca(org)
    # Packages carry the peers' chaincode client keys (connection.json): they ride in the Secret too.
    packages = {
        f"chaincode/{p.name}": p
        for cc in topo.chaincodes
        for org in cc.orgs
        if (p := layout.chaincode_package(cc, org)).exists()
    }
    secret, all_items = files_secret(spec, "lifecycle-admin-crypto", ns, "lifecycle", "tools", {**crypto, **packages})
    items = [i for i in all_items if i["path"] not in packages]
    package_items = [{**i, "path": i["path"].removeprefix("chaincode/")} for i in all_items if i["path"] in packages]
    artifacts = {
        p.name: p
        for p in [
            *(layout.channel_tx(c) for c in topo.channels),
            *(layout.anchors_tx(c, o) for c in topo.channels for o in c.orgs),
        ]
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "lifecycle", ns, "lifecycle", "tools"),
        "data": {"lifecycle.sh": script},
        "binaryData": {k: base64.b64encode(v.read_bytes()).decode() for k, v in artifacts.items()},
    }
    art_items = [{"key": k, "path": k} for k in sorted(artifacts)]
    container = _container(
        "lifecycle",
        image(spec, "tools"),
        spec.resources.tools,
        ["sh", f"{POD_ROOT}/scripts/lifecycle.sh"],
        {"FABRIC_LOGGING_SPEC": "WARNING"},
        {},
        [
            {"name": "crypto", "mountPath": str(POD_ROOT / "crypto"), "readOnly": True},
            {"name": "artifacts-src", "mountPath": "/artifacts-src", "readOnly": True},
            {"name": "artifacts", "mountPath": str(pod_layout.artifacts)},
            {"name": "scripts", "mountPath": str(POD_ROOT / "scripts"), "readOnly": True},
        ],
        {"exec": {"command": ["true"]}},
    )
    del container["readinessProbe"]
    del container["ports"]
    # The channel block is written next to the transactions, so artifacts live in a writable emptyDir.
    copy_cmd = f"cp -rL /artifacts-src/. {pod_layout.artifacts}/"
    copy_mounts = [
        {"name": "artifacts-src", "mountPath": "/artifacts-src", "readOnly": True},
        {"name": "artifacts", "mountPath": str(pod_layout.artifacts)},
    ]
    volumes = [
        _crypto_volume("lifecycle-admin-crypto", items),
        {"name": "artifacts-src", "configMap": {"name": "lifecycle", "items": art_items}},
        {"name": "artifacts", "emptyDir": {}},
        {
            "name": "scripts",
            "configMap": {"name": "lifecycle", "items": [{"key": "lifecycle.sh", "path": "lifecycle.sh"}]},
        },
    ]
    if packages:
        copy_cmd += (
            f" && mkdir -p {pod_layout.artifacts}/chaincode && cp -L /packages-src/* {pod_layout.artifacts}/chaincode/"
        )
        copy_mounts.append({"name": "packages-src", "mountPath": "/packages-src", "readOnly": True})
        volumes.append(
            {
                "name": "packages-src",
                "secret": {"secretName": "lifecycle-admin-crypto", "items": package_items, "defaultMode": 0o400},
            }
        )
    copy = {
        "name": "artifacts",
        "image": image(spec, "tools"),
        "command": ["sh", "-c", copy_cmd],
        "volumeMounts": copy_mounts,
        "resources": resources(spec.resources.tools),
        "securityContext": security_context(),
    }
    pod = {
        "restartPolicy": "Never",
        "initContainers": [copy],
        "containers": [container],
        "volumes": volumes,
        **scheduling(spec, spec.kubernetes.placement.tools, None),
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(spec, "lifecycle", ns, "lifecycle", "tools"),
        "spec": {
            "backoffLimit": 2,
            "template": {"metadata": {"labels": labels(spec, "lifecycle", "tools")}, "spec": pod},
        },
    }
    return [secret, config, job]


def namespace_objects(topo: Topology) -> list[dict]:
    names = [topo.kafka_namespace, topo.orderer_org.namespace, *(o.namespace for o in topo.orgs)]
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": n,
                "labels": {"app.kubernetes.io/part-of": topo.spec.name, "app.kubernetes.io/managed-by": "fabkube"},
            },
        }
        for n in dict.fromkeys(names)
    ]


def render_objects(layout: Layout, package_ids: dict[str, dict[str, str]]) -> dict[str, list[dict]]:
    """File name -> objects in it, one file per component group."""
    pod_layout = Layout(POD_ROOT, layout.topo)
    return {
        "namespaces.yaml": namespace_objects(layout.topo),
        "zookeeper.yaml": zookeeper_objects(layout.topo),
        "kafka.yaml": kafka_objects(layout),
        "orderers.yaml": orderer_objects(layout, pod_layout),
        "peers.yaml": peer_objects(layout, pod_layout),
        "chaincode.yaml": chaincode_objects(layout, package_ids),
        "lifecycle.yaml": lifecycle_objects(layout, pod_layout, package_ids),
    }
