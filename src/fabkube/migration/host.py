"""What a migration asks of the target a network runs on: reach its orderers from this machine, stop
and start its orderers and Kafka's services, back their data up and restore it, and record the
ordering type the network now runs. The procedure (kafka_to_raft.py) knows no target; each backend
implements this for itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from fabkube.layout import Layout
from fabkube.nodes import Endpoint, Org
from fabkube.reporter import Reporter
from fabkube.toolchain import Toolchain


@dataclass(frozen=True)
class OrdererReach:
    """One orderer's endpoints as this machine dials them (local: its own; Kubernetes: forwarded)."""

    name: str
    address: Endpoint  # gRPC: Broadcast and Deliver
    admin: Endpoint  # channel participation API
    operations: Endpoint  # /version, /metrics


class MigrationHost(ABC):
    """One network on its target, as a migration drives it."""

    layout: Layout  # crypto and paths (the same for either ordering type)
    tools: Toolchain  # peer, configtxlator, osnadmin of the network's Fabric version
    report: Reporter

    @property
    @abstractmethod
    def recorded_type(self) -> str:
        """The ordering type the work dir says the network runs (its spec copy)."""

    @abstractmethod
    def reach(self) -> AbstractContextManager[list[OrdererReach]]:
        """Every orderer's endpoints, dialable while the context is open."""

    @abstractmethod
    def ensure_running(self) -> None:
        """Start what the recorded type runs and is stopped (Kafka: ZooKeeper, brokers, orderers;
        Raft: orderers), and wait until it serves."""

    @abstractmethod
    def stop_orderers(self) -> None: ...

    @abstractmethod
    def stop_services(self) -> list[str]:
        """Stop the backing services (brokers first, then ZooKeeper); return the ones stopped."""

    @abstractmethod
    def start_kafka(self) -> None:
        """ZooKeeper, the brokers, then the orderers as Kafka orderers; wait until each serves."""

    @abstractmethod
    def backup(self, dest: Path) -> list[str]:
        """Copy the orderers', brokers' and ZooKeeper's data under `dest` (all stopped); return what."""

    @abstractmethod
    def restore(self, src: Path) -> None:
        """Put a backup's data back (all stopped), leaving no Raft WAL or snapshot behind."""

    @abstractmethod
    def record_type(self, type_name: str, spec_text: str) -> None:
        """Make `spec_text` (ordering.type `type_name`) the work dir's spec: from now on the network
        opens, starts and reports as that type."""

    @abstractmethod
    def start_raft_orderers(self) -> None:
        """Start the stopped orderers as Raft consenters; wait until each channel has a leader."""

    @abstractmethod
    def remove_services(self) -> str:
        """After the migration: remove what ran Kafka (its data stays until `down --purge`); say what."""

    @property
    @abstractmethod
    def backups(self) -> Path:
        """Where backups are kept."""


@dataclass(frozen=True)
class NodeReach:
    """A Fabric node (orderer or peer) as an upgrade reads it: its operations endpoint (/version,
    /metrics), dialable from this machine, and its org (whose TLS client reads it)."""

    name: str
    kind: str  # orderer, peer
    org: Org
    operations: Endpoint


class UpgradeHost(ABC):
    """One network on its target, as an upgrade of its Fabric binaries, or a move from Raft to BFT
    on Fabric 3, drives it: node by node, or every orderer at once."""

    layout: Layout
    tools: Toolchain  # of the recorded version: the target's once recorded
    report: Reporter

    @property
    @abstractmethod
    def recorded_version(self) -> str:
        """The Fabric version the work dir says the network runs (what a node starts on)."""

    @abstractmethod
    def reach(self) -> AbstractContextManager[list[OrdererReach]]:
        """Every orderer's endpoints, dialable while the context is open."""

    @abstractmethod
    def nodes(self) -> AbstractContextManager[list[NodeReach]]:
        """Every orderer, then every peer, dialable while the context is open."""

    @abstractmethod
    def ensure_running(self) -> list[str]:
        """Start the orderers and peers that are stopped, on the recorded version; return them."""

    @abstractmethod
    def record_spec(self, spec_text: str) -> None:
        """Make `spec_text` the work dir's spec: from now on every node starts as it says (its
        Fabric version, its ordering type)."""

    @abstractmethod
    def stop_orderers(self) -> None: ...

    @abstractmethod
    def start_orderers(self) -> None:
        """Start the stopped orderers together, as the recorded spec says; wait until each serves."""

    @abstractmethod
    def running(self, name: str) -> bool: ...

    @abstractmethod
    def backup_node(self, name: str, dest: Path) -> None:
        """Copy a stopped node's data to dest/<name>, whole or not at all."""

    def backup_nodes(self, names: list[str], dest: Path) -> None:
        """Copy stopped nodes' data to dest/<name> each (a target may copy them side by side)."""
        for name in names:
            self.backup_node(name, dest)

    def roll(self, name: str, backup: Path | None) -> None:
        """Stop the node, copy its data under `backup` (unless None), start it as the recorded spec
        says, and wait until it serves."""
        self.stop_node(name)
        if backup is not None:
            self.backup_node(name, backup)
        self.start_node(name)

    @abstractmethod
    def stop_node(self, name: str) -> None: ...

    @abstractmethod
    def start_node(self, name: str) -> None:
        """Start one node as the recorded spec says; wait until it serves."""

    @property
    @abstractmethod
    def backups(self) -> Path:
        """Where backups are kept."""
