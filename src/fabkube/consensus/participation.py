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

from fabkube.health import operations_get, org_client_tls
from fabkube.nodes import Endpoint

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
