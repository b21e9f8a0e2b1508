"""New organizations into running channels, as Fabric's "Adding an Org to a Channel" does it by hand:
the org's definition (`configtxgen -printOrg`) with its anchor peers goes into the channel's
Application group in one config update, signed by as many of the channel's current admins as its
Application Admins policy asks (read from the fetched config, never assumed), and submitted by one
of them. fabkube holds every org's keys in the work dir, so it collects the signatures itself.

With a system channel (Kafka) the org also joins the consortium, so that channels created later
may name it: an update of the system channel signed by the orderer orgs' admins.

Both updates are computed from the config as fetched, so running them again after an interruption
finds the org there and does nothing.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from fabkube.channel.config import AdminIdentity, ChannelConfigs, FetchedConfig, orderer_admin_configs
from fabkube.channel.configtx import SYSTEM_CHANNEL
from fabkube.errors import RuntimeFailure
from fabkube.layout import Layout
from fabkube.nodes import ChannelInfo, Org
from fabkube.toolchain import Toolchain
from fabkube.waiting import wait_until


def member_msp_ids(fetched: FetchedConfig) -> list[str]:
    """MSP IDs of the channel's application orgs, as its config names them."""
    groups = fetched.config["channel_group"]["groups"].get("Application", {}).get("groups", {})
    return [g["values"]["MSP"]["value"]["config"]["name"] for g in groups.values()]


def signatures_needed(group: dict, members: int) -> int:
    """How many member orgs' admins the group's mod_policy asks for (an ImplicitMeta rule over
    the members' Admins: ANY, MAJORITY or ALL)."""
    name = group.get("mod_policy", "Admins")
    policy = group.get("policies", {}).get(name, {}).get("policy", {})
    rule = policy.get("value", {}).get("rule") if policy.get("type") == 3 else None
    counts = {"ANY": 1, "MAJORITY": members // 2 + 1, "ALL": members}
    if rule not in counts:
        raise RuntimeFailure(
            f"the channel's Application mod_policy {name!r} is not an ImplicitMeta ANY/MAJORITY/ALL rule: "
            "fabkube cannot tell whose signatures it needs"
        )
    return counts[rule]


class Members:
    """Adds the topology's orgs that a running channel lacks."""

    def __init__(self, layout: Layout, tools: Toolchain, log: Path, info: Callable[[str], None]):
        self.layout, self.tools, self.log, self.info = layout, tools, log, info

    def _identity(self, org: Org) -> AdminIdentity:
        # The CA the orderer's TLS certificate chains to: the update goes to the orderer.
        tls = self.layout.tls_ca(self.layout.topo.orderer_org) if self.layout.topo.spec.tls else None
        return AdminIdentity(org.msp_id, self.layout.admin_msp(org), tls)

    def org_group(self, org: Org, anchors: bool) -> dict:
        """The org's config group as configtxgen prints it, with its anchor peers."""
        argv = [str(self.tools.bin("configtxgen")), "-configPath", str(self.layout.configtx.parent),
                "-printOrg", org.msp_id]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeFailure(f"configtxgen -printOrg {org.msp_id} failed: {proc.stderr.strip()[-300:]}", self.log)
        group = json.loads(proc.stdout)
        peers = [p for p in self.layout.topo.org_peers(org) if p.anchor]
        if anchors and peers:
            group.setdefault("values", {})["AnchorPeers"] = {
                "mod_policy": "Admins",
                "value": {"anchor_peers": [{"host": p.address.host, "port": p.address.port} for p in peers]},
                "version": "0",
            }
        return group

    def add_to_channel(self, ch: ChannelInfo, orderer: str) -> list[str]:
        """Add the orgs `ch` names that its running config lacks; return their names."""
        topo = self.layout.topo
        # Read as the orderer orgs' admins: always readers of a channel, whichever orgs it has yet.
        reader = orderer_admin_configs(self.layout, self.tools, self.log)
        fetched = reader.fetch(ch.name, orderer)
        present = member_msp_ids(fetched)
        missing = [o for o in ch.orgs if o.msp_id not in present]
        if not missing:
            return []
        ours = [o for o in topo.orgs if o.msp_id in present]
        app = fetched.config["channel_group"]["groups"]["Application"]
        need = signatures_needed(app, len(present))
        if len(ours) < need:
            raise RuntimeFailure(
                f"adding {', '.join(o.name for o in missing)} to {ch.name} needs {need} admins' signatures "
                f"and fabkube holds the keys of {len(ours)}"
            )
        signers = ours[:need]
        new = copy.deepcopy(fetched.config)
        groups = new["channel_group"]["groups"]["Application"].setdefault("groups", {})
        for org in missing:
            groups[org.msp_id] = self.org_group(org, anchors=True)
        names = ", ".join(o.name for o in missing)
        self.info(f"{ch.name}: add {names}, signed by {', '.join(o.name for o in signers)}")
        configs = ChannelConfigs(self.tools, self._identity(signers[0]), self.log,
                                 tuple(self._identity(o) for o in signers[1:]))  # fmt: skip
        configs.update(fetched, new, orderer)
        wait_until(
            lambda: all(o.msp_id in member_msp_ids(reader.fetch(ch.name, orderer)) for o in missing),
            60.0, f"{names} in the config of {ch.name}", log=self.log,
        )  # fmt: skip
        return [o.name for o in missing]

    def add_to_consortium(self, orderer: str) -> list[str]:
        """With a system channel: put every org the consortium lacks into it (channels created
        later may name them); return their names."""
        configs = orderer_admin_configs(self.layout, self.tools, self.log)
        fetched = configs.fetch(SYSTEM_CHANNEL, orderer)
        consortiums = fetched.config["channel_group"]["groups"]["Consortiums"]["groups"]
        if len(consortiums) != 1:
            raise RuntimeFailure(f"the system channel has {len(consortiums)} consortiums; fabkube made one")
        key = next(iter(consortiums))
        present = {g["values"]["MSP"]["value"]["config"]["name"] for g in consortiums[key]["groups"].values()}
        missing = [o for o in self.layout.topo.orgs if o.msp_id not in present]
        if not missing:
            return []
        new = copy.deepcopy(fetched.config)
        for org in missing:
            new["channel_group"]["groups"]["Consortiums"]["groups"][key]["groups"][org.msp_id] = self.org_group(
                org, anchors=False
            )
        self.info(f"consortium {key}: add {', '.join(o.name for o in missing)}, signed by the orderer orgs' admins")
        configs.update(fetched, new, orderer)
        return [o.name for o in missing]
