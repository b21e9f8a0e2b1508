"""Kafka to Raft, live, as Fabric's guide lays it out (docs/source/kafka_raft_migration.md and
integration/kafka/migration_test.go at v2.5.9; fabkube's reading of them: docs/migration-plan.md).

Every phase first reads the network (each channel's ConsensusType type and state, and its height,
on every orderer) and does only what is left, so after an interruption at any moment the same
command finishes the job. Seven phases:

  1 check       one Fabric version on every orderer, capabilities V1_4_2+ on every channel, TLS
  2 maintenance ConsensusType.state = STATE_MAINTENANCE, system channel first, then each channel
  3 backup      orderers stopped, then brokers, then ZooKeeper; their data copied; all started again
  4 switch      type etcdraft and the Raft metadata, still in maintenance: each channel's last config
  5 restart     orderers, brokers and ZooKeeper stopped; orderers started as Raft consenters
  6 normal      STATE_NORMAL, system channel first: transactions commit again, on Raft
  7 retire      the system channel removed from every orderer; Kafka and ZooKeeper removed

Until phase 6 ends on a channel, `abort` brings the network back as Kafka (from the backup when
phase 4 began). Once Raft has left maintenance there is no way back: Fabric says so.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fabkube.channel.config import FetchedConfig, orderer_admin_configs
from fabkube.channel.configtx import SYSTEM_CHANNEL
from fabkube.consensus.participation import channel_info
from fabkube.consensus.raft.model import raft_model
from fabkube.errors import RuntimeFailure, UserError
from fabkube.health import fabric_version, operations_tls, org_client_tls
from fabkube.migration.host import MigrationHost, OrdererReach
from fabkube.migration.orderers import (
    MAINTENANCE,
    MIGRATION_ORDERER_CAPABILITIES,
    NORMAL,
    MigrationLock,
    OrdererTls,
    backup_manifests,
    metric_channels,
    numeric_version,
    participation,
    remove_system_channel,
    update_and_wait,
    wait_leaders,
)
from fabkube.spec import parse_spec
from fabkube.topology import build_topology

ORDERER_CAPABILITIES = MIGRATION_ORDERER_CAPABILITIES
CHANNEL_CAPABILITIES = {"V1_4_2", "V1_4_3", "V2_0", "V3_0"}
MIN_VERSION = (1, 4, 2)
PHASES = ("check", "maintenance", "backup", "switch", "restart", "normal", "retire")
TITLES = {
    "check": "check preconditions",
    "maintenance": "maintenance mode on every channel",
    "backup": "back up orderers, Kafka and ZooKeeper",
    "switch": "switch every channel to etcdraft",
    "restart": "restart the orderers as Raft consenters",
    "normal": "leave maintenance: transactions commit on Raft",
    "retire": "remove the system channel, Kafka and ZooKeeper",
}


def raft_spec_text(text: str) -> str:
    """The spec, on Raft: ordering.type raft, Kafka's sections and placements gone (comments are lost:
    this is the work dir's copy; the user edits their own)."""
    data = yaml.safe_load(text)
    data.setdefault("ordering", {})["type"] = "raft"
    for key in ("kafka", "zookeeper"):
        data.pop(key, None)
    k8s = data.get("kubernetes") or {}
    for key in ("kafka", "zookeeper"):
        (k8s.get("placement") or {}).pop(key, None)
        (k8s.get("resources") or {}).pop(key, None)
    k8s.pop("kafkaNamespace", None)
    head = "# Written by `fabkube migrate --to raft`: the network's spec, now on Raft.\n"
    return head + yaml.safe_dump(data, sort_keys=False)


@dataclass
class View:
    """One channel on one orderer."""

    config: FetchedConfig
    height: int

    @property
    def type(self) -> str:
        return self.config.consensus.type

    @property
    def state(self) -> str:
        return self.config.consensus.state


@dataclass
class Observed:
    """Every channel on every orderer, as the orderers say now."""

    channels: list[str]  # the system channel first while it exists
    views: dict[str, dict[str, View]] = field(default_factory=dict)  # channel -> orderer -> view

    def on_all(self, channel: str, check: Callable[[View], bool]) -> bool:
        return all(check(v) for v in self.views[channel].values())

    def everywhere(self, check: Callable[[View], bool]) -> bool:
        return all(self.on_all(ch, check) for ch in self.channels)

    def first(self, channel: str) -> View:
        return next(iter(self.views[channel].values()))

    def heights(self) -> dict[str, int]:
        return {ch: self.first(ch).height for ch in self.channels}


class KafkaToRaft:
    def __init__(self, host: MigrationHost, backup: bool = True):
        """backup False: no copy in phase 3 (the operator has their own), so no `--abort` after the switch."""
        self.host = host
        self.take_backup = backup
        self.layout = host.layout
        self.log = self.layout.log("migrate")
        self.configs = orderer_admin_configs(self.layout, host.tools, self.log)
        self.report = host.report
        self.maintenance_started: float | None = None

    # ------------------------------------------------------------ reading the network
    def observe(self, reach: list[OrdererReach]) -> Observed:
        channels = self._channels(reach)
        obs = Observed(channels)
        for ch in channels:
            obs.views[ch] = {}
            for r in reach:
                fetched = self.configs.fetch(ch, str(r.address))
                obs.views[ch][r.name] = View(fetched, self.configs.height(ch, str(r.address)))
        return obs

    @functools.cached_property
    def tls(self) -> ssl.SSLContext | None:
        """The orderer org admin's TLS client: the admin endpoints take it."""
        return org_client_tls(self.layout, self.layout.topo.orderer_org)

    @functools.cached_property
    def ops_tls(self) -> ssl.SSLContext | None:
        """How the orderers' operations endpoints are read (None: plain HTTP, a network without TLS)."""
        return operations_tls(self.layout, self.layout.topo.orderer_org)

    def _channels(self, reach: list[OrdererReach]) -> list[str]:
        """Every channel of the network, the system channel first while it exists: the spec's that
        the orderers have (their ledger metrics name them) and any other they have (all channels
        are migrated in one window)."""
        known = [ch.name for ch in self.layout.topo.channels]
        found: set[str] = set()
        for r in reach:
            found |= set(metric_channels(r, self.ops_tls))
        found.discard(SYSTEM_CHANNEL)
        apps = [ch for ch in known if ch in found or not found] + sorted(found - set(known))
        system = self.host.recorded_type == "kafka" or self._system_channel_on(reach)
        return [SYSTEM_CHANNEL] * system + apps

    def _system_channel_on(self, reach: list[OrdererReach]) -> bool:
        tls = self.tls
        return any(participation(r, tls).get("systemChannel") for r in reach)

    # ------------------------------------------------------------ the procedure
    def run(self) -> dict:
        """Migrate, or finish a migration an interruption left; returns what the user is told."""
        with MigrationLock(self.layout.root / "migrate.lock"):
            return self._run()

    def _run(self) -> dict:
        started = time.monotonic()
        host = self.host
        if host.recorded_type == "raft" and self._finished():
            host.remove_services()  # what an interruption may have left
            return {"already": True}
        host.ensure_running()
        with self.host.reach() as reach:
            with self.report.step(f"1/7 {TITLES['check']}") as s:
                obs = self.observe(reach)
                s.detail = self.check(reach, obs)
            with self.report.step(f"2/7 {TITLES['maintenance']}") as s:
                s.detail = self._set_state(reach, obs, MAINTENANCE, only_type="kafka")
            self.maintenance_started = time.monotonic()
        with self.report.step(f"3/7 {TITLES['backup']}") as s:
            backup, s.detail = self._backup()
        with self.host.reach() as reach, self.report.step(f"4/7 {TITLES['switch']}") as s:
            s.detail = self._switch(reach)
        with self.report.step(f"5/7 {TITLES['restart']}") as s:
            s.detail = self._restart()
        with self.host.reach() as reach:
            with self.report.step(f"6/7 {TITLES['normal']}") as s:
                obs = self.observe(reach)
                s.detail = self._set_state(reach, obs, NORMAL, only_type="etcdraft")
            window = time.monotonic() - self.maintenance_started if self.maintenance_started else None
            with self.report.step(f"7/7 {TITLES['retire']}") as s:
                s.detail = self._retire(reach)
        return {
            "already": False,
            "backup": str(backup) if backup else None,
            "maintenance_seconds": window,
            "seconds": time.monotonic() - started,
            "channels": [ch.name for ch in self.layout.topo.channels],
        }

    def _finished(self) -> bool:
        """Recorded as Raft, and every orderer runs without a system channel, each channel on
        etcdraft out of maintenance (so nothing is left to do)."""
        try:
            with self.host.reach() as reach:
                if self._system_channel_on(reach):
                    return False
                obs = self.observe(reach)
        except RuntimeFailure:
            return False
        return obs.everywhere(lambda v: v.type == "etcdraft" and v.state == NORMAL)

    # ------------------------------------------------------------ 1 check
    def check(self, reach: list[OrdererReach], obs: Observed) -> str:
        problems = []
        if not self.layout.topo.spec.tls:
            problems.append("tls: false: Raft consenters authenticate each other by TLS; the network needs tls: true")
        versions = {r.name: fabric_version(r.operations, self.ops_tls, 5) for r in reach}
        distinct = set(versions.values())
        if None in distinct:
            down = [n for n, v in versions.items() if v is None]
            problems.append(f"orderers {', '.join(down)}: no /version on the operations endpoint; are they running?")
        elif len(distinct) > 1:
            listed = ", ".join(f"{n} {v}" for n, v in sorted(versions.items()))
            problems.append(f"orderers run different Fabric versions ({listed}): upgrade them to one version first")
        elif numeric_version(next(iter(distinct))) < MIN_VERSION:
            problems.append(f"orderers run Fabric {next(iter(distinct))}: the migration needs 1.4.2 or newer")
        for ch in obs.channels:
            for orderer, view in obs.views[ch].items():
                if view.type not in ("kafka", "etcdraft"):
                    problems.append(f"channel {ch} on {orderer}: consensus type {view.type!r}; only kafka migrates")
                have = set(view.config.capabilities("Orderer"))
                if not have & ORDERER_CAPABILITIES:
                    problems.append(
                        f"channel {ch}: Orderer capabilities {sorted(have) or 'none'}; the migration needs "
                        f"V1_4_2 or V2_0: raise them with a config update first"
                    )
                have = set(view.config.capabilities(None))
                if not have & CHANNEL_CAPABILITIES:
                    problems.append(
                        f"channel {ch}: Channel capabilities {sorted(have) or 'none'}; the migration needs "
                        f"V1_4_2 or newer: raise them with a config update first"
                    )
                break  # one orderer's config is the channel's; agreement is checked below
            kinds = {(v.type, v.state) for v in obs.views[ch].values()}
            if len(kinds) > 1:
                problems.append(f"channel {ch}: orderers disagree on its consensus ({sorted(kinds)}); wait and retry")
        if problems:
            raise UserError(["migrate: " + p for p in dict.fromkeys(problems)])
        version = next(iter(distinct))
        return f"{len(reach)} orderers on Fabric {version}, {len(obs.channels)} channels"

    # ------------------------------------------------------------ 2 and 6: the state
    def _set_state(self, reach: list[OrdererReach], obs: Observed, state: str, only_type: str) -> str:
        """Set ConsensusType.state on each channel of type `only_type` that is not there yet, system
        channel first, each through the first orderer; the only change in its update."""
        changed = 0
        for ch in obs.channels:
            view = obs.first(ch)
            if view.type != only_type or obs.on_all(ch, lambda v: v.state == state):
                continue
            self.report.info(f"{ch}: {state}")
            self._update(reach, view.config, view.config.with_consensus(state=state),
                         lambda c, s=state: c.consensus.state == s)  # fmt: skip
            changed += 1
        done = len(obs.channels) - changed
        return f"{changed} channels changed" + (f", {done} already past it" if done else "")

    def _update(self, reach: list[OrdererReach], fetched: FetchedConfig, new: dict, holds) -> None:
        update_and_wait(self.configs, reach, fetched, new, holds, self.log)

    # ------------------------------------------------------------ 3 backup
    def _backup(self) -> tuple[Path | None, str]:
        with self.host.reach() as reach:
            obs = self.observe(reach)
        if obs.everywhere(lambda v: v.type == "etcdraft"):
            latest = self._latest_backup()
            return latest, "past it (every channel switched)" + (f"; backup {latest}" if latest else "")
        if not obs.everywhere(lambda v: v.state == MAINTENANCE):
            raise RuntimeFailure("backup: some channels are not in maintenance mode; run migrate again", self.log)
        if not self.take_backup:
            return None, "skipped (--no-backup): after the switch there is no way back to Kafka"
        heights = obs.heights()
        if (found := self._matching_backup(heights)) is not None:
            return found, f"already taken: {found}"
        dest = self.host.backups / time.strftime("kafka-to-raft-%Y%m%dT%H%M%SZ", time.gmtime())
        self.report.info("stopping the orderers, then the brokers (they flush their logs), then ZooKeeper")
        self.host.stop_orderers()
        self.host.stop_services()
        self.report.info(f"copying the data to {dest}")
        copied = self.host.backup(dest)
        manifest = {"heights": heights, "spec": self._spec_text(), "copied": copied,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        # Written last: a backup without its manifest is incomplete, and never used.
        (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
        self.report.info("starting ZooKeeper, the brokers and the orderers again")
        self.host.start_kafka()
        return dest, f"{dest} ({len(copied)} data dirs)"

    def _spec_text(self) -> str:
        return self.layout.spec_copy.read_text()

    def _manifests(self) -> list[tuple[Path, dict]]:
        return backup_manifests(self.host.backups, "kafka-to-raft")

    def _matching_backup(self, heights: dict[str, int]) -> Path | None:
        return next((d for d, m in reversed(self._manifests()) if m.get("heights") == heights), None)

    def _latest_backup(self) -> Path | None:
        found = self._manifests()
        return found[-1][0] if found else None

    # ------------------------------------------------------------ 4 switch
    @staticmethod
    def _any_switched(obs: Observed) -> bool:
        return any(obs.first(ch).type == "etcdraft" for ch in obs.channels)

    def _metadata(self) -> dict:
        spec = parse_spec(raft_spec_text(self._spec_text())).spec
        topo = build_topology(spec, self.layout.topo.target)
        return raft_model(topo.ordering).consensus_metadata(topo.orderers, self.layout.node_tls)

    def _switch(self, reach: list[OrdererReach]) -> str:
        obs = self.observe(reach)
        if obs.everywhere(lambda v: v.type == "etcdraft"):
            return f"{len(obs.channels)} channels already on etcdraft"
        if not obs.everywhere(lambda v: v.state == MAINTENANCE):
            raise RuntimeFailure("switch: some channels left maintenance mode; run migrate again", self.log)
        if self.take_backup and self._matching_backup(obs.heights()) is None and not self._any_switched(obs):
            raise RuntimeFailure("switch: no backup was taken; run migrate again", self.log)
        metadata = self._metadata()
        changed = 0
        for ch in obs.channels:
            view = obs.first(ch)
            if view.type == "etcdraft":
                continue
            self.report.info(f"{ch}: etcdraft, {len(metadata['consenters'])} consenters")
            new = view.config.with_consensus(type_="etcdraft", metadata=metadata)
            self._update(reach, view.config, new, lambda c: c.consensus.type == "etcdraft")
            changed += 1
        # The switch must be each channel's last block before the restart (Fabric: else "nodes will
        # most likely crash on restart").
        obs = self.observe(reach)
        late = [f"{ch} on {o}" for ch in obs.channels for o, v in obs.views[ch].items()
                if v.height != v.config.block_number + 1]  # fmt: skip
        if late and self.host.recorded_type == "kafka":
            raise RuntimeFailure(
                "switch: a block follows the switch on " + ", ".join(late) + "; the migration cannot go on: "
                "run `fabkube migrate --abort` to go back to Kafka from the backup",
                self.log,
            )
        done = len(obs.channels) - changed
        return f"{changed} channels switched" + (f", {done} already" if done else "")

    # ------------------------------------------------------------ 5 restart
    def _restart(self) -> str:
        host = self.host
        apps = [ch.name for ch in self.layout.topo.channels]
        if host.recorded_type == "raft" and self._raft_serving():
            return "already running as Raft"
        raft_text = raft_spec_text(self._spec_text()) if host.recorded_type == "kafka" else self._spec_text()
        self.report.info("stopping the orderers, then Kafka's services")
        host.stop_orderers()
        stopped = host.stop_services()
        # Recorded before the orderers start as Raft: from here the network opens as Raft.
        if host.recorded_type == "kafka":
            host.record_type("raft", raft_text)
        self.report.info("starting the orderers as Raft consenters; waiting for a leader on every channel")
        host.start_raft_orderers()
        with self.host.reach() as reach:
            wait_leaders(reach, lambda _r: self.ops_tls, apps, self.log)
        return f"orderers on Raft, each channel has a leader; stopped {', '.join(stopped) or 'nothing more'}"

    def _raft_serving(self) -> bool:
        """Every orderer is a Raft consenter of every channel (the participation API answers only
        on an orderer started with Raft's settings)."""
        try:
            with self.host.reach() as reach:
                tls = self.tls
                for r in reach:
                    for ch in self.layout.topo.channels:
                        info = channel_info(r.admin, tls, ch.name)
                        if not info or info.get("consensusRelation") != "consenter":
                            return False
        except RuntimeFailure:
            return False
        return True

    # ------------------------------------------------------------ 7 retire
    def _retire(self, reach: list[OrdererReach]) -> str:
        apps = [ch.name for ch in self.layout.topo.channels]
        removed = remove_system_channel(reach, self.configs, OrdererTls(self.layout), apps, self.report.info, self.log)
        note = self.host.remove_services()
        return (f"system channel removed from {', '.join(removed)}; " if removed else "") + note

    # ------------------------------------------------------------ abort
    def abort(self) -> str:
        with MigrationLock(self.layout.root / "migrate.lock"):
            return self._abort()

    def _abort(self) -> str:
        host = self.host
        if host.recorded_type == "raft" and self._finished():
            raise UserError("migrate --abort: the network already runs Raft out of maintenance; there is no way back")
        backup = self._latest_backup()
        try:
            host.ensure_running()
            with self.host.reach() as reach:
                obs = self.observe(reach)
        except RuntimeFailure:
            obs = None
        if obs is not None and obs.everywhere(lambda v: v.type == "kafka" and v.state == NORMAL):
            return "nothing to abort: the network runs Kafka and no channel is in maintenance"
        if obs is not None and obs.everywhere(lambda v: v.type == "kafka"):
            # Before the switch nothing needs restoring: leave maintenance on Kafka.
            with self.host.reach() as reach:
                detail = self._set_state(reach, obs, NORMAL, only_type="kafka")
            return f"back on Kafka without a restore: {detail}"
        if obs is not None and any(obs.first(ch).type == "etcdraft" and obs.first(ch).state == NORMAL
                                   for ch in obs.channels):  # fmt: skip
            raise UserError(
                "migrate --abort: a channel left maintenance on Raft and may have committed on it; there is no "
                "way back: run `fabkube migrate --to raft` to finish"
            )
        if backup is None:
            raise UserError("migrate --abort: channels were switched and no backup is there to restore")
        manifest = json.loads((backup / "manifest.json").read_text())
        with self.report.step(f"restore {backup}") as s:
            host.stop_orderers()
            host.stop_services()
            host.restore(backup)
            host.record_type("kafka", manifest["spec"])
            s.detail = "orderers', brokers' and ZooKeeper's data restored"
        with self.report.step("start ZooKeeper, Kafka and the orderers") as s:
            host.start_kafka()
        with self.host.reach() as reach:
            obs = self.observe(reach)
            with self.report.step("leave maintenance on Kafka") as s:
                s.detail = self._set_state(reach, obs, NORMAL, only_type="kafka")
        return f"back on Kafka from {backup}"
