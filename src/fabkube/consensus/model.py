"""The ordering model: what one ordering type is, as plain data derived from the spec for a target.

Low in the house (it imports only the spec and the plain node types). The topology derives the
network's model (`topo.ordering`); crypto issues the TLS pairs it asks for; configtx takes its
Orderer keys; the orderers take its environment; the toolchain fetches the parts it names. How a
type runs is apart, one floor up: consensus/local.py and consensus/k8s.py, loaded by the backends.
So Fabric's nwo keeps `Consensus.Type` as data and its runners apart.

A type `<type>` is the package fabkube/consensus/<type>/: model.py registers an OrderingModel
subclass, local.py and k8s.py its deployment parts; spec.py names it in `ordering.type`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from fabkube.nodes import Endpoint, EndpointFactory, OrdererNode, Org, Target
from fabkube.spec import NetworkSpec


@dataclass
class ServiceNode:
    """A backing service an ordering type runs beside its orderers (Kafka: a ZooKeeper node or a
    broker). Its name is its component's name locally and its pod's name on Kubernetes."""

    kind: ClassVar[str] = ""
    index: int
    name: str
    namespace: str  # Kubernetes: where it runs
    # Its Prometheus endpoint (plain HTTP), if it has one (set by the model, after the node's own).
    metrics: Endpoint | None = field(default=None, init=False)


@dataclass(frozen=True)
class TlsPair:
    """One TLS key and certificate a type needs beyond each node's own, from `org`'s TLS CA (fit for
    server and client authentication). Written under the org's crypto folder as <dir>/<role>.key and
    <dir>/<role>.crt, with that CA's certificate as <dir>/ca.crt; reused once it exists. A pair that
    acts as both ends (a consenter's client and server) is two pairs with roles "server" and "client"."""

    org: Org
    dir: str  # relative to the org's crypto folder, e.g. "kafka/tls"
    common_name: str
    sans: tuple[str, ...]
    role: str = "server"
    bundle: str | None = None  # also key + certificate in one PEM file of this name (Kafka's PEM keystore)


@dataclass(frozen=True)
class ModelContext:
    """What the topology hands a type to derive its model from."""

    spec: NetworkSpec
    target: Target
    namespace_prefix: str  # Kubernetes namespaces are <prefix>-<something>
    orderer_org: Org
    endpoint: EndpointFactory  # the services' endpoints (locally from their own block of ports)
    # The services' metrics endpoints (locally from the top of the same block, downward), or None
    # when a local ensemble is too large for them to fit.
    metrics_endpoint: EndpointFactory | None = None


class OrderingModel(ABC):
    """One ordering type's model for one topology. A subclass derives its nodes in __init__ (asking
    ctx.endpoint for every endpoint, so local ports and in-cluster names follow the target) and
    overrides what differs from a type with no backing services."""

    type: ClassVar[str] = ""
    # True: orderers boot from a system-channel genesis block (BootstrapMethod file, channels made
    # by `peer channel create`). False: no system channel; orderers join each channel through the
    # channel participation API (osnadmin), BootstrapMethod none.
    system_channel: ClassVar[bool] = True
    # Toolchain parts the type runs beyond Fabric's binaries (fabkube.toolchain.PARTS), e.g. "kafka".
    toolchain_parts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: ModelContext) -> None:
        self.spec = ctx.spec
        self.target = ctx.target
        self.orderer_org = ctx.orderer_org

    title: ClassVar[str] = ""  # what users call it: Kafka, Raft, BFT
    renewal_refused: ClassVar[str | None] = None  # why `certs renew` cannot run on the type, if so

    def quorum(self, orderers: int) -> int:
        """How many of `orderers` must run for a channel to order (1: any one, as with Kafka)."""
        return 1

    @property
    def services(self) -> list[ServiceNode]:
        """The backing-service nodes, in start order."""
        return []

    @property
    def namespaces(self) -> list[str]:
        """Kubernetes namespaces of the backing services, besides the orgs' own."""
        return list(dict.fromkeys(s.namespace for s in self.services))

    def tls_pairs(self, orderers: list[OrdererNode]) -> list[TlsPair]:
        """TLS pairs to issue beyond the nodes' own, with SANs that serve both targets (Raft's
        consenters may ask for a client pair beside each orderer's server pair)."""
        return []

    def write_secrets(self, org_dir: Callable[[Org], Path]) -> int:
        """Secrets the type keeps with the crypto beside its orgs' (Kafka: ZooKeeper's password),
        made once when crypto is generated; how many were new."""
        return 0

    @abstractmethod
    def configtx_orderer(self, orderers: list[OrdererNode], tls_dir: Callable[[OrdererNode], Path]) -> dict:
        """The type's keys of configtx.yaml's Orderer section: OrdererType and its own section.
        `tls_dir(node)` is where a node's TLS pair lies (e.g. for Raft's consenter certificates)."""

    def orderer_env(self, node: OrdererNode, tls: Path) -> dict[str, str]:
        """The orderer's environment for this type; `tls` is the node's TLS folder."""
        return {}


T = TypeVar("T")


class Registry(Generic[T]):
    """Parts of ordering types keyed by type name. A type's module fabkube.consensus.<type>.<module>
    is imported on first use and registers its part; a type may also be registered directly."""

    def __init__(self, module: str, what: str) -> None:
        self.module, self.what = module, what
        self._parts: dict[str, T] = {}

    def add(self, type_name: str, part: T) -> T:
        self._parts[type_name] = part
        return part

    def get(self, type_name: str) -> T:
        if type_name not in self._parts:
            module = f"fabkube.consensus.{type_name}.{self.module}"
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:  # no such type; a missing import inside one is an error
                if not exc.name or not module.startswith(exc.name):
                    raise
        try:
            return self._parts[type_name]
        except KeyError:
            raise ValueError(f"no {self.what} for ordering type {type_name!r}") from None


class ParticipationModel(OrderingModel):
    """A type whose orderers replicate among themselves (Raft, BFT): no system channel, every
    channel joined through the channel participation API."""

    system_channel = False

    def orderer_env(self, node: OrdererNode, tls: Path) -> dict[str, str]:
        """Mutual TLS between consenters with the node's own pair, and the admin endpoint (channel
        participation) requiring a client certificate from the orderer org's TLS CA."""
        pair = {"CERTIFICATE": str(tls / "server.crt"), "PRIVATEKEY": str(tls / "server.key")}
        roots = f"[{tls / 'ca.crt'}]"
        return {
            "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
            "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": pair["CERTIFICATE"],
            "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": pair["PRIVATEKEY"],
            "ORDERER_GENERAL_CLUSTER_ROOTCAS": roots,
            "ORDERER_ADMIN_TLS_ENABLED": "true",
            **{f"ORDERER_ADMIN_TLS_{k}": v for k, v in pair.items()},
            "ORDERER_ADMIN_TLS_ROOTCAS": roots,
            "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
            "ORDERER_ADMIN_TLS_CLIENTROOTCAS": roots,
        }


MODELS: Registry[type[OrderingModel]] = Registry("model", "ordering model")

M = TypeVar("M", bound=type[OrderingModel])


def register_model(cls: M) -> M:
    """Register an OrderingModel subclass under its `type` (usable as a class decorator)."""
    MODELS.add(cls.type, cls)
    return cls


def ordering_model(type_name: str) -> type[OrderingModel]:
    return MODELS.get(type_name)
