"""Raft orderers as local processes: nothing runs beside them; an orderer is ready when its
operations endpoint says healthy (with no channel it serves none yet, and joins come after)."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from fabkube import health
from fabkube.consensus.local import LocalOrdering, Stage, read_from, register_local
from fabkube.consensus.participation import describe
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode


class RaftLocal(LocalOrdering):
    type = "raft"
    orderer = Stage("orderer", "orderers (Raft, channel participation)", 120.0, "/healthz on its operations port")

    def orderer_ready(
        self, node: OrdererNode, log: Path, offset: int, channels: list[str], ops_tls: ssl.SSLContext | None
    ) -> bool:
        """Healthy, and every channel it joined knows a leader in this run (so a restarted orderer
        is ready once it can order again, not merely once it listens)."""
        if not (health.tcp_open(node.address) and health.operations_ok(node.operations, "/healthz", ops_tls)):
            return False
        if not channels:
            return True
        led = channels_with_leader(read_from(log, offset))
        return all(ch in led for ch in channels)

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        return describe(layout, node, channels)


# etcdraft logs each change of leader it sees: "Raft leader changed: 0 -> 2 channel=mychannel node=1".
LEADER_CHANGED = re.compile(r"Raft leader changed: \d+ -> (\d+) channel=(\S+)")


def channels_with_leader(log_text: str) -> set[str]:
    last: dict[str, str] = {}
    for leader, channel in LEADER_CHANGED.findall(log_text):
        last[channel] = leader
    return {ch for ch, leader in last.items() if leader != "0"}


RAFT_LOCAL = register_local(RaftLocal())
