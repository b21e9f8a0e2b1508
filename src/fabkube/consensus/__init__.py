"""What is specific to an ordering type sits behind one Consensus object per type.

The topology, configtx, orderer settings, readiness, local processes and Kubernetes objects ask
`topo.consensus` for their type-specific part, so a second ordering type (Raft next) is a new
subclass registered in CONSENSUS, not edits across the code base.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fabkube.components import Component, Health
    from fabkube.layout import Layout
    from fabkube.toolchain import Toolchain
    from fabkube.topology import Endpoint, OrdererNode, Topology

EndpointFactory = Callable[[str, str], "Endpoint"]  # (in-cluster host, K8S_PORTS key) -> endpoint for the target


class Consensus(ABC):
    type: str = ""
    # Kinds of the backing services the orderers need, in start order, with their status lines.
    service_titles: tuple[tuple[str, str], ...] = ()
    orderer_title: str = "orderers"

    @property
    def service_kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.service_titles)

    # ------------------------------------------------------------ topology and artifacts
    @abstractmethod
    def add_nodes(self, topo: Topology, endpoint: EndpointFactory) -> None:
        """Derive the backing services' nodes (names, namespaces, endpoints) into the topology."""

    @abstractmethod
    def configtx_orderer(self, topo: Topology) -> dict:
        """The type-specific keys of configtx.yaml's Orderer section (OrdererType and its own section)."""

    @abstractmethod
    def orderer_env(self, topo: Topology, node: OrdererNode, tls: Path) -> dict[str, str]:
        """The orderer's environment for this consenter."""

    # ------------------------------------------------------------ local processes
    @abstractmethod
    def local_components(self, layout: Layout, tools: Toolchain) -> list[Component]:
        """The backing services as processes, in start order."""

    @abstractmethod
    def orderer_health(self, node: OrdererNode) -> Health:
        """How the local backend tells an orderer is ready (see orderer_ready)."""

    @abstractmethod
    def orderer_ready(self, endpoint: Endpoint, log: Path, offset: int, channels: list[str]) -> bool:
        """Whether a local orderer, whose current run logs from `offset`, serves `channels`."""

    @abstractmethod
    def service_ready(self, comp: Component, layout: Layout) -> Callable[[], bool]:
        """A readiness probe for one of the backing services' local components."""

    def restart_delay(self, comp: Component, recent_log: str) -> float | None:
        """Seconds after which a backing service that exited while starting may be started again, if any."""
        return None

    # ------------------------------------------------------------ Kubernetes
    @abstractmethod
    def k8s_files(self, layout: Layout) -> dict[str, list[dict]]:
        """Manifest file name -> objects of the backing services."""

    @abstractmethod
    def orderer_probes(self, node: OrdererNode) -> tuple[dict, dict, dict]:
        """Startup, readiness and liveness probes of an orderer container."""


CONSENSUS: dict[str, Consensus] = {}


def register(consensus: Consensus) -> Consensus:
    CONSENSUS[consensus.type] = consensus
    return consensus


def consensus_for(ordering_type: str) -> Consensus:
    if not CONSENSUS:
        import fabkube.consensus.kafka  # noqa: F401  (registers itself)
    try:
        return CONSENSUS[ordering_type]
    except KeyError:
        raise ValueError(f"no consensus implementation for ordering type {ordering_type!r}") from None
