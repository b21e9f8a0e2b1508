"""Growing a Raft ordering service: orderers the spec names that a running channel's consenter set
lacks are added one at a time, as Fabric's guide to reconfiguring Raft asks (raft_configuration.md,
"Reconfiguration"): a config update that adds the consenter (and its endpoint), then the new orderer
joins from the channel's newest config block through the channel participation API and replicates
the chain from the others, and only when it has caught up comes the next one.

A channel no orderer has yet is not this module's: `up` makes it from its genesis block.
"""

from __future__ import annotations

import copy
import itertools
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fabkube.channel.config import ChannelConfigs, FetchedConfig
from fabkube.consensus.participation import channel_info, leaders, wait_whole
from fabkube.consensus.raft.model import RaftModel
from fabkube.errors import RuntimeFailure
from fabkube.health import org_client_tls
from fabkube.layout import Layout
from fabkube.nodes import Endpoint, OrdererNode
from fabkube.waiting import wait_until

CATCH_UP = 180.0  # seconds for a new consenter to replicate the chain and take part
REFRESH_WAIT = 120.0  # seconds for a consenter's renewed certificate to be ordered, sent again meanwhile

Join = Callable[[OrdererNode, str, Path], None]  # (orderer, channel, config block file)
# Where this machine reaches an orderer: (its host:port to dial, its admin endpoint); a
# port-forward's on Kubernetes, the node's own addresses locally.
Reach = Callable[[OrdererNode], tuple[str, Endpoint]]


def direct(node: OrdererNode) -> tuple[str, Endpoint]:
    return str(node.address), node.admin


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
    def __init__(
        self,
        layout: Layout,
        configs: ChannelConfigs,
        join: Join,
        info=lambda _m: None,
        reach: Reach = direct,
        operations: Callable[[OrdererNode], Endpoint] = lambda node: node.operations,
    ):
        """`reach`: a node's gRPC address and admin endpoint as this machine dials them; `operations`:
        its operations endpoint (Kubernetes: port-forwarded)."""
        self.layout, self.configs, self.join, self.info, self.reach = layout, configs, join, info, reach
        self.operations = operations
        self._tls: dict[str, ssl.SSLContext] = {}
        model = layout.topo.ordering
        assert isinstance(model, RaftModel)
        self.model = model

    def _channel(self, node: OrdererNode, channel: str) -> dict | None:
        """The node's word on the channel, asked as an admin of its own org (an orderer's admin
        endpoint trusts only its org's TLS CA)."""
        return channel_info(self.reach(node)[1], self._org_tls(node), channel)

    def _org_tls(self, node: OrdererNode) -> ssl.SSLContext:
        if node.org.name not in self._tls:
            self._tls[node.org.name] = org_client_tls(self.layout, node.org)
        return self._tls[node.org.name]

    def _leader(self, channel: str, nodes: list[OrdererNode]) -> str | None:
        for o in nodes:
            if leaders(self.operations(o), self._org_tls(o)).get(channel):
                return o.name
        return None

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
            fetched = self.configs.fetch(channel, self.reach(having[0])[0])
            members = self._consenters(fetched)
            if (node.address.host, node.address.port) in members:
                continue
            source = next((o for o in having if (o.address.host, o.address.port) in members), having[0])
            self.info(f"{channel}: add {node.name} as a consenter ({len(members)} -> {len(members) + 1})")
            entry = self.model.consensus_metadata([node], self.layout.node_tls)["consenters"][0]
            self.configs.update(fetched, add_consenter(fetched.config, entry, node), self.reach(source)[0])
            self._wait_named(node, source, channel)
            with tempfile.TemporaryDirectory(prefix="fabkube-join-") as d:
                block = self.configs.fetch_block(channel, self.reach(source)[0], Path(d) / "config.block")
                self.info(f"{channel}: {node.name} joins from config block {block}")
                self.join(node, channel, Path(d) / "config.block")
            self._wait_caught_up(node, source, channel)
            having.append(node)
            added.append(node.name)
        return added

    def refresh_certs(self, channel: str, node: OrdererNode) -> bool:
        """Put the node's current TLS certificate into its consenter entry on `channel` (a renewal:
        same key, new certificate); False when the entry holds it already or the node is none."""
        heights = {
            o.name: info.get("height") or 0 for o in self.layout.topo.orderers if (info := self._channel(o, channel))
        }
        having = [o for o in self.layout.topo.orderers if o.name in heights]
        if not having:
            return False
        # The channel's leader first (a follower forwards an update to it over a cluster connection
        # that may not be up again after a restart, and then drops it: seen in real pods), unless
        # the rotated node leads (a leader abdicates on its own rotation and forwards the update:
        # etcdraft/chain.go, checkForEvictionNCertRotation); then the furthest of the others (one
        # restarted a moment ago may still be catching up); the node last.
        lead = self._leader(channel, having)
        others = sorted(having, key=lambda o: (o.name != lead or o.name == node.name, o.name == node.name,
                                               -heights[o.name]))  # fmt: skip
        entry = self.model.consensus_metadata([node], self.layout.node_tls)["consenters"][0]
        certs = ("client_tls_cert", "server_tls_cert")

        def holds(config: dict) -> bool | None:
            """Whether the node's entry holds the current certificates; None if it has no entry."""
            meta = config["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]["metadata"]
            found = [c for c in meta.get("consenters", []) if consenter_key(c) == consenter_key(entry)]
            return all(found[0].get(k) == entry[k] for k in certs) if found else None

        def written() -> bool:
            # Ordered means a quorum has it: any orderer's config holding it says so.
            for o in others:
                try:
                    if holds(self.configs.fetch(channel, self.reach(o)[0]).config):
                        return True
                except RuntimeFailure:
                    continue
            return False

        deadline = time.monotonic() + REFRESH_WAIT
        for attempt in itertools.count():
            source = others[attempt % len(others)]
            try:
                fetched = self.configs.fetch(channel, self.reach(source)[0])
                state = holds(fetched.config)
                if state is None or (state and attempt == 0):
                    return False
                if state:
                    return True
                new = copy.deepcopy(fetched.config)
                meta = new["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]["metadata"]
                found = next(c for c in meta["consenters"] if consenter_key(c) == consenter_key(entry))
                found.update({k: entry[k] for k in certs})
                self.info(
                    f"{channel}: {node.name}'s renewed TLS certificate into its consenter entry (via {source.name})"
                )
                self.configs.update(fetched, new, self.reach(source)[0])
                # A follower answers SUCCESS before it forwards to the leader, and a forward over a
                # cluster connection not yet up again (an orderer just restarted) is dropped: look.
                wait_until(written, 20.0, f"{channel}'s config to hold {node.name}'s renewed certificate",
                           interval=1.0, log=self.configs.log)  # fmt: skip
                return True
            except RuntimeFailure:
                if time.monotonic() > deadline:
                    raise
        raise AssertionError("unreachable")

    def wait_caught_up(self, node: OrdererNode, channel: str) -> None:
        """After `node` restarted: it takes part in `channel` again, as far as another orderer."""
        others = [o for o in self.layout.topo.orderers if o.name != node.name]
        source = next((o for o in others if self._channel(o, channel)), None)
        if source is not None:
            self._wait_caught_up(node, source, channel)

    def _wait_named(self, node: OrdererNode, source: OrdererNode, channel: str) -> None:
        key = (node.address.host, node.address.port)
        what = f"{channel}'s config to name {node.name} a consenter"
        named = lambda: key in self._consenters(self.configs.fetch(channel, self.reach(source)[0]))  # noqa: E731
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
        wait_whole(node.name, self.operations(node), self._org_tls(node), [channel], self.layout.log(node.name))
