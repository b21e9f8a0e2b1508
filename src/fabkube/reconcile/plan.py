"""What `up` changes on a running network: the spec it last applied against the spec given now.

One diff for both targets. What it can apply is a list of changes, printed before anything happens
(`fabkube plan` prints only that); what it cannot apply safely is refused, with a one-line reason
naming the field, before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabkube.spec import NetworkSpec
from fabkube.topology import Topology, build_topology

REDEFINED = "changed at sequence"  # in the refusal of a definition changed at its committed sequence


@dataclass(frozen=True)
class Change:
    kind: str  # org | peer | channel | channel-org | orderer | chaincode
    subject: str  # what it is about: an org, peer, channel, orderer or chaincode name
    text: str  # one line for the user


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    fresh: bool = False  # nothing applied yet: `up` creates the whole network
    finished: bool = True  # compared with what the last finished `up` applied (not an unfinished one)

    def lines(self) -> list[str]:
        if self.refusals:
            return []
        if self.fresh:
            return ["create the network (nothing applied yet)"]
        return [c.text for c in self.changes] or ["no changes"]

    def org_additions(self) -> dict[str, list[str]]:
        """Channel -> the orgs `up` adds to its running config."""
        out: dict[str, list[str]] = {}
        for c in self.changes:
            if c.kind in ("org", "channel-org"):
                org, channels = c.subject.split(":", 1)
                for channel in filter(None, channels.split(",")):
                    out.setdefault(channel, []).append(org)
        return out

    def channels_to_check(self) -> set[str] | None:
        """Running channels whose members `up` must compare with the spec: those the plan adds orgs
        to or creates (an unfinished `up` may have made one already, from an older spec); None: all
        (the comparison base may not be what the network has)."""
        if not self.finished:
            return None
        return set(self.org_additions()) | {c.subject for c in self.changes if c.kind == "channel"}

    def checks_members(self) -> bool:
        """Whether `up` compares running channels' members with the spec at all."""
        check = self.channels_to_check()
        return check is None or bool(check) or bool(self.new_orgs())

    def new_orgs(self) -> list[str]:
        return [c.subject.split(":", 1)[0] for c in self.changes if c.kind == "org"]

    def as_dict(self) -> dict:
        return {
            "fresh": self.fresh,
            "changes": [vars(c) for c in self.changes],
            "refusals": self.refusals,
        }


def diff(applied: NetworkSpec | None, wanted: NetworkSpec, target: str, where: str = "", finished: bool = True) -> Plan:
    """The changes from `applied` (None: nothing yet) to `wanted`, and what is refused. `finished`
    False: `applied` is the spec of an `up` that may not have finished, so its chaincode definitions
    may not be committed (and may still change at the same sequence)."""
    if applied is None:
        return Plan(fresh=True)
    plan = Plan(finished=finished)
    before, after = build_topology(applied, target), build_topology(wanted, target)  # type: ignore[arg-type]
    _refusals(applied, wanted, before, after, target, where, plan.refusals)
    if not finished:
        plan.refusals = [r for r in plan.refusals if REDEFINED not in r]
    if plan.refusals:
        return plan
    _orgs_and_peers(before, after, plan.changes)
    _channels(before, after, plan.changes)
    _orderers(before, after, plan.changes)
    _chaincodes(before, after, plan.changes)
    return plan


def _refusals(applied: NetworkSpec, wanted: NetworkSpec, before: Topology, after: Topology, target: str,
              where: str, out: list[str]) -> None:  # fmt: skip
    recorded, new = applied.ordering.type, wanted.ordering.type
    if recorded != new:
        if recorded == "kafka" and new == "raft":
            why = f"move it with `fabkube migrate --to raft --network {wanted.name}`, then `up` the new spec"
        elif recorded == "raft" and new == "bft" and applied.fabric.version != wanted.fabric.version:
            why = (
                f"first `fabkube upgrade --fabric {wanted.fabric.version} --network {wanted.name}`, then "
                f"`fabkube migrate --to bft --network {wanted.name}`, then `up` the new spec"
            )
        elif recorded == "raft" and new == "bft":
            why = f"move it with `fabkube migrate --to bft --network {wanted.name}`, then `up` the new spec"
        elif new == "kafka":
            # Only a migration takes a network from Kafka, and there is no way back to it.
            out.append(
                f"ordering.type: kafka, but network {wanted.name} was migrated to {recorded} ({where}): "
                f"set ordering.type: {recorded} in the spec"
            )
            return
        else:
            why = f"`up` does not change the ordering type; set ordering.type: {recorded} in the spec"
        out.append(f"ordering.type: {new}, but network {wanted.name} runs {recorded} ({where}): {why}")
        return
    if applied.tls != wanted.tls:
        out.append(f"tls: {applied.tls} -> {wanted.tls} on a running network is not supported; keep {applied.tls}")
    if applied.fabric.version != wanted.fabric.version:
        out.append(_version_change(applied.fabric.version, wanted.fabric.version, wanted.name, where))
    _settings(applied, wanted, before, after, target, out)
    _orderer_changes(before, after, out)
    _removals(before, after, out)
    _redefinitions(before, after, out)
    if target == "local" and not out:
        moved = _moved_ports(before, after)
        if moved:
            out.append(
                f"local: {moved} would move to another port (addresses are in channel configs and chaincode "
                "packages). Ports stay when local.basePort stays, new orgs come last, and there are at most 4 "
                "peers per org, 4 chaincodes and 9 orderers"
            )


def _version_change(recorded: str, wanted: str, name: str, where: str) -> str:
    older = tuple(int(x) for x in recorded.split(".")) > tuple(int(x) for x in wanted.split("."))
    if older:
        return f"fabric.version: {wanted}, but network {name} runs Fabric {recorded} ({where}): keep {recorded}"
    return (
        f"fabric.version: {recorded} -> {wanted}: `up` does not change binaries; run "
        f"`fabkube upgrade --fabric {wanted} --network {name}`, then `up` the new spec"
    )


def _settings(applied: NetworkSpec, wanted: NetworkSpec, before: Topology, after: Topology, target: str,
              out: list[str]) -> None:  # fmt: skip
    if target == "k8s":
        moved_ns = [
            o.name for o in before.orgs + before.orderer_orgs if _namespace(after, o.name) not in (None, o.namespace)
        ]
        if moved_ns or before.ordering.namespaces != after.ordering.namespaces:
            out.append(
                "kubernetes.namespacePrefix (or name, kafkaNamespace): the namespaces of a running network cannot "
                "change (every address names them)"
            )
    for what, old_value, new_value in _channel_settings(applied, wanted):
        if old_value != new_value:
            out.append(
                f"{what}: {old_value} -> {new_value}: running channels keep the value they were made with "
                "(a channel config update fabkube does not make yet); keep it"
            )
    for org in applied.organizations:
        new_org = next((o for o in wanted.organizations if o.name == org.name), None)
        if new_org is not None and new_org.anchorPeers != org.anchorPeers:
            anchors = f"{org.anchorPeers} -> {new_org.anchorPeers}"
            out.append(f"organizations: {org.name}.anchorPeers {anchors}: not changed by `up` yet")
    if applied.ordering.type == "kafka":
        for what, old, new in (
            ("kafka.brokers", applied.kafka.brokers, wanted.kafka.brokers),
            ("kafka.replicationFactor", applied.kafka.replicationFactor, wanted.kafka.replicationFactor),
            ("zookeeper.nodes", applied.zookeeper.nodes, wanted.zookeeper.nodes),
        ):
            if old != new:
                out.append(f"{what}: {old} -> {new} on a running Kafka network is not supported; keep {old}")


def _orderer_changes(before: Topology, after: Topology, out: list[str]) -> None:
    had_orgs = {o.name for o in before.orderer_orgs}
    for org in after.orderer_orgs:
        if org.name not in had_orgs:
            out.append(f"ordering.organizations: adding {org.name} to a running network is not supported yet")
    if before.ordering.system_channel and len(after.orderers) > len(before.orderers):
        out.append(
            f"ordering.orderers: {len(before.orderers)} -> {len(after.orderers)}: a Kafka network does not grow by "
            "orderers (move it to Raft with `fabkube migrate --to raft`, then add consenters)"
        )
    if before.ordering.type == "bft" and len(after.orderers) > len(before.orderers):
        out.append(
            f"ordering.orderers: {len(before.orderers)} -> {len(after.orderers)}: adding BFT consenters to a "
            "running network is not supported yet"
        )
    for node in before.orderers:
        now = next((o for o in after.orderers if o.name == node.name), None)
        if now is not None and (now.org.name, now.fqdn) != (node.org.name, node.fqdn):
            out.append(
                f"ordering: {node.name} would become {now.fqdn} of {now.org.name} (it is {node.fqdn} of "
                f"{node.org.name}): orderers are numbered across orderer orgs, so add them to the last org only"
            )


def _namespace(topo: Topology, org: str) -> str | None:
    return next((o.namespace for o in [*topo.orgs, *topo.orderer_orgs] if o.name == org), None)


def _channel_settings(applied: NetworkSpec, wanted: NetworkSpec) -> list[tuple[str, object, object]]:
    """Settings a channel's config holds from its creation."""
    a, w = applied.ordering, wanted.ordering
    out = [(f"ordering.{k}", getattr(a, k), getattr(w, k))
           for k in ("batchTimeout", "maxMessageCount", "absoluteMaxBytes", "preferredMaxBytes")]  # fmt: skip
    if a.type == "raft":
        out += [(f"ordering.raft.{k}", v, getattr(w.raft, k)) for k, v in a.raft.model_dump().items()]
    return out


def _removals(before: Topology, after: Topology, out: list[str]) -> None:
    _removed("organizations", [o.name for o in before.orgs], [o.name for o in after.orgs], out)
    _removed("ordering orderers", [o.name for o in before.orderers], [o.name for o in after.orderers], out)
    _removed("peers", [p.name for p in before.peers], [p.name for p in after.peers], out)
    _removed("channels", [c.name for c in before.channels], [c.name for c in after.channels], out)
    _removed("chaincodes", [c.name for c in before.chaincodes], [c.name for c in after.chaincodes], out)
    for org in before.orgs:
        new = next((o for o in after.orgs if o.name == org.name), None)
        if new is not None and new.domain != org.domain:
            out.append(f"organizations: {org.name}.domain {org.domain} -> {new.domain}: every certificate names it")
    for org in before.orderer_orgs:
        new = next((o for o in after.orderer_orgs if o.name == org.name), None)
        if new is None:
            out.append(f"ordering organizations: {org.name} removed; removing an orderer org is not supported")
        elif new.domain != org.domain:
            out.append(f"ordering: {org.name} domain {org.domain} -> {new.domain}: every certificate names it")
    for ch in before.channels:
        new_ch = next((c for c in after.channels if c.name == ch.name), None)
        if new_ch is not None:
            gone = [o.name for o in ch.orgs if o.name not in {x.name for x in new_ch.orgs}]
            if gone:
                out.append(
                    f"channels: {ch.name} loses {', '.join(gone)}; removing an org from a channel is not supported"
                )


def _redefinitions(before: Topology, after: Topology, out: list[str]) -> None:
    for cc in before.chaincodes:
        new_cc = next((c for c in after.chaincodes if c.name == cc.name), None)
        if new_cc is None:
            continue
        if new_cc.channel != cc.channel:
            out.append(
                f"chaincodes: {cc.name}.channel {cc.channel} -> {new_cc.channel}: define a new chaincode instead"
            )
        elif new_cc.sequence < cc.sequence:
            out.append(f"chaincodes: {cc.name}.sequence {cc.sequence} -> {new_cc.sequence}: a sequence only rises")
        elif new_cc.sequence == cc.sequence and _definition(new_cc) != _definition(cc):
            if _definition(new_cc)[:2] == _definition(cc)[:2] and _definition(new_cc)[3] == _definition(cc)[3]:
                out.append(
                    f"chaincodes: {cc.name}'s private data collections {REDEFINED} {cc.sequence} (a collection "
                    f"without a policy names every org of the channel); raise its sequence to {cc.sequence + 1}"
                )
                continue
            out.append(
                f"chaincodes: {cc.name} {REDEFINED} {cc.sequence}; raise its sequence to "
                f"{cc.sequence + 1} to redefine it"
            )


def _removed(what: str, before: list[str], after: list[str], out: list[str]) -> None:
    gone = [n for n in before if n not in after]
    if gone:
        out.append(f"{what}: {', '.join(gone)} removed; removing from a running network is not supported")


def _definition(cc) -> tuple:
    """What Fabric's definition holds (InitRequired, not Init's arguments; a policy's text without
    spaces)."""
    policy = "".join((cc.policy or "").split())
    return (cc.version, policy, tuple(sorted(str(c) for c in cc.collections)), bool(cc.init))


def _moved_ports(before: Topology, after: Topology) -> str:
    def ports(topo: Topology) -> dict[str, tuple]:
        out = {o.name: (o.address, o.operations, o.admin) for o in topo.orderers}
        out |= {p.name: (p.address, p.chaincode, p.operations) for p in topo.peers}
        out |= {f"chaincode {c.name}": tuple(sorted(set(map(str, c.servers.values())))) for c in topo.chaincodes}
        return out

    old, new = ports(before), ports(after)
    moved = [name for name in old if name in new and new[name] != old[name]]
    return ", ".join(moved[:3])


def _orgs_and_peers(before: Topology, after: Topology, out: list[Change]) -> None:
    known = {o.name for o in before.orgs}
    for org in after.orgs:
        channels = [c.name for c in after.channels if org.name in {o.name for o in c.orgs}]
        existing = [c for c in channels if c in {x.name for x in before.channels}]
        peers = after.org_peers(org)
        if org.name not in known:
            where = f"; joins {', '.join(existing)}" if existing else ""
            out.append(
                Change(
                    "org",
                    f"{org.name}:{','.join(existing)}",
                    f"add organization {org.name} ({org.msp_id}, {len(peers)} peer{'s' * (len(peers) != 1)}){where}",
                )
            )
            continue
        users_before = next((o.users for o in before.orgs if o.name == org.name), org.users)
        if org.users > users_before:
            out.append(Change("users", org.name, f"add {org.users - users_before} user identities to {org.name}"))
        had = {p.name for p in before.org_peers(org)}
        for peer in peers:
            if peer.name not in had:
                joins = f": joins {', '.join(existing)}" if existing else ""
                out.append(Change("peer", peer.name, f"add peer {peer.name} to {org.name}{joins}"))


def _channels(before: Topology, after: Topology, out: list[Change]) -> None:
    old = {c.name: c for c in before.channels}
    known_orgs = {o.name for o in before.orgs}
    for ch in after.channels:
        names = [o.name for o in ch.orgs]
        if ch.name not in old:
            out.append(Change("channel", ch.name, f"create channel {ch.name} ({', '.join(names)})"))
            continue
        added = [n for n in names if n not in {o.name for o in old[ch.name].orgs} and n in known_orgs]
        for n in added:
            out.append(Change("channel-org", f"{n}:{ch.name}", f"add {n} to channel {ch.name}"))


def _orderers(before: Topology, after: Topology, out: list[Change]) -> None:
    had = {o.name for o in before.orderers}
    for node in after.orderers:
        if node.name not in had:
            text = f"add orderer {node.name} ({node.org.name}) as a consenter of every channel"
            out.append(Change("orderer", node.name, text))


def _chaincodes(before: Topology, after: Topology, out: list[Change]) -> None:
    old = {c.name: c for c in before.chaincodes}
    for cc in after.chaincodes:
        prev = old.get(cc.name)
        if prev is None:
            out.append(Change("chaincode", cc.name, f"define chaincode {cc.name} {cc.version} on {cc.channel}"))
        elif cc.sequence > prev.sequence:
            what = []
            if cc.version != prev.version:
                what.append(f"version {prev.version} -> {cc.version}")
            if cc.policy != prev.policy:
                what.append(f"endorsement policy {cc.policy or 'default'}")
            detail = f" ({', '.join(what)})" if what else ""
            out.append(Change("chaincode", cc.name, f"redefine chaincode {cc.name} at sequence {cc.sequence}{detail}"))
        elif {o.name for o in cc.orgs} != {o.name for o in prev.orgs}:
            new = sorted({o.name for o in cc.orgs} - {o.name for o in prev.orgs})
            verbs = "approves and installs" if len(new) == 1 else "approve and install"
            text = f"chaincode {cc.name}: {', '.join(new)} {verbs} its definition (sequence {cc.sequence})"
            out.append(Change("chaincode", cc.name, text))
