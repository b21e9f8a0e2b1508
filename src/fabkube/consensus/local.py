"""How an ordering type runs as local processes: its backing services in start order, their
readiness and restart rules, and when its orderers are ready. The local backend loads the part of
the network's type (fabkube.consensus.<type>.local registers it); the topology never sees it.
"""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fabkube.components import Component
from fabkube.consensus.model import Registry
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode
from fabkube.toolchain import Toolchain


@dataclass(frozen=True)
class Stage:
    """One kind of component as `up` starts it: a step with a status line, bounded readiness."""

    kind: str
    title: str  # the step's status line
    wait: float  # seconds its readiness may take
    ready_means: str  # what readiness waits for, named when it times out


class LocalOrdering(ABC):
    """The local part of one ordering type (one instance, shared by every network of the type)."""

    type: ClassVar[str] = ""
    stages: ClassVar[tuple[Stage, ...]] = ()  # the backing services' kinds, in start order
    orderer: ClassVar[Stage] = Stage("orderer", "orderers", 180.0, "its gRPC port")

    def services(self, layout: Layout, tools: Toolchain) -> list[Component]:
        """The backing services as processes, in start order (kinds from `stages`)."""
        return []

    def service_ready(self, comp: Component, layout: Layout) -> Callable[[], bool]:
        """A readiness probe for one backing-service component."""
        raise NotImplementedError(f"{self.type} has no backing service {comp.kind!r}")

    @abstractmethod
    def orderer_ready(
        self, node: OrdererNode, log: Path, offset: int, channels: list[str], ops_tls: ssl.SSLContext | None
    ) -> bool:
        """Whether a local orderer, whose current run logs from byte `offset` of `log`, serves `channels`
        (`ops_tls`: how its operations endpoint is read, health.operations_tls)."""

    def restart_delay(self, comp: Component, recent_log: str) -> float | None:
        """Seconds after which a backing service that exited while starting may start again, if any."""
        return None

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        """What a running orderer says of each channel (height, status, leader) for `status`; {} when
        the type tells nothing per orderer."""
        return {}


def read_from(log: Path, offset: int) -> str:
    """What a component's log holds from byte `offset` (its current run), "" if unreadable."""
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


class ParticipationLocal(LocalOrdering):
    """A type whose orderers replicate among themselves (Raft, BFT): nothing runs beside them; an
    orderer is ready when healthy and, in this run, ordering every channel it joined (so a restarted
    one is ready once it can order again, not merely once it listens)."""

    leader_metric: ClassVar[str] = ""  # the operations gauge saying this orderer leads a channel

    def orderer_ready(
        self, node: OrdererNode, log: Path, offset: int, channels: list[str], ops_tls: ssl.SSLContext | None
    ) -> bool:
        from fabkube import health

        if not (health.tcp_open(node.address) and health.operations_ok(node.operations, "/healthz", ops_tls)):
            return False
        return not channels or self.ordering(read_from(log, offset), channels)

    @abstractmethod
    def ordering(self, log_text: str, channels: list[str]) -> bool:
        """Whether the log of the orderer's current run says it orders every one of `channels`."""

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        from fabkube.consensus.participation import describe

        return describe(layout, node, channels, self.leader_metric)


LOCAL_PARTS: Registry[LocalOrdering] = Registry("local", "local deployment")


def register_local(part: LocalOrdering) -> LocalOrdering:
    return LOCAL_PARTS.add(part.type, part)


def local_part(type_name: str) -> LocalOrdering:
    return LOCAL_PARTS.get(type_name)
