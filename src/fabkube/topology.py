"""The topology: every node, name, address and port, derived from the spec for a target.

Nothing here is stored; it is recomputed from the spec whenever needed, so local and
Kubernetes targets, crypto SANs, configtx and backends all agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabkube.consensus.model import ModelContext, OrderingModel, ordering_model
from fabkube.nodes import (
    CLUSTER_DOMAIN,
    LOCAL_HOST,
    TARGETS,
    ChaincodeInfo,
    ChannelInfo,
    Endpoint,
    EndpointFactory,
    OrdererNode,
    Org,
    PeerNode,
    Target,
)
from fabkube.spec import CHAINCODE_SLOTS, NetworkSpec, local_blocks, peer_block

# Fixed in-cluster ports of Fabric's nodes; locally every port comes from local.basePort instead.
# (An ordering type's backing services bring their own.)
K8S_PORTS = {
    "orderer": 7050,
    "orderer_ops": 9443,
    "orderer_admin": 7053,
    "peer": 7051,
    "peer_cc": 7052,
    "peer_ops": 9444,
    "chaincode": 9999,
}


@dataclass
class Topology:
    spec: NetworkSpec
    target: Target
    orderer_org: Org  # the first orderer org (the only one, unless Raft names several)
    orgs: list[Org]
    ordering: OrderingModel  # the ordering type's model: its backing services, TLS pairs, settings
    orderer_orgs: list[Org] = field(default_factory=list)
    orderers: list[OrdererNode] = field(default_factory=list)
    peers: list[PeerNode] = field(default_factory=list)
    channels: list[ChannelInfo] = field(default_factory=list)
    chaincodes: list[ChaincodeInfo] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def org(self, name: str) -> Org:
        return next(o for o in self.orgs if o.name == name)

    def org_orderers(self, org: Org) -> list[OrdererNode]:
        return [o for o in self.orderers if o.org.name == org.name]

    def org_peers(self, org: Org) -> list[PeerNode]:
        return [p for p in self.peers if p.org.name == org.name]

    def channel(self, name: str) -> ChannelInfo:
        return next(c for c in self.channels if c.name == name)

    def chaincode(self, name: str) -> ChaincodeInfo:
        return next(c for c in self.chaincodes if c.name == name)

    def tls_sans(self, node: OrdererNode | PeerNode) -> list[str]:
        """Names a node's TLS certificate must cover on both targets, so one crypto set serves both."""
        names = [node.fqdn, node.hostname, "localhost", LOCAL_HOST]
        k8s = self if self.target == "k8s" else build_topology(self.spec, "k8s")
        twin = next(n for n in (k8s.orderers + k8s.peers) if n.name == node.name)
        short = twin.address.host.split(".")[0]
        for suffix in ("", f".{twin.namespace}", f".{twin.namespace}.svc", f".{twin.namespace}.{CLUSTER_DOMAIN}"):
            names.append(short + suffix)
        return list(dict.fromkeys(names))

    def chaincode_sans(self, cc: ChaincodeInfo, org: Org) -> list[str]:
        """Names an org's chaincode server certificate covers on both targets."""
        k8s = self if self.target == "k8s" else build_topology(self.spec, "k8s")
        host = k8s.chaincode(cc.name).servers[org.name].host
        short, ns = host.split(".")[0], org.namespace
        return ["localhost", LOCAL_HOST, short, f"{short}.{ns}", f"{short}.{ns}.svc", host]

    def chaincode_server_org(self, cc: ChaincodeInfo, org: Org) -> Org:
        """Whose certificate the server an org's peers dial presents: locally one shared server (the
        first org's), on Kubernetes each org's own Deployment."""
        return cc.orgs[0] if self.target == "local" else org


class _Ports:
    def __init__(self, base: int, step: int = 1):
        self.next, self.step = base, step

    def take(self) -> int:
        port, self.next = self.next, self.next + self.step
        return port


def namespace_prefix(spec: NetworkSpec) -> str:
    return spec.kubernetes.namespacePrefix or spec.name


def namespaces(spec: NetworkSpec) -> dict[str, str]:
    """Kubernetes namespaces of the orgs: one per orderer org and one per peer org. (The ordering
    type's backing services name their own: `Topology.ordering.namespaces`.)"""
    prefix = namespace_prefix(spec)
    out = {o.name: f"{prefix}-{o.name.lower()}" for o in spec.ordering.orderer_orgs()}
    for org in spec.organizations:
        out[org.name] = f"{prefix}-{org.name.lower()}"
    return out


def build_topology(spec: NetworkSpec, target: Target = "local") -> Topology:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}")
    local = target == "local"
    orderer_base, service_base, chaincode_base, peer_base = local_blocks(spec)
    ns = namespaces(spec)

    def factory(ports: _Ports) -> EndpointFactory:
        return lambda host, k8s_port: Endpoint(LOCAL_HOST, ports.take()) if local else Endpoint(host, k8s_port)

    orderer_endpoint = factory(_Ports(orderer_base))
    chaincode_ports = _Ports(chaincode_base)

    o = spec.ordering
    orderer_orgs = [Org(x.name, f"{x.name}MSP", x.domain, "orderer", ns[x.name], 0) for x in o.orderer_orgs()]
    orgs = [Org(org.name, f"{org.name}MSP", org.domain, "peer", ns[org.name], org.users) for org in spec.organizations]
    # Metrics ports count down from the top of the services' block: the chaincode servers' first
    # (one slot per chaincode, CHAINCODE_SLOTS of them), then the backing services' (spec.py).
    metrics = factory(_Ports(chaincode_base - 1 - CHAINCODE_SLOTS, step=-1))
    services = _Ports(service_base)
    context = ModelContext(spec, target, namespace_prefix(spec), orderer_orgs[0], factory(services), metrics)
    topo = Topology(spec, target, orderer_orgs[0], orgs, ordering_model(o.type)(context), orderer_orgs)
    # Orderers are numbered across orderer orgs: component names stay unique, hostnames per org.
    counts = [x.orderers for x in o.orderer_orgs()]
    for org, count in zip(orderer_orgs, counts, strict=True):
        for _ in range(count):
            i = len(topo.orderers)
            hostname = f"orderer{i}"
            host = f"{hostname}.{org.namespace}.{CLUSTER_DOMAIN}"
            topo.orderers.append(
                OrdererNode(
                    i,
                    hostname,
                    hostname,
                    f"{hostname}.{org.domain}",
                    org,
                    org.namespace,
                    orderer_endpoint(host, K8S_PORTS["orderer"]),
                    orderer_endpoint(host, K8S_PORTS["orderer_ops"]),
                    orderer_endpoint(host, K8S_PORTS["orderer_admin"]),
                )
            )
    for n, (org_spec, org) in enumerate(zip(spec.organizations, orgs, strict=False)):
        endpoint = factory(_Ports(peer_base + n * peer_block(spec)))
        for i in range(org_spec.peers):
            hostname = f"peer{i}"
            host = f"{hostname}.{org.namespace}.{CLUSTER_DOMAIN}"
            topo.peers.append(
                PeerNode(
                    i,
                    f"{hostname}.{org.name.lower()}",
                    hostname,
                    f"{hostname}.{org.domain}",
                    org,
                    org.namespace,
                    endpoint(host, K8S_PORTS["peer"]),
                    endpoint(host, K8S_PORTS["peer_cc"]),
                    endpoint(host, K8S_PORTS["peer_ops"]),
                    i in org_spec.anchorPeers,
                )
            )
    for ch in spec.channels:
        ch_orgs = [topo.org(n) for n in ch.organizations]
        topo.channels.append(ChannelInfo(ch.name, ch_orgs, [p for org in ch_orgs for p in topo.org_peers(org)]))
    for cc in spec.chaincodes:
        ch_orgs = topo.channel(cc.channel).orgs
        metrics = None
        if local:
            shared = Endpoint(LOCAL_HOST, chaincode_ports.take())
            servers = {org.name: shared for org in ch_orgs}
            # (Unless the services' own ports reach that high: the largest Kafka ensembles fill the block.)
            slot = len(topo.chaincodes)
            if slot < CHAINCODE_SLOTS and services.next <= chaincode_base - CHAINCODE_SLOTS:
                metrics = Endpoint(LOCAL_HOST, chaincode_base - 1 - slot)
        else:
            servers = {
                org.name: Endpoint(f"cc-{cc.name}.{org.namespace}.{CLUSTER_DOMAIN}", K8S_PORTS["chaincode"])
                for org in ch_orgs
            }
        topo.chaincodes.append(
            ChaincodeInfo(
                cc.name,
                cc.channel,
                cc.version,
                cc.sequence,
                cc.path,
                cc.init,
                cc.endorsementPolicy,
                cc.image,
                ch_orgs,
                servers,
                [_collection(c, ch_orgs) for c in cc.collections],
                metrics,
            )
        )
    return topo


def _collection(c, orgs: list[Org]) -> dict:
    """Fabric's collection config entry (the JSON `--collections-config` reads)."""
    members = ", ".join(f"'{o.msp_id}.member'" for o in orgs)
    return {
        "name": c.name,
        "policy": c.policy or f"OR({members})",
        "requiredPeerCount": c.requiredPeerCount,
        "maxPeerCount": c.maxPeerCount,
        "blockToLive": c.blockToLive,
        "memberOnlyRead": c.memberOnlyRead,
        "memberOnlyWrite": c.memberOnlyWrite,
    }
