"""A running network onto a newer Fabric, live, in the order Fabric documents for 2.5 to 3.x
(docs/source/upgrade_to_newest_version.md and upgrading_your_components.md at 3.1.1; the system
channel's removal: create_channel/create_channel_participation.md at 2.5.9; fabkube's reading of
them: docs/fabric3-plan.md section 2).

Every phase reads the network first (each node's /version, each channel's config) and does only
what is left, so the same command finishes after an interruption at any moment. Six phases:

  1 check       Raft, channels out of maintenance, Application capability V2_0 or newer, each
                orderer org's endpoints in every channel (3.x reads only those), no node newer
  2 build       the target's binaries, before anything changes
  3 system      a system channel left on the orderers: maintenance, then removed from one at a time
                (a 3.x orderer refuses to start with one in its ledger)
  4 orderers    one at a time: stopped, its data copied, started on the target, every channel led
                and the orderer caught up again before the next
  5 peers       the same, one peer at a time (a peer of another org keeps endorsing meanwhile)
  6 capability  once every node reports the target (a 2.5 peer stops on a V3_0 config block):
                each channel to Channel capability V3_0 without the channel-wide OrdererAddresses
                (3.x refuses them there), signed by the orderer orgs' and enough members' admins
"""

from __future__ import annotations

import copy
import functools
import json
import ssl
import time
from pathlib import Path

import yaml

from fabkube.channel.config import AdminIdentity, ChannelConfigs, FetchedConfig, orderer_admin_configs
from fabkube.consensus.participation import leaders, wait_whole
from fabkube.errors import RuntimeFailure, UserError
from fabkube.generate import network_toolchain
from fabkube.health import fabric_version, operations_tls
from fabkube.migration.host import NodeReach, OrdererReach, UpgradeHost
from fabkube.migration.orderers import (
    MAINTENANCE,
    MigrationLock,
    OrdererTls,
    ledger_heights,
    listed_channels,
    numeric_version,
    remove_system_channel,
    update_and_wait,
    wait_leaders,
    write_marker,
)
from fabkube.reconcile.members import member_msp_ids, signatures_needed
from fabkube.spec import parse_spec
from fabkube.toolchain.versions import FABRIC_VERSIONS

PHASES = ("check", "build", "system", "orderers", "peers", "capability")
APPLICATION_CAPABILITIES = {"V2_0", "V2_5"}  # the lifecycle and ledger Fabric 3 keeps
CAUGHT_UP_WAIT = 120.0  # seconds for a restarted node to serve and reach its old heights


def version_spec_text(text: str, version: str) -> str:
    """The spec on another Fabric version (comments are lost: this is the work dir's copy)."""
    data = yaml.safe_load(text)
    data.setdefault("fabric", {})["version"] = version
    head = f"# Written by `fabkube upgrade --fabric {version}`: the network's spec, now on Fabric {version}.\n"
    return head + yaml.safe_dump(data, sort_keys=False)


class Upgrade:
    def __init__(self, host: UpgradeHost, target: str, backup: bool = True):
        self.host, self.target, self.take_backup = host, target, backup
        self.layout = host.layout
        self.report = host.report
        self.log = self.layout.log("upgrade")

    @property
    def major(self) -> int:
        return FABRIC_VERSIONS[self.target].major

    def configs(self) -> ChannelConfigs:
        # Made afresh each phase: once the target is recorded, its peer and configtxlator are used.
        return orderer_admin_configs(self.layout, self.host.tools, self.log)

    @functools.cached_property
    def tls(self) -> OrdererTls:
        return OrdererTls(self.layout)

    def ops_tls(self, node: NodeReach) -> ssl.SSLContext | None:
        return operations_tls(self.layout, node.org)

    def versions(self, nodes: list[NodeReach]) -> dict[str, str | None]:
        return {n.name: fabric_version(n.operations, self.ops_tls(n), 5) for n in nodes}

    def channels(self, reach: list[OrdererReach]) -> tuple[list[OrdererReach], list[str]]:
        """(the orderers still holding a system channel, the application channels)."""
        return listed_channels(reach, self.tls, [ch.name for ch in self.layout.topo.channels])

    @property
    def rolling(self) -> Path:
        """Names the node being rolled: one killed while stopped gets its backup before it starts."""
        return self.layout.root / "upgrade-rolling.json"

    # ------------------------------------------------------------ the procedure
    def run(self) -> dict:
        """Upgrade, or finish an upgrade an interruption left; returns what the user is told."""
        self.refuse_early()
        with MigrationLock(self.layout.root / "migrate.lock", "upgrade"):
            return self._run()

    def refuse_early(self) -> None:
        """What the work dir alone says cannot be upgraded: before any node is read or started."""
        target, recorded = self.target, self.host.recorded_version
        fv = FABRIC_VERSIONS.get(target)
        if fv is None or fv.unavailable:
            allowed = ", ".join(v for v, f in FABRIC_VERSIONS.items() if not f.unavailable)
            raise UserError(f"upgrade --fabric {target}: not a version fabkube builds; allowed: {allowed}")
        if numeric_version(target) < numeric_version(recorded):
            raise UserError(f"upgrade --fabric {target}: the network runs {recorded}; Fabric has no downgrade")
        kind = self.layout.topo.ordering.type
        if kind == "kafka":
            raise UserError(
                f"upgrade --fabric {target}: the network orders with Kafka, which Fabric 3 no longer has: "
                "run `fabkube migrate --to raft` first"
            )
        if kind != "raft" and recorded != target:
            raise UserError(f"upgrade --fabric {target}: ordering type {kind}; only Raft networks upgrade")

    def _run(self) -> dict:
        started = time.monotonic()
        host = self.host
        backup = self.host.backups / f"upgrade-to-{self.target}" if self.take_backup else None
        self._finish_interrupted_backup(backup)
        if started_now := host.ensure_running():
            self.report.info(f"started what was stopped: {', '.join(started_now)}")
        with host.reach() as reach, host.nodes() as nodes:
            with self.report.step(f"1/6 check preconditions for Fabric {self.target}") as s:
                holders, channels = self.channels(reach)
                configs = {ch: self.configs().fetch(ch, str(reach[0].address)) for ch in channels}
                versions = self.versions(nodes)
                s.detail = self.check(nodes, versions, configs)
                if holders:
                    s.detail += f"; a system channel on {', '.join(r.name for r in holders)}"
            if not holders and self._finished(versions, configs):
                return {"already": True}
        with self.report.step(f"2/6 build Fabric {self.target}") as s:
            tools = network_toolchain(parse_spec(self._target_text()).spec)
            tools.ensure(self.report.info)
            s.detail = f"binaries in {tools.bin('orderer').parent}"
        with host.reach() as reach, self.report.step("3/6 remove the system channel") as s:
            removed = remove_system_channel(reach, self.configs(), self.tls, channels, self.report.info, self.log)
            s.detail = f"removed from {', '.join(removed)}" if removed else "none there"
        if host.recorded_version != self.target:
            # From here every node (re)starts on the target, whatever stops it.
            host.record_spec(self._target_text())
            self.layout = host.layout
        with self.report.step(f"4/6 roll the orderers onto Fabric {self.target}") as s:
            s.detail = self._roll("orderer", backup, channels)
        with self.report.step(f"5/6 roll the peers onto Fabric {self.target}") as s:
            s.detail = self._roll("peer", backup, channels)
        with self.report.step("6/6 raise the channels' capability") as s:
            s.detail = self._capability()
        return {"already": False, "backup": str(backup) if backup else None, "seconds": time.monotonic() - started}

    def _finish_interrupted_backup(self, backup: Path | None) -> None:
        """A node stopped for its roll when the last run was killed: copied now, still stopped."""
        if not self.rolling.exists():
            return
        name = json.loads(self.rolling.read_text())["node"]
        if backup is not None and not self.host.running(name) and not (backup / name).is_dir():
            self.report.info(f"{name}: stopped mid-roll by an interruption; copying its data first")
            self.host.backup_node(name, backup)
        self.rolling.unlink()

    def _target_text(self) -> str:
        return version_spec_text(self.layout.spec_copy.read_text(), self.target)

    def _finished(self, versions: dict[str, str | None], configs: dict[str, FetchedConfig]) -> bool:
        on_target = all(v == self.target for v in versions.values())
        capable = self.major < 3 or all("V3_0" in c.capabilities(None) for c in configs.values())
        return self.host.recorded_version == self.target and on_target and capable

    # ------------------------------------------------------------ 1 check
    def check(self, nodes: list[NodeReach], versions: dict[str, str | None], configs: dict[str, FetchedConfig]) -> str:
        problems: list[str] = []
        down = [n for n, v in versions.items() if v is None]
        if down:
            problems.append(f"{', '.join(down)}: no /version on the operations endpoint; are they running?")
        newer = [f"{n} {v}" for n, v in versions.items() if v and numeric_version(v) > numeric_version(self.target)]
        if newer:
            problems.append(f"{', '.join(newer)}: newer than {self.target}")
        for ch, fetched in configs.items():
            c = fetched.consensus
            if c.type not in ("etcdraft", "BFT"):
                problems.append(f"channel {ch}: consensus type {c.type}; Fabric 3 orders with etcdraft or BFT only")
            if c.state == MAINTENANCE:
                problems.append(f"channel {ch}: in maintenance mode (a migration unfinished?); finish it first")
            have = set(fetched.capabilities("Application"))
            if not have & APPLICATION_CAPABILITIES:
                problems.append(
                    f"channel {ch}: Application capabilities {sorted(have) or 'none'}; Fabric 3 needs V2_0 or "
                    "V2_5 (the v2 chaincode lifecycle): raise them with a config update first"
                )
            if self.major >= 3:
                try:
                    self._signers(fetched)
                except UserError as exc:
                    problems += exc.problems
                orgs = fetched.config["channel_group"]["groups"]["Orderer"].get("groups", {})
                bare = [o for o, g in orgs.items() if not g.get("values", {}).get("Endpoints", {}).get("value")]
                if bare:
                    problems.append(
                        f"channel {ch}: orderer orgs {', '.join(bare)} have no endpoints in the channel config; "
                        "Fabric 3 reads only those: add them with a config update first"
                    )
        if problems:
            raise UserError(["upgrade: " + p for p in dict.fromkeys(problems)])
        now = sorted({v for v in versions.values() if v})
        return f"{len(nodes)} nodes on Fabric {', '.join(now)}, {len(configs)} channels"

    # ------------------------------------------------------------ 4 and 5 roll
    def _roll(self, kind: str, backup: Path | None, channels: list[str]) -> str:
        rolled, times = [], []
        with self.host.nodes() as nodes:
            group = [n for n in nodes if n.kind == kind]
            if kind == "orderer":
                # Leaders last: each channel elects a new leader once, not once per restart.
                group.sort(key=lambda n: any(leaders(n.operations, self.ops_tls(n)).values()))
            for node in group:
                tls = self.ops_tls(node)
                was = fabric_version(node.operations, tls, 5)
                if was == self.target:
                    continue
                heights = ledger_heights(node.operations, tls)
                before = {ch: heights[ch] for ch in channels if ch in heights}
                if kind == "orderer":
                    # Also after an interruption: the last orderer restarted may not take part yet.
                    wait_whole(node.name, node.operations, tls, list(before), self.log)
                self.report.info(f"{node.name}: Fabric {was} -> {self.target}")
                t0 = time.monotonic()
                write_marker(self.rolling, {"node": node.name})
                self.host.roll(node.name, backup)
                self.rolling.unlink()
                self._wait_back(node, before)
                times.append(time.monotonic() - t0)
                rolled.append(node.name)
        if not rolled:
            return f"every {kind} already on {self.target}"
        return f"{len(rolled)} rolled, {min(times):.1f}-{max(times):.1f}s each"

    def _wait_back(self, node: NodeReach, before: dict[str, int]) -> None:
        """The node reports the target and has each channel at least at its height before the stop;
        an orderer's channels are led again."""
        tls = self.ops_tls(node)
        deadline = time.monotonic() + CAUGHT_UP_WAIT
        while True:
            version = fabric_version(node.operations, tls, 5)
            now = ledger_heights(node.operations, tls)
            behind = [ch for ch, h in before.items() if now.get(ch, 0) < h]
            if version == self.target and not behind:
                break
            if time.monotonic() > deadline:
                what = f"reports {version}" if version != self.target else f"behind on {', '.join(behind)}"
                log = self.layout.log(node.name)
                raise RuntimeFailure(f"{node.name} {what} {CAUGHT_UP_WAIT:.0f}s after its restart", log)
            time.sleep(0.5)
        if node.kind == "orderer":
            with self.host.reach() as reach:
                wait_leaders(reach, self.tls.ops, list(before), self.log)
            wait_whole(node.name, node.operations, tls, list(before), self.log)

    # ------------------------------------------------------------ 6 capability
    def _capability(self) -> str:
        if self.major < 3:
            return f"none needed for Fabric {self.target}"
        with self.host.nodes() as nodes, self.host.reach() as reach:
            versions = self.versions(nodes)
            behind = [f"{n} {v}" for n, v in versions.items() if v != self.target]
            if behind:
                # A 2.x peer stops on a block with a capability it does not know.
                raise RuntimeFailure(
                    f"not every node runs {self.target} ({', '.join(behind)}); run upgrade again", self.log
                )
            reader = self.configs()
            raised = []
            for ch in self.channels(reach)[1]:
                fetched = reader.fetch(ch, str(reach[0].address))
                if "V3_0" in fetched.capabilities(None):
                    continue
                self.report.info(f"{ch}: Channel capability V3_0, channel-wide OrdererAddresses removed")
                update_and_wait(self._signers(fetched), reach, fetched, v3_config(fetched),
                                lambda c: "V3_0" in c.capabilities(None), self.log)  # fmt: skip
                raised.append(ch)
        return f"V3_0 on {', '.join(raised)}" if raised else "every channel already at V3_0"

    def _signers(self, fetched: FetchedConfig) -> ChannelConfigs:
        """/Channel/Admins is MAJORITY of the Orderer and Application groups' Admins: every orderer
        org's admin, and as many member orgs' admins as the Application group's policy asks."""
        orderer_side = self.configs()
        topo = self.layout.topo
        present = member_msp_ids(fetched)
        app = fetched.config["channel_group"]["groups"]["Application"]
        ours = [o for o in topo.orgs if o.msp_id in present]
        try:
            need = signatures_needed(app, len(present))
        except RuntimeFailure as exc:
            raise UserError(f"channel {fetched.channel}: {exc}") from None
        if len(ours) < need:
            raise UserError(
                f"channel {fetched.channel}: raising its capability needs {need} member orgs' admins to sign "
                f"and fabkube holds the keys of {len(ours)}"
            )
        tls = orderer_side.admin.tls_ca
        members = tuple(AdminIdentity(o.msp_id, self.layout.admin_msp(o), tls) for o in ours[:need])
        return ChannelConfigs(self.host.tools, orderer_side.admin, self.log, orderer_side.cosigners + members)


def v3_config(fetched: FetchedConfig) -> dict:
    """The channel's config at Channel capability V3_0, without the channel-wide orderer addresses."""
    new = copy.deepcopy(fetched.config)
    values = new["channel_group"]["values"]
    values["Capabilities"]["value"]["capabilities"] = {"V3_0": {}}
    values.pop("OrdererAddresses", None)
    return new
