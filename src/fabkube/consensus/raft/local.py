"""Raft orderers as local processes: nothing runs beside them; an orderer is ready when its
operations endpoint says healthy (with no channel it serves none yet, and joins come after)."""

from __future__ import annotations

import re

from fabkube.consensus.local import ParticipationLocal, Stage, register_local
from fabkube.consensus.participation import RAFT_LEADER


class RaftLocal(ParticipationLocal):
    type = "raft"
    orderer = Stage("orderer", "orderers (Raft, channel participation)", 120.0, "/healthz on its operations port")
    leader_metric = RAFT_LEADER

    def ordering(self, log_text: str, channels: list[str]) -> bool:
        led = channels_with_leader(log_text)
        return all(ch in led for ch in channels)


# etcdraft logs each change of leader it sees: "Raft leader changed: 0 -> 2 channel=mychannel node=1".
LEADER_CHANGED = re.compile(r"Raft leader changed: \d+ -> (\d+) channel=(\S+)")


def channels_with_leader(log_text: str) -> set[str]:
    last: dict[str, str] = {}
    for leader, channel in LEADER_CHANGED.findall(log_text):
        last[channel] = leader
    return {ch for ch, leader in last.items() if leader != "0"}


RAFT_LOCAL = register_local(RaftLocal())
