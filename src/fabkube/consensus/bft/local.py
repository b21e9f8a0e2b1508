"""BFT orderers as local processes: nothing runs beside them; an orderer is ready when its
operations endpoint says healthy and every channel it joined is serviced by SmartBFT in this run."""

from __future__ import annotations

from fabkube.consensus.local import ParticipationLocal, Stage, register_local
from fabkube.consensus.participation import BFT_LEADER

# orderer/consensus/smartbft/chain.go at 3.1.1, at Info, once per channel started.
SERVICING = "SmartBFT-v3 is now servicing chain"


class BftLocal(ParticipationLocal):
    type = "bft"
    orderer = Stage("orderer", "orderers (BFT, channel participation)", 120.0, "/healthz on its operations port")
    leader_metric = BFT_LEADER

    def ordering(self, log_text: str, channels: list[str]) -> bool:
        # The chain's logger carries the channel: "... servicing chain channel=mychannel".
        lines = [line for line in log_text.splitlines() if SERVICING in line]
        return all(any(f"channel={ch}" in line for line in lines) for ch in channels)


BFT_LOCAL = register_local(BftLocal())
