"""The plain node types every floor shares: targets, endpoints, orgs, orderers, peers, channels, chaincodes.

Nothing here is derived and nothing knows an ordering type: topology.py derives these from the
spec, and each ordering type's model (consensus/<type>/model.py) derives its own service nodes
with the same endpoint factory, so the topology, the model and everything above agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Target = Literal["local", "k8s"]
TARGETS: tuple[str, ...] = ("local", "k8s")
LOCAL_HOST = "127.0.0.1"
CLUSTER_DOMAIN = "svc.cluster.local"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, address: str) -> Endpoint:
        """From "host:port" (as a port-forward answers)."""
        host, port = address.rsplit(":", 1)
        return cls(host, int(port))


# (in-cluster host, in-cluster port) -> the endpoint on the topology's target: that one on Kubernetes,
# locally loopback and the next port of its block above local.basePort (spec.local_blocks).
EndpointFactory = Callable[[str, int], Endpoint]


@dataclass
class Org:
    name: str
    msp_id: str
    domain: str
    kind: Literal["orderer", "peer"]
    namespace: str
    users: int

    @property
    def admin(self) -> str:
        return f"Admin@{self.domain}"

    @property
    def ca_name(self) -> str:
        return f"ca.{self.domain}"

    @property
    def tlsca_name(self) -> str:
        return f"tlsca.{self.domain}"


@dataclass
class OrdererNode:
    index: int
    name: str  # component name: orderer0
    hostname: str  # cryptogen's Hostname: orderer0
    fqdn: str  # cryptogen's CommonName: orderer0.example.com
    org: Org
    namespace: str
    address: Endpoint
    operations: Endpoint
    admin: Endpoint
    kind: str = "orderer"


@dataclass
class PeerNode:
    index: int
    name: str  # component name: peer0.org1
    hostname: str
    fqdn: str
    org: Org
    namespace: str
    address: Endpoint
    chaincode: Endpoint
    operations: Endpoint
    anchor: bool
    kind: str = "peer"


@dataclass
class ChannelInfo:
    name: str
    orgs: list[Org]
    peers: list[PeerNode]


@dataclass
class ChaincodeInfo:
    name: str
    channel: str
    version: str
    sequence: int
    source: str
    init: list[str] | None
    policy: str | None
    image: str | None
    orgs: list[Org]
    servers: dict[str, Endpoint]  # org name -> where that org's peers reach the chaincode server
    collections: list[dict] = field(default_factory=list)  # Fabric's collection config, as JSON objects
    # Locally: where fabkube's Python runtime serves the server's Prometheus metrics (loopback).
    metrics: Endpoint | None = None

    @property
    def label(self) -> str:
        return f"{self.name}_{self.version}"
