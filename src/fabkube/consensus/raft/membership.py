"""Growing a Raft ordering service: orderers the spec names that a running channel's consenter set
lacks are added one at a time, as Fabric's guide to reconfiguring Raft asks (raft_configuration.md,
"Reconfiguration"): a config update that adds the consenter (and its endpoint), then the new orderer
joins from the channel's newest config block through the channel participation API and replicates
the chain from the others, and only when it has caught up comes the next one.

A channel no orderer has yet is not this module's: `up` makes it from its genesis block.
"""

from __future__ import annotations

import copy
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from fabkube.channel.config import ChannelConfigs, FetchedConfig
from fabkube.consensus.participation import channel_info
from fabkube.consensus.raft.model import RaftModel
from fabkube.health import org_client_tls
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode
from fabkube.waiting import wait_until

CATCH_UP = 180.0  # seconds for a new consenter to replicate the chain and take part

Join = Callable[[OrdererNode, str, Path], None]  # (orderer, channel, config block file)


def consenter_key(c: dict) -> tuple[str, int]:
    return c["host"], int(c["port"])


def add_consenter(config: dict, entry: dict, node: OrdererNode) -> dict:
    """The config with one more consenter, and the node's address among the orderer endpoints
    (its org's, and the channel-wide list where the channel still has one)."""
    new = copy.deepcopy(config)
    orderer = new["channel_group"]["groups"]["Orderer"]
    orderer["values"]["ConsensusType"]["value"]["metadata"]["consenters"].append(entry)
    address = str(node.address)
    org = orderer["groups"].get(node.org.msp_id, {}).get("values", {}).get("Endpoints")
    if org is not None and address not in org["value"].setdefault("addresses", []):
        org["value"]["addresses"].append(address)
    legacy = new["channel_group"].get("values", {}).get("OrdererAddresses")
    if legacy is not None and address not in legacy["value"].setdefault("addresses", []):
        legacy["value"]["addresses"].append(address)
    return new


class Membership:
    def __init__(self, layout: Layout, configs: ChannelConfigs, join: Join, info=lambda _m: None):
        self.layout, self.configs, self.join, self.info = layout, configs, join, info
        self._tls: dict[str, ssl.SSLContext] = {}
        model = layout.topo.ordering
        assert isinstance(model, RaftModel)
        self.model = model

    def _channel(self, node: OrdererNode, channel: str) -> dict | None:
        """The node's word on the channel, asked as an admin of its own org (an orderer's admin
        endpoint trusts only its org's TLS CA)."""
        if node.org.name not in self._tls:
            self._tls[node.org.name] = org_client_tls(self.layout, node.org)
        return channel_info(node.admin, self._tls[node.org.name], channel)

    def _consenters(self, fetched: FetchedConfig) -> set[tuple[str, int]]:
        return {consenter_key(c) for c in (fetched.consensus.metadata or {}).get("consenters", [])}

    def grow(self, channel: str) -> list[str]:
        """Add every topology orderer the channel's consenters lack; return their names. Nothing when
        no orderer has the channel yet."""
        orderers = self.layout.topo.orderers
        having = [o for o in orderers if self._channel(o, channel)]
        if not having:
            return []
        added = []
        for node in orderers:
            fetched = self.configs.fetch(channel, str(having[0].address))
            members = self._consenters(fetched)
            if (node.address.host, node.address.port) in members:
                continue
            source = next((o for o in having if (o.address.host, o.address.port) in members), having[0])
            self.info(f"{channel}: add {node.name} as a consenter ({len(members)} -> {len(members) + 1})")
            entry = self.model.consensus_metadata([node], self.layout.node_tls)["consenters"][0]
            self.configs.update(fetched, add_consenter(fetched.config, entry, node), str(source.address))
            self._wait_named(node, source, channel)
            with tempfile.TemporaryDirectory(prefix="fabkube-join-") as d:
                block = self.configs.fetch_block(channel, str(source.address), Path(d) / "config.block")
                self.info(f"{channel}: {node.name} joins from config block {block}")
                self.join(node, channel, Path(d) / "config.block")
            self._wait_caught_up(node, source, channel)
            having.append(node)
            added.append(node.name)
        return added

    def refresh_certs(self, channel: str, node: OrdererNode) -> bool:
        """Put the node's current TLS certificate into its consenter entry on `channel` (a renewal:
        same key, new certificate); False when the entry holds it already or the node is none."""
        having = [o for o in self.layout.topo.orderers if self._channel(o, channel)]
        if not having:
            return False
        source = next((o for o in having if o.name != node.name), having[0])
        fetched = self.configs.fetch(channel, str(source.address))
        entry = self.model.consensus_metadata([node], self.layout.node_tls)["consenters"][0]
        new = copy.deepcopy(fetched.config)
        consenters = new["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]["metadata"]
        found = [c for c in consenters["consenters"] if consenter_key(c) == consenter_key(entry)]
        if not found or all(found[0].get(k) == entry[k] for k in ("client_tls_cert", "server_tls_cert")):
            return False
        found[0].update({k: entry[k] for k in ("client_tls_cert", "server_tls_cert")})
        self.info(f"{channel}: {node.name}'s renewed TLS certificate into its consenter entry")
        self.configs.update(fetched, new, str(source.address))
        wanted = entry["server_tls_cert"]

        def written() -> bool:
            meta = self.configs.fetch(channel, str(source.address)).consensus.metadata or {}
            return any(c.get("server_tls_cert") == wanted for c in meta.get("consenters", []))

        wait_until(written, 60.0, f"{channel}'s config to hold {node.name}'s renewed certificate", interval=1.0,
                   log=self.configs.log)  # fmt: skip
        return True

    def wait_caught_up(self, node: OrdererNode, channel: str) -> None:
        """After `node` restarted: it takes part in `channel` again, as far as another orderer."""
        others = [o for o in self.layout.topo.orderers if o.name != node.name]
        source = next((o for o in others if self._channel(o, channel)), None)
        if source is not None:
            self._wait_caught_up(node, source, channel)

    def _wait_named(self, node: OrdererNode, source: OrdererNode, channel: str) -> None:
        key = (node.address.host, node.address.port)
        what = f"{channel}'s config to name {node.name} a consenter"
        named = lambda: key in self._consenters(self.configs.fetch(channel, str(source.address)))  # noqa: E731
        wait_until(named, 60.0, what, interval=1.0, log=self.configs.log)

    def _wait_caught_up(self, node: OrdererNode, source: OrdererNode, channel: str) -> None:
        def caught_up() -> bool:
            mine, theirs = self._channel(node, channel), self._channel(source, channel)
            if not mine or not theirs:
                return False
            return (
                mine.get("status") == "active"
                and mine.get("consensusRelation") == "consenter"
                and (mine.get("height") or 0) >= (theirs.get("height") or 0)
            )

        wait_until(caught_up, CATCH_UP, f"{node.name} to replicate {channel} and take part as a consenter",
                   interval=1.0, log=self.layout.log(node.name))  # fmt: skip
