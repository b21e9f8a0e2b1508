"""The component model: what each orderer, peer and chaincode server needs (an ordering type's
backing services are components too, made by its local part: consensus/<type>/local.py).

A component is data: its command, environment, config files, ports and a health check.
The local backend runs it as a process; the same settings (Fabric's CORE_*/ORDERER_* env,
broker properties) feed the Kubernetes manifests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from fabkube.chaincode import language, server_command
from fabkube.chaincode.contract import server_env, tls_at
from fabkube.layout import Layout
from fabkube.toolchain import Toolchain
from fabkube.topology import (
    ChaincodeInfo,
    Endpoint,
    OrdererNode,
    PeerNode,
    Topology,
)


@dataclass
class Health:
    """How to tell the component is serving: one of the probes in fabkube.health."""

    kind: str  # "orderer" | "peer" | "tcp", or a backing service's kind (Kafka: "zookeeper", "kafka")
    endpoint: Endpoint  # the port clients use
    operations: Endpoint | None = None  # peers: where /healthz is served


@dataclass
class Component:
    name: str
    kind: str
    command: list[str]
    env: dict[str, str]
    files: dict[Path, str]
    ports: list[Endpoint]
    health: Health
    workdir: Path
    address: str = ""
    metrics: Endpoint | None = None  # a plain-HTTP Prometheus endpoint of its own (on loopback), if any


def orderer_env(topo: Topology, node: OrdererNode, paths: Layout, data_dir: str) -> dict[str, str]:
    tls = paths.node_tls(node)
    listen = node.address.host if topo.target == "local" else "0.0.0.0"
    ops = str(node.operations) if topo.target == "local" else f"0.0.0.0:{node.operations.port}"
    admin = str(node.admin) if topo.target == "local" else f"0.0.0.0:{node.admin.port}"
    tls_on = "true" if topo.spec.tls else "false"
    return {
        "ORDERER_GENERAL_LISTENADDRESS": listen,
        "ORDERER_GENERAL_LISTENPORT": str(node.address.port),
        "ORDERER_GENERAL_LOCALMSPID": node.org.msp_id,
        "ORDERER_GENERAL_LOCALMSPDIR": str(paths.node_msp(node)),
        "ORDERER_GENERAL_TLS_ENABLED": tls_on,
        "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        **_bootstrap(topo, paths),
        "ORDERER_FILELEDGER_LOCATION": f"{data_dir}/ledger",
        "ORDERER_CONSENSUS_WALDIR": f"{data_dir}/etcdraft/wal",
        "ORDERER_CONSENSUS_SNAPDIR": f"{data_dir}/etcdraft/snapshot",
        "ORDERER_OPERATIONS_LISTENADDRESS": ops,
        **_operations_tls("ORDERER_OPERATIONS_TLS_", topo, tls, ("CERTIFICATE", "PRIVATEKEY", "CLIENTROOTCAS")),
        "ORDERER_ADMIN_LISTENADDRESS": admin,
        "ORDERER_METRICS_PROVIDER": "prometheus",
        **topo.ordering.orderer_env(node, tls),
        "FABRIC_LOGGING_SPEC": "INFO",
    }


def _operations_tls(prefix: str, topo: Topology, tls: Path, keys: tuple[str, str, str]) -> dict[str, str]:
    """The operations endpoint over TLS when the network has TLS. Client certificates are optional
    (Fabric's clientAuthRequired false): /healthz and /version stay open to kubelet probes, and
    Fabric itself refuses /metrics and /logspec without one from the org's TLS CA (core/operations/
    system.go at 2.5.9 registers those two as secure). The orderer reads a list as [a, b], the
    peer as words; one CA is both."""
    if not topo.spec.tls:
        return {}
    cert, key, roots = keys
    ca = str(tls / "ca.crt")
    return {
        f"{prefix}ENABLED": "true",
        f"{prefix}{cert}": str(tls / "server.crt"),
        f"{prefix}{key}": str(tls / "server.key"),
        f"{prefix}CLIENTAUTHREQUIRED": "false",
        f"{prefix}{roots}": f"[{ca}]" if prefix.startswith("ORDERER") else ca,
    }


def _bootstrap(topo: Topology, paths: Layout) -> dict[str, str]:
    """Orderers of a type with a system channel boot from its genesis block; others start with no
    channel and join each through the channel participation API."""
    if topo.ordering.system_channel:
        return {"ORDERER_GENERAL_BOOTSTRAPMETHOD": "file", "ORDERER_GENERAL_BOOTSTRAPFILE": str(paths.genesis_block)}
    return {"ORDERER_GENERAL_BOOTSTRAPMETHOD": "none"}


def peer_env(topo: Topology, node: PeerNode, paths: Layout, data_dir: str) -> dict[str, str]:
    tls = paths.node_tls(node)
    local = topo.target == "local"
    org_peers = topo.org_peers(node.org)
    bootstrap = next((p for p in org_peers if p.name != node.name), node)
    return {
        "CORE_PEER_ID": node.fqdn,
        "CORE_PEER_ADDRESS": str(node.address),
        "CORE_PEER_LISTENADDRESS": str(node.address) if local else f"0.0.0.0:{node.address.port}",
        "CORE_PEER_CHAINCODEADDRESS": str(node.chaincode),
        "CORE_PEER_CHAINCODELISTENADDRESS": str(node.chaincode) if local else f"0.0.0.0:{node.chaincode.port}",
        "CORE_PEER_GOSSIP_BOOTSTRAP": str(bootstrap.address),
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": str(node.address),
        # A peer that tried an anchor or bootstrap peer before it was up tries again after this
        # (Fabric's default 25s): peers of freshly joined channels find each other in seconds.
        "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "5s",
        # A peer refused blocks for a while (orderers down, or a channel in maintenance during a
        # migration) retries after exponentially longer waits, up to an hour by default: at most
        # 5 s, so it commits again within seconds of the orderers serving it.
        "CORE_PEER_DELIVERYCLIENT_RECONNECTBACKOFFTHRESHOLD": "5s",
        "CORE_PEER_LOCALMSPID": node.org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(paths.node_msp(node)),
        "CORE_PEER_TLS_ENABLED": "true" if topo.spec.tls else "false",
        "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
        "CORE_PEER_FILESYSTEMPATH": data_dir,
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": f"{data_dir}/snapshots",
        "CORE_OPERATIONS_LISTENADDRESS": str(node.operations) if local else f"0.0.0.0:{node.operations.port}",
        **_operations_tls("CORE_OPERATIONS_TLS_", topo, tls, ("CERT_FILE", "KEY_FILE", "CLIENTROOTCAS_FILES")),
        "CORE_METRICS_PROVIDER": "prometheus",
        "CORE_PEER_PROFILE_ENABLED": "false",
        "CORE_CHAINCODE_EXECUTETIMEOUT": "60s",
        "FABRIC_LOGGING_SPEC": "INFO",
    }


def peer_core_yaml(tools: Toolchain, builder: dict) -> str:
    """Fabric's own core.yaml (same release), with one CCaaS external builder and no Docker endpoint.

    vm.endpoint must be empty in the file: with an endpoint set the peer registers a Docker health
    checker and /healthz fails forever without Docker, and CORE_VM_ENDPOINT="" does not help (the
    viper Fabric vendors ignores empty environment variables)."""
    core = yaml.safe_load((tools.config_dir / "core.yaml").read_text())
    core["vm"]["endpoint"] = ""
    core["chaincode"]["externalBuilders"] = [builder]
    return yaml.safe_dump(core, sort_keys=False)


def properties_text(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def local_components(
    layout: Layout,
    tools: Toolchain,
    package_ids: dict[str, str] | None = None,
    chaincode_dirs: dict[str, Path] | None = None,
) -> list[Component]:
    """Fabric's components of a local network, in start order: orderers, peers, chaincode servers.
    (The local backend starts the ordering type's backing services before them.)"""
    topo = layout.topo
    assert topo.target == "local"
    out: list[Component] = []
    for o in topo.orderers:
        env = orderer_env(topo, o, layout, str(layout.data_dir(o.name)))
        env["FABRIC_CFG_PATH"] = str(tools.config_dir)
        out.append(
            Component(
                o.name,
                "orderer",
                [str(tools.bin("orderer"))],
                env,
                {},
                [o.address, o.operations, o.admin],
                Health("orderer", o.address),
                layout.node_dir(o.name),
                str(o.address),
            )
        )
    for p in topo.peers:
        conf = layout.config_dir(p.name)
        env = peer_env(topo, p, layout, str(layout.data_dir(p.name)))
        env["FABRIC_CFG_PATH"] = str(conf)
        out.append(
            Component(
                p.name,
                "peer",
                [str(tools.bin("peer")), "node", "start"],
                env,
                {conf / "core.yaml": peer_core_yaml(tools, {**LOCAL_BUILDER, "path": str(layout.builders / "ccaas")})},
                [p.address, p.chaincode, p.operations],
                Health("peer", p.address, p.operations),
                layout.node_dir(p.name),
                str(p.address),
            )
        )
    for cc in topo.chaincodes:
        out.append(
            chaincode_component(
                layout, cc, (package_ids or {}).get(cc.name, ""), (chaincode_dirs or {}).get(cc.name), tools
            )
        )
    return out


# fabkube's implementation of the builder contract (chaincode/ccaas_builder.py), for local peers.
LOCAL_BUILDER = {"name": "ccaas", "propagateEnvironment": ["HOME"]}
# Fabric's own ccaas builder as the official peer image ships it (images/peer/Dockerfile).
# The sampleconfig core.yaml of our release names exactly this one.
IMAGE_BUILDER = {
    "name": "ccaas_builder",
    "path": "/opt/hyperledger/ccaas_builder",
    "propagateEnvironment": ["CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"],
}


def chaincode_component(
    layout: Layout, cc: ChaincodeInfo, package_id: str, source: Path | None, tools: Toolchain | None = None
) -> Component:
    """One local server per chaincode, shared by every org's peers (they all dial the same address),
    in any language, configured through the environment a CCaaS pod gives it (chaincode/contract.py)."""
    server = next(iter(cc.servers.values()))
    name = f"chaincode-{cc.name}"
    files: dict[Path, str] = {}
    tls = None
    if layout.topo.spec.tls:
        # One local server serves every org's peers; they all present the server org's peer-client pair.
        server_org = layout.topo.chaincode_server_org(cc, cc.orgs[0])
        client_ca = layout.node_dir(name) / "client-ca.pem"
        files[client_ca] = layout.tls_ca(server_org).read_text() if layout.tls_ca(server_org).exists() else ""
        tls = tls_at(str(layout.chaincode_tls(cc, server_org)), str(client_ca))
    env = server_env(str(server), package_id, tls) | {"PYTHONUNBUFFERED": "1"}
    command = server_command(tools.root, source) if source is not None and tools is not None else []
    # Only fabkube's own runtime (Python chaincode) serves metrics; other languages' shims have none.
    metrics = cc.metrics if source is not None and language(source) == "python" else None
    if metrics:
        env["CHAINCODE_METRICS_ADDRESS"] = str(metrics)
    ports = [server, *([metrics] if metrics else [])]
    return Component(
        name, "chaincode", command, env, files, ports, Health("tcp", server), layout.node_dir(name), metrics=metrics
    )
