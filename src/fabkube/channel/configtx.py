"""configtx.yaml rendered from the topology, and the real configtxgen run over it.

A system channel profile with the ordering type's Orderer keys (Kafka: OrdererType kafka and
the target's broker list) and a consortium of the application orgs; one profile per
application channel.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from fabkube.layout import Layout
from fabkube.runlog import run_logged
from fabkube.toolchain import Toolchain
from fabkube.toolchain.versions import FABRIC_VERSIONS
from fabkube.topology import Org, Topology

SYSTEM_CHANNEL = "system-channel"
SYSTEM_PROFILE = "SystemChannel"
CONSORTIUM = "FabkubeConsortium"
CAPABILITIES = {"Channel": {"V2_0": True}, "Orderer": {"V2_0": True}, "Application": {"V2_5": True}}


def fabric3(topo: Topology) -> bool:
    return FABRIC_VERSIONS[topo.spec.fabric.version].major >= 3


def capabilities(topo: Topology) -> dict[str, dict[str, bool]]:
    """What new channels get. On Fabric 3, channel capability V3_0 (BFT requires it; every node of a
    new 3.x network runs 3.x); Orderer V2_0 and Application V2_5 are still the newest there."""
    if fabric3(topo):
        return {**CAPABILITIES, "Channel": {"V3_0": True}}
    return CAPABILITIES


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def _sig(rule: str) -> dict:
    return {"Type": "Signature", "Rule": rule}


def _meta(rule: str) -> dict:
    return {"Type": "ImplicitMeta", "Rule": rule}


def channel_profile(channel: str) -> str:
    return f"Channel_{channel}"


def _channel_msp(layout: Layout, org: Org) -> Path:
    """The org's MSP as the channel config gets it. Without TLS it leaves out tlscacerts: the peer's
    Gateway dials an org's peers and orderers with TLS whenever the channel config holds TLS root
    certificates for it (internal/pkg/gateway/endpoint.go: UseTLS = len(tlsRootCerts) > 0), and then
    fails for want of a client certificate on a network without TLS."""
    msp = layout.org_dir(org) / "msp"
    if layout.topo.spec.tls:
        return msp
    return layout.artifacts / "channel-msp" / org.domain


def _write_channel_msps(layout: Layout) -> None:
    for org in [*layout.topo.orderer_orgs, *layout.topo.orgs]:
        dest = _channel_msp(layout, org)
        if dest != layout.org_dir(org) / "msp":
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(layout.org_dir(org) / "msp", dest, ignore=shutil.ignore_patterns("tlscacerts"))


def _org_section(layout: Layout, org: Org, topo: Topology) -> dict:
    m = org.msp_id
    section: dict = {"Name": m, "ID": m, "MSPDir": str(_channel_msp(layout, org))}
    if org.kind == "orderer":
        section["Policies"] = {
            "Readers": _sig(f"OR('{m}.member')"),
            "Writers": _sig(f"OR('{m}.member')"),
            "Admins": _sig(f"OR('{m}.admin')"),
        }
        section["OrdererEndpoints"] = [str(o.address) for o in topo.org_orderers(org)]
    else:
        section["Policies"] = {
            "Readers": _sig(f"OR('{m}.admin', '{m}.peer', '{m}.client')"),
            "Writers": _sig(f"OR('{m}.admin', '{m}.client')"),
            "Admins": _sig(f"OR('{m}.admin')"),
            "Endorsement": _sig(f"OR('{m}.peer')"),
        }
        section["AnchorPeers"] = [
            {"Host": p.address.host, "Port": p.address.port} for p in topo.org_peers(org) if p.anchor
        ]
    return section


def render_configtx(layout: Layout) -> dict:
    topo, spec = layout.topo, layout.topo.spec
    o = spec.ordering
    caps = capabilities(topo)
    orderer_orgs = [_org_section(layout, org, topo) for org in topo.orderer_orgs]
    app_orgs = {org.name: _org_section(layout, org, topo) for org in topo.orgs}
    channel_policies = {
        "Readers": _meta("ANY Readers"),
        "Writers": _meta("ANY Writers"),
        "Admins": _meta("MAJORITY Admins"),
    }
    orderer = {
        **topo.ordering.configtx_orderer(topo.orderers, layout.node_tls),
        # The channel-wide orderer addresses are an error at V3_0: each orderer org's own endpoints.
        **({} if fabric3(topo) else {"Addresses": [str(n.address) for n in topo.orderers]}),
        "BatchTimeout": o.batchTimeout,
        "BatchSize": {
            "MaxMessageCount": o.maxMessageCount,
            "AbsoluteMaxBytes": o.absoluteMaxBytes,
            "PreferredMaxBytes": o.preferredMaxBytes,
        },
        "Organizations": orderer_orgs,
        "Policies": {
            "Readers": _meta("ANY Readers"),
            "Writers": _meta("ANY Writers"),
            "Admins": _meta("MAJORITY Admins"),
            "BlockValidation": _meta("ANY Writers"),
        },
        "Capabilities": caps["Orderer"],
    }
    application = {
        "Organizations": [],
        "Policies": {
            "Readers": _meta("ANY Readers"),
            "Writers": _meta("ANY Writers"),
            "Admins": _meta("MAJORITY Admins"),
            "LifecycleEndorsement": _meta("MAJORITY Endorsement"),
            "Endorsement": _meta("MAJORITY Endorsement"),
        },
        "Capabilities": caps["Application"],
    }
    profiles: dict = {}
    if topo.ordering.system_channel:
        profiles[SYSTEM_PROFILE] = {
            "Policies": channel_policies,
            "Capabilities": caps["Channel"],
            "Orderer": orderer,
            "Consortiums": {CONSORTIUM: {"Organizations": list(app_orgs.values())}},
        }
    for ch in topo.channels:
        members = {"Application": {**application, "Organizations": [app_orgs[org.name] for org in ch.orgs]}}
        # With a system channel a channel inherits its orderer from it through the consortium;
        # without, each channel's genesis block carries the ordering service itself.
        base = {"Consortium": CONSORTIUM} if topo.ordering.system_channel else {"Orderer": orderer}
        profiles[channel_profile(ch.name)] = {
            **base,
            "Policies": channel_policies,
            "Capabilities": caps["Channel"],
            **members,
        }
    return {
        "Organizations": [*orderer_orgs, *app_orgs.values()],
        "Capabilities": caps,
        "Application": application,
        "Orderer": orderer,
        "Channel": {"Policies": channel_policies, "Capabilities": caps["Channel"]},
        "Profiles": profiles,
    }


def write_configtx(layout: Layout) -> Path:
    layout.configtx.parent.mkdir(parents=True, exist_ok=True)
    _write_channel_msps(layout)
    text = "# Written by fabkube from the topology; rewritten on every generate.\n"
    text += yaml.dump(render_configtx(layout), Dumper=_NoAliases, sort_keys=False)
    layout.configtx.write_text(text)
    return layout.configtx


def _configtxgen(tools: Toolchain, layout: Layout, args: list[str], what: str) -> None:
    cmd = [str(tools.bin("configtxgen")), "-configPath", str(layout.configtx.parent), *args]
    run_logged(cmd, layout.logs / "configtxgen.log", f"make {what}")


def generate_channel_artifacts(tools: Toolchain, layout: Layout, keep: frozenset[Path] = frozenset()) -> list[Path]:
    """Made by the real configtxgen. With a system channel: its genesis block, each channel's
    creation tx and each org's anchor peer update. Without: each channel's genesis block, which
    the orderers join and already names the anchor peers. A file in `keep` that exists is left as it
    is: a channel that exists started from it (peers join from that very block 0)."""
    layout.artifacts.mkdir(parents=True, exist_ok=True)

    def make(profile: str, channel: str, output: Path, flag: str, what: str, *more: str) -> Path:
        if not (output in keep and output.is_file()):
            _configtxgen(tools, layout, ["-profile", profile, "-channelID", channel, flag, str(output), *more], what)
        return output

    if not layout.topo.ordering.system_channel:
        return [
            make(channel_profile(ch.name), ch.name, layout.channel_block(ch), "-outputBlock", f"the {ch.name} block")
            for ch in layout.topo.channels
        ]
    genesis = layout.genesis_block
    out = [make(SYSTEM_PROFILE, SYSTEM_CHANNEL, genesis, "-outputBlock", "the system-channel genesis block")]
    for ch in layout.topo.channels:
        profile = channel_profile(ch.name)
        out.append(make(profile, ch.name, layout.channel_tx(ch), "-outputCreateChannelTx", f"{ch.name}.tx"))
        for org in ch.orgs:
            anchors = layout.anchors_tx(ch, org)
            what = f"the {org.name} anchor peer update"
            out.append(make(profile, ch.name, anchors, "-outputAnchorPeersUpdate", what, "-asOrg", org.msp_id))
    return out
