"""BFT orderers as local processes: nothing runs beside them; an orderer is ready when its
operations endpoint says healthy and every channel it joined is serviced by SmartBFT in this run."""

from __future__ import annotations

import ssl
from pathlib import Path

from fabkube import health
from fabkube.consensus.local import LocalOrdering, Stage, read_from, register_local
from fabkube.consensus.participation import BFT_LEADER, describe
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode

# orderer/consensus/smartbft/chain.go at 3.1.1, at Info, once per channel started.
SERVICING = "SmartBFT-v3 is now servicing chain"


class BftLocal(LocalOrdering):
    type = "bft"
    orderer = Stage("orderer", "orderers (BFT, channel participation)", 120.0, "/healthz on its operations port")

    def orderer_ready(
        self, node: OrdererNode, log: Path, offset: int, channels: list[str], ops_tls: ssl.SSLContext | None
    ) -> bool:
        if not (health.tcp_open(node.address) and health.operations_ok(node.operations, "/healthz", ops_tls)):
            return False
        if not channels:
            return True
        text = read_from(log, offset)
        # The chain's logger carries the channel: "... servicing chain channel=mychannel".
        serviced = {ch for line in text.splitlines() if SERVICING in line for ch in channels if f"channel={ch}" in line}
        return serviced >= set(channels)

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        return describe(layout, node, channels, BFT_LEADER)


BFT_LOCAL = register_local(BftLocal())
