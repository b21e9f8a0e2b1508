"""Channel and chaincode lifecycle as data: an ordered list of `peer` CLI steps with their env.

The local executor runs these as subprocesses; on Kubernetes the same list becomes the
script of the admin Job. Paths come from a Layout, so the list is right for either target.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from fabkube.chaincode.package import ClientTLS, connection_json, write_package
from fabkube.layout import Layout
from fabkube.ops import commands as cmds
from fabkube.topology import ChaincodeInfo, ChannelInfo, OrdererNode, Org, PeerNode, Topology

# The orderer answers SERVICE_UNAVAILABLE until its Kafka partition for a new channel is
# ready; peers may not yet know a just-created channel. Both pass with a retry.
TRANSIENT = (
    "SERVICE_UNAVAILABLE",
    "NOT_FOUND",
    "connection refused",
    "context deadline exceeded",
    "failed to create new connection",
    "cannot get consenter",
    "is not yet available",
    "chaincode definition for",
    "could not connect",
)


@dataclass
class PeerCommand:
    args: list[str]  # after the tool's name
    org: str  # whose admin signs (peer: its MSP in the env; osnadmin: its TLS pair in the args)
    peer: str | None = None  # peer component the command talks to (CORE_PEER_ADDRESS)
    retry: bool = True
    expect: str | None = None  # text the output must contain
    already: str | None = None  # text in a failure that means "this was done before"
    tool: str = "peer"  # or "osnadmin" (channel participation on an orderer's admin endpoint)
    # Tries in the Kubernetes Jobs (2 s apart). Each org's Job signs only as that org and runs beside
    # the others', so a step that waits on another org's (a fetch of a channel another org creates,
    # an approval before the orderers joined, a commit before every approval) waits longer.
    patience: int = 40


WAITS_ON_OTHERS = 300  # 10 minutes of tries: another org's Job may still be starting


@dataclass
class Step:
    id: str  # stable, for the done-record that makes `up` resumable
    title: str
    commands: list[PeerCommand] = field(default_factory=list)
    done_if: PeerCommand | None = None  # succeeds (with its expect) when the step needs no running


def admin_env(layout: Layout, org: Org, peer: PeerNode | None) -> dict[str, str]:
    env = {
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(layout.admin_msp(org)),
        "CORE_PEER_TLS_ENABLED": "true" if layout.topo.spec.tls else "false",
    }
    if peer is not None:
        env["CORE_PEER_ADDRESS"] = str(peer.address)
        env["CORE_PEER_TLS_ROOTCERT_FILE"] = str(layout.tls_ca(peer.org))
    return env


def orderer(layout: Layout, index: int = 0) -> cmds.OrdererFlags:
    topo = layout.topo
    node = topo.orderers[index % len(topo.orderers)]
    return cmds.OrdererFlags(str(node.address), str(layout.tls_ca(node.org)) if topo.spec.tls else None)


def endorsers(layout: Layout, orgs: list[Org]) -> tuple[cmds.PeerTarget, ...]:
    """One peer per org: enough to satisfy a MAJORITY or AND endorsement policy."""
    tls = layout.topo.spec.tls
    return tuple(
        cmds.PeerTarget(str(peer.address), str(layout.tls_ca(org)) if tls else None)
        for org in orgs
        for peer in layout.topo.org_peers(org)[:1]
    )


def invoke_args(
    layout: Layout, cc: ChaincodeInfo, args: list[str], orderer_index: int = 0, init: bool = False, wait: bool = True
) -> list[str]:
    """`peer chaincode invoke` endorsed by one peer of every org of the chaincode's channel."""
    return cmds.ChaincodeInvoke(
        cc.channel, cc.name, tuple(args), orderer(layout, orderer_index), endorsers(layout, cc.orgs), init, wait
    ).args()


def query_args(cc: ChaincodeInfo, args: list[str]) -> list[str]:
    return cmds.ChaincodeQuery(cc.channel, cc.name, tuple(args)).args()


def admin_target(layout: Layout, node: OrdererNode) -> cmds.AdminTarget:
    """As the admin of the orderer's own org (its admin endpoint trusts that org's TLS CA)."""
    org = node.org
    tls = layout.admin_tls(org)
    return cmds.AdminTarget(str(node.admin), str(layout.tls_ca(org)), str(tls / "client.crt"), str(tls / "client.key"))


def orderer_join_steps(layout: Layout, ch: ChannelInfo) -> list[Step]:
    """Every orderer joins the channel from its genesis block (channel participation API); a
    listing of the channel on that orderer tells it was done."""
    block = str(layout.channel_block(ch))
    steps = []
    for node in layout.topo.orderers:
        target, org = admin_target(layout, node), node.org.name
        # A join whose 201 was lost is answered 405 (already a member) when tried again.
        join_args = cmds.OsnChannelJoin(ch.name, block, target).args()
        join = PeerCommand(join_args, org, expect="Status: 201", already="Status: 405", tool="osnadmin")
        listed = PeerCommand(cmds.OsnChannelList(ch.name, target).args(), org, expect="Status: 200", tool="osnadmin")
        steps.append(
            Step(f"orderer-join:{ch.name}:{node.name}", f"{node.name} joins {ch.name}", [join], done_if=listed)
        )
    return steps


def channel_steps(layout: Layout, ch: ChannelInfo) -> list[Step]:
    if not layout.topo.ordering.system_channel:
        # The genesis block already names the anchor peers: joins only.
        return orderer_join_steps(layout, ch) + peer_join_steps(layout, ch)
    return create_channel_steps(layout, ch)


def create_channel_steps(layout: Layout, ch: ChannelInfo) -> list[Step]:
    """With a system channel: `peer channel create`, joins, then each org's anchor peer update."""
    first = ch.orgs[0]
    block = str(layout.channel_block(ch))
    # A create whose reply timed out may still have created the channel: its retry is then refused
    # as a stale config update, which means done.
    create = PeerCommand(
        cmds.ChannelCreate(ch.name, str(layout.channel_tx(ch)), block, orderer(layout)).args(),
        first.name,
        already="but it is currently at version",
    )
    # Fetching block 0 both tells that the channel exists and lays down the block the joins need.
    exists = PeerCommand(cmds.ChannelFetch("0", block, ch.name, orderer(layout)).args(), first.name)
    steps = [Step(f"channel-create:{ch.name}", f"create channel {ch.name}", [create, exists], done_if=exists)]
    # Every other org fetches the block itself, as its own admin (on Kubernetes its Job has only its keys).
    for org in ch.orgs[1:]:
        fetch = cmds.ChannelFetch("0", block, ch.name, orderer(layout)).args()
        steps.append(
            Step(
                f"channel-block:{ch.name}:{org.name}",
                f"{org.name} fetches the first block of {ch.name}",
                [PeerCommand(fetch, org.name, patience=WAITS_ON_OTHERS)],
            )
        )
    steps += peer_join_steps(layout, ch)
    for org in ch.orgs:
        update = PeerCommand(
            cmds.ChannelUpdate(ch.name, str(layout.anchors_tx(ch, org)), orderer(layout)).args(),
            org.name,
            layout.topo.org_peers(org)[0].name,
            already="but it is currently at version",
        )
        steps.append(Step(f"anchors:{ch.name}:{org.name}", f"anchor peers of {org.name} on {ch.name}", [update]))
    return steps


def peer_join_steps(layout: Layout, ch: ChannelInfo) -> list[Step]:
    block = str(layout.channel_block(ch))
    steps = []
    for peer in ch.peers:
        join = PeerCommand(cmds.ChannelJoin(block).args(), peer.org.name, peer.name)
        joined = PeerCommand(cmds.ChannelInfo(ch.name).args(), peer.org.name, peer.name)
        steps.append(
            Step(f"channel-join:{ch.name}:{peer.name}", f"{peer.name} joins {ch.name}", [join], done_if=joined)
        )
    return steps


def definition(layout: Layout, cc: ChaincodeInfo) -> cmds.Definition:
    collections = str(layout.collections_config(cc)) if cc.collections else None
    return cmds.Definition(cc.channel, cc.name, cc.version, cc.sequence, bool(cc.init), cc.policy or None, collections)


def client_tls(layout: Layout, cc: ChaincodeInfo, org: Org) -> ClientTLS | None:
    """The TLS pair `org`'s peers present to the chaincode's server, as the work dir holds it now."""
    # Pairs of the org whose server these peers dial: locally every org shares one server, so
    # every org's package is byte-identical and the server's single package ID fits them all.
    topo = layout.topo
    if not topo.spec.tls:
        return None
    server_org = topo.chaincode_server_org(cc, org)
    client = layout.chaincode_tls(cc, server_org)
    return ClientTLS(
        layout.tls_ca(server_org).read_text(),
        (client / "client.crt").read_text(),
        (client / "client.key").read_text(),
    )


def current_connection(layout: Layout, cc: ChaincodeInfo, org: Org) -> dict:
    """connection.json as `org`'s peers should use it now: its package's, with the client
    certificate the work dir holds (a renewal keeps the package and its ID)."""
    return connection_json(str(cc.servers[org.name]), client_tls(layout, cc, org))


def build_dir_name(package_id: str) -> str:
    """The directory a peer keeps a package's build in (Fabric's SanitizeCCIDPath)."""
    return re.sub(r'[<>:"/\\|?*&]', "-", package_id)


def package_chaincode(layout: Layout, cc: ChaincodeInfo) -> dict[str, str]:
    """Write one CCaaS package per org (each org's peers may reach a different server), and the
    private data collections of its definition; org -> package ID."""
    topo = layout.topo
    if cc.collections:
        layout.collections_config(cc).parent.mkdir(parents=True, exist_ok=True)
        layout.collections_config(cc).write_text(json.dumps(cc.collections, indent=2))

    ids: dict[str, str] = {}
    first_of: dict[tuple[str, str], Org] = {}  # (server address, server org) -> first org dialling it
    for org in cc.orgs:
        path = layout.chaincode_package(cc, org)
        key = (str(cc.servers[org.name]), topo.chaincode_server_org(cc, org).name)
        if key in first_of:
            # The same server: the same package, byte for byte (a server serves one package ID;
            # a package kept across a certificate renewal is copied, not written anew).
            like = layout.chaincode_package(cc, first_of[key])
            if not path.is_file() or path.read_bytes() != like.read_bytes():
                # Created with the first one's mode (0600 when it holds a client key), never wider.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, like.stat().st_mode & 0o777)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(like.read_bytes())
            ids[org.name] = ids[first_of[key].name]
            continue
        first_of[key] = org
        ids[org.name] = write_package(path, cc.label, str(cc.servers[org.name]), client_tls(layout, cc, org))
    return ids


def chaincode_steps(layout: Layout, cc: ChaincodeInfo, package_ids: dict[str, str]) -> list[Step]:
    topo: Topology = layout.topo
    ch = topo.channel(cc.channel)
    steps: list[Step] = []
    for peer in ch.peers:
        org = peer.org.name
        install = PeerCommand(cmds.ChaincodeInstall(str(layout.chaincode_package(cc, peer.org))).args(), org, peer.name)
        installed = PeerCommand(cmds.ChaincodeQueryInstalled().args(), org, peer.name, expect=package_ids[org])
        steps.append(
            Step(
                f"cc-install:{cc.name}:{cc.sequence}:{peer.name}",
                f"install {cc.label} on {peer.name}",
                [install],
                done_if=installed,
            )
        )
    for org in cc.orgs:
        peer = topo.org_peers(org)[0].name
        approve = cmds.ChaincodeApprove(definition(layout, cc), package_ids[org.name], orderer(layout))
        approved = cmds.ChaincodeQueryApproved(cc.channel, cc.name, cc.sequence)
        steps.append(
            Step(
                f"cc-approve:{cc.name}:{cc.sequence}:{org.name}",
                f"{org.name} approves {cc.label}",
                [PeerCommand(approve.args(), org.name, peer, patience=WAITS_ON_OTHERS)],
                done_if=PeerCommand(approved.args(), org.name, peer, expect=package_ids[org.name]),
            )
        )
    first = cc.orgs[0]
    peer0 = topo.org_peers(first)[0].name
    commit = cmds.ChaincodeCommit(definition(layout, cc), orderer(layout), endorsers(layout, cc.orgs))
    committed = PeerCommand(
        cmds.ChaincodeQueryCommitted(cc.channel, cc.name).args(), first.name, peer0, expect=f"Sequence: {cc.sequence},"
    )
    steps.append(
        Step(
            f"cc-commit:{cc.name}:{cc.sequence}",
            f"commit {cc.label} on {cc.channel}",
            [PeerCommand(commit.args(), first.name, peer0, patience=WAITS_ON_OTHERS)],
            done_if=committed,
        )
    )
    if cc.init:
        init = PeerCommand(
            invoke_args(layout, cc, ["Init", *cc.init], init=True), first.name, peer0, already="is already initialized"
        )
        steps.append(Step(f"cc-init:{cc.name}:{cc.sequence}", f"init {cc.name} {' '.join(cc.init)}", [init]))
    return steps


def smoke_step(layout: Layout, cc: ChaincodeInfo) -> Step | None:
    """The seed's last line: query the first initialised key and expect its initial value."""
    if not cc.init or len(cc.init) < 2:
        return None
    key, value = cc.init[0], cc.init[1]
    first = cc.orgs[0]
    return Step(
        f"smoke:{cc.name}",
        f"query {cc.name} {key}",
        [
            PeerCommand(
                query_args(cc, ["query", key]),
                first.name,
                layout.topo.org_peers(first)[0].name,
                expect=value,
            )
        ],
    )


def plan(layout: Layout, package_ids: dict[str, dict[str, str]]) -> list[Step]:
    """Every lifecycle step of the network, in order."""
    steps: list[Step] = []
    for ch in layout.topo.channels:
        steps += channel_steps(layout, ch)
    for cc in layout.topo.chaincodes:
        steps += chaincode_steps(layout, cc, package_ids[cc.name])
    return steps


def org_plans(steps: list[Step]) -> dict[str, list[Step]]:
    """The steps each org signs, in order: org name -> its steps (a step is one org's)."""
    out: dict[str, list[Step]] = {}
    for step in steps:
        orgs = {c.org for c in step.commands} | ({step.done_if.org} if step.done_if else set())
        assert len(orgs) == 1, f"{step.id} is signed by {sorted(orgs)}"
        out.setdefault(orgs.pop(), []).append(step)
    return out


SCRIPT_HELPERS = r"""
# run TRIES EXPECT ALREADY CMD...: retry CMD (TRIES times, 2 s apart) until it succeeds and prints
# EXPECT; output printing ALREADY means it was done before ($ran: 1 when CMD did it now, 0 when
# done before).
# done_if EXPECT CMD...: CMD succeeds and prints EXPECT.
run() {
  tries=$1; expect=$2; already=$3; shift 3; n=0
  while :; do
    if out=$("$@" 2>&1); then ok=1; else ok=0; fi
    if [ "$ok" = 1 ] && { [ -z "$expect" ] || printf '%s' "$out" | grep -qF -- "$expect"; }; then
      [ -z "$out" ] || printf '%s\n' "$out"; ran=1; return 0
    fi
    # ALREADY may come with a failure or, as osnadmin answers HTTP errors, with exit status 0.
    if [ -n "$already" ] && printf '%s' "$out" | grep -qF -- "$already"; then
      echo "   already done"; ran=0; return 0
    fi
    n=$((n+1))
    if [ "$n" -ge "$tries" ]; then printf '%s\n' "$out" >&2; return 1; fi
    sleep 2
  done
}
done_if() {
  expect=$1; shift
  out=$("$@" 2>/dev/null) || return 1
  [ -z "$expect" ] || printf '%s' "$out" | grep -qF -- "$expect"
}
"""


def shell_script(steps: list[Step], layout: Layout, config_path: str) -> str:
    """The same steps as a POSIX script for the in-cluster Job; safe to run again (done steps are skipped)."""
    import shlex

    def call(cmd: PeerCommand) -> str:
        args = " ".join(shlex.quote(a) for a in cmd.args)
        if cmd.tool != "peer":  # osnadmin takes its identity from its flags
            return f"{cmd.tool} {args}"
        org = layout.topo.org(cmd.org)
        peer = next((p for p in layout.topo.peers if p.name == cmd.peer), None)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in admin_env(layout, org, peer).items())
        return f"env {env} peer {args}"

    def expect(step: Step, c: PeerCommand) -> str:
        # A smoke query expects the initial value only when this run called Init (as the local
        # backend does): a later run, a new Job after transactions, reads whatever the value is now.
        if step.id.startswith("smoke:") and c.expect:
            quoted = "".join("\\" + ch if ch in '\\"$`' else ch for ch in c.expect)
            return f'"${{{_smoke_var(step.id)}:+{quoted}}}"'
        return shlex.quote(c.expect or "")

    lines = ["#!/bin/sh", "set -eu", f"export FABRIC_CFG_PATH={shlex.quote(config_path)}", SCRIPT_HELPERS]
    lines += [f"{_smoke_var(s.id)}=''" for s in steps if s.id.startswith("smoke:")]
    for step in steps:
        lines.append(f"echo {shlex.quote('== ' + step.title)}")
        body = [f"run {c.patience} {expect(step, c)} {shlex.quote(c.already or '')} {call(c)}" for c in step.commands]
        if step.id.startswith("cc-init:"):
            body.append(f'if [ "$ran" = 1 ]; then {_smoke_var("smoke:" + step.id.split(":")[1])}=1; fi')
        if step.done_if is not None:
            check = f"done_if {shlex.quote(step.done_if.expect or '')} {call(step.done_if)}"
            lines.append(f"if {check}; then echo '   already done'; else")
            lines += [f"  {b}" for b in body]
            lines.append("fi")
        else:
            lines += body
    return "\n".join(lines) + "\n"


def _smoke_var(step_id: str) -> str:
    """The script variable saying the Init of a smoke step's chaincode ran in this run."""
    return "init_ran_" + "".join(ch if ch.isalnum() else "_" for ch in step_id.split(":", 1)[1])
