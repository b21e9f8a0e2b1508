"""What an orderer of a type without a system channel (Raft, BFT) says of a channel: the channel
participation API (height, status, consensus relation, over mutual TLS as the orderer org's admin)
and its Prometheus metrics (`consensus_<type>_is_leader`), on the operations endpoint."""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fabkube.health import operations_get, org_client_tls
from fabkube.nodes import Endpoint
from fabkube.waiting import wait_until

TIMEOUT = 3.0


@dataclass
class ChannelOnOrderer:
    height: int | None = None
    status: str = "-"  # active, onboarding, inactive, failed; "-" when the orderer does not answer
    leader: bool | None = None

    def as_dict(self) -> dict:
        return {"height": self.height, "status": self.status, "leader": self.leader}


def channel_info(admin: Endpoint, tls: ssl.SSLContext, channel: str) -> dict | None:
    """GET /participation/v1/channels/<channel>: name, url, consensusRelation, status, height."""
    url = f"https://{admin.host}:{admin.port}/participation/v1/channels/{channel}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT, context=tls) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


RAFT_LEADER = "consensus_etcdraft_is_leader"
BFT_LEADER = "consensus_BFT_is_leader"  # orderer/consensus/smartbft/metrics.go at 3.1.1


def leaders(operations: Endpoint, tls: ssl.SSLContext | None, metric: str = RAFT_LEADER) -> dict[str, bool]:
    """channel -> whether this orderer leads it, from its metrics."""
    text = operations_get(operations, "/metrics", tls, TIMEOUT) or ""
    pattern = re.compile(rf'^{metric}\{{channel="([^"]+)"\}} (\S+)$', re.M)
    return {ch: float(v) == 1.0 for ch, v in pattern.findall(text)}


def raft_members_active(operations: Endpoint, tls: ssl.SSLContext | None) -> dict[str, tuple[int, int]]:
    """channel -> (consenters the leader hears from, consenters), as this orderer's metrics say. A
    follower learns the first from the leader's heartbeats (etcdraft tracker.go: the leader counts
    the members raft calls RecentActive), so a restarted orderer showing both equal hears from the
    leader, and the leader from everyone: its stopping the next one leaves a quorum."""
    text = operations_get(operations, "/metrics", tls, TIMEOUT) or ""

    def gauge(name: str) -> dict[str, int]:
        pattern = re.compile(rf'^consensus_etcdraft_{name}\{{channel="([^"]+)"\}} (\S+)$', re.M)
        return {ch: int(float(v)) for ch, v in pattern.findall(text)}

    active, size = gauge("active_nodes"), gauge("cluster_size")
    return {ch: (active.get(ch, 0), n) for ch, n in size.items()}


def orderer_channels(
    admin: Endpoint, operations: Endpoint, tls: ssl.SSLContext, channels: list[str], metric: str = RAFT_LEADER
) -> dict:
    """channel -> ChannelOnOrderer for one orderer."""
    lead = leaders(operations, tls, metric)
    out = {}
    for ch in channels:
        info = channel_info(admin, tls, ch)
        if info is None:
            out[ch] = ChannelOnOrderer(leader=lead.get(ch))
        else:
            out[ch] = ChannelOnOrderer(info.get("height"), info.get("status", "?"), lead.get(ch))
    return out


def describe(layout, node, channels: list[str], metric: str = RAFT_LEADER) -> dict[str, dict]:
    """channel -> {"height", "status", "leader"} as one orderer (at node.admin/node.operations) says."""
    tls = org_client_tls(layout, node.org)
    return {ch: c.as_dict() for ch, c in orderer_channels(node.admin, node.operations, tls, channels, metric).items()}


def wait_whole(name: str, operations: Endpoint, tls: ssl.SSLContext | None, channels: list[str], log: Path,
               timeout: float = 120.0) -> None:  # fmt: skip
    """Until a restarted Raft orderer hears from each channel's leader and the leader from every
    consenter (raft_members_active): only then may the next one stop. Its ledger height alone says
    nothing of this: on Kubernetes the leader kept a dead stream to the old pod for tens of seconds,
    and stopping the next orderer then left no quorum."""

    def short() -> list[str]:
        now = raft_members_active(operations, tls)
        return [f"{ch} ({now[ch][0] if ch in now else '?'} of {now[ch][1] if ch in now else '?'})"
                for ch in channels if ch not in now or now[ch][0] < now[ch][1]]  # fmt: skip

    wait_until(lambda: not short(), timeout, f"{name} to hear from every consenter", interval=1.0, log=log,
               pending=lambda: "consenters active: " + ", ".join(short()) + ". An orderer is down or the "
               "leader cannot reach it: see `fabkube status` and the orderers' logs, then run the command "
               "again")  # fmt: skip
