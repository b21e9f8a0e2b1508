"""Raft to BFT on Fabric 3, live, as Fabric's guide lays it out (docs/source/raft_bft_migration.md
and integration/raft/migration_test.go at 3.1.1; fabkube's reading: docs/fabric3-plan.md section 3).

Every phase reads the network first and does only what is left, so after an interruption the same
command finishes the job. Seven phases:

  1 check       every node on Fabric 3, every channel on etcdraft (or already BFT) at Channel
                capability V3_0 with Orderer V2_0, each orderer org's endpoints, the Raft consenters
                exactly the spec's orderers (the mapping must name the same hosts, ports and
                certificates), and the spec valid as BFT (at least 4 orderers)
  2 maintenance ConsensusType.state = STATE_MAINTENANCE on every channel, nothing else changed
  3 backup      orderers stopped, their data copied, started again (Raft, in maintenance)
  4 switch      type BFT with SmartBFT's options, the ConsenterMapping and the BFT BlockValidation
                policy, still in maintenance; each channel's last config, as Fabric requires
  5 restart     every orderer stopped, then started as a SmartBFT node; a BFT leader on every channel
  6 normal      STATE_NORMAL: transactions commit again, on BFT
  7 peers       each peer restarted in turn: a peer picks its block deliverer (BFT's checks the
                orderers' signatures) when a channel starts

The Orderers value, metadata and BlockValidation policy are what configtxgen makes for the same
orderers on BFT (a throwaway genesis block of the spec's channel profile): fabkube never encodes
a policy by hand. Before phase 6 ends, the backup and Fabric's rollback steps are the way back.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from fabkube.channel.config import FetchedConfig, orderer_admin_configs
from fabkube.channel.configtx import channel_profile, render_configtx
from fabkube.consensus.participation import BFT_LEADER, RAFT_LEADER
from fabkube.errors import RuntimeFailure, UserError
from fabkube.health import fabric_version, operations_tls
from fabkube.layout import Layout
from fabkube.migration.host import NodeReach, OrdererReach, UpgradeHost
from fabkube.migration.orderers import (
    MAINTENANCE,
    MIGRATION_ORDERER_CAPABILITIES,
    NORMAL,
    MigrationLock,
    OrdererTls,
    backup_manifests,
    ledger_heights,
    listed_channels,
    update_and_wait,
    wait_leaders,
    write_marker,
)
from fabkube.spec import parse_spec
from fabkube.topology import build_topology
from fabkube.waiting import wait_until

MARKER = "migrate-bft.json"  # peers still to restart after the switch


def bft_spec_text(text: str) -> str:
    """The spec on BFT (comments are lost: this is the work dir's copy)."""
    data = yaml.safe_load(text)
    data.setdefault("ordering", {})["type"] = "bft"
    return "# Written by `fabkube migrate --to bft`: the network's spec, now on BFT.\n" + yaml.safe_dump(
        data, sort_keys=False
    )


class RaftToBft:
    def __init__(self, host: UpgradeHost, backup: bool = True):
        self.host, self.take_backup = host, backup
        self.layout = host.layout
        self.report = host.report
        self.log = self.layout.log("migrate")
        self.maintenance_started: float | None = None
        self.channels: list[str] = [ch.name for ch in self.layout.topo.channels]
        self.values: dict | None = None  # what configtxgen writes for BFT, made in the check

    def configs(self):
        return orderer_admin_configs(self.layout, self.host.tools, self.log)

    @functools.cached_property
    def tls(self) -> OrdererTls:
        return OrdererTls(self.layout)

    def fetch_all(self, reach: list[OrdererReach]) -> dict[str, FetchedConfig]:
        configs = self.configs()
        return {ch: configs.fetch(ch, str(reach[0].address)) for ch in self.channels}

    @property
    def marker(self) -> Path:
        return self.layout.root / MARKER

    # ------------------------------------------------------------ the procedure
    def run(self) -> dict:
        with MigrationLock(self.layout.root / "migrate.lock"):
            return self._run()

    def _run(self) -> dict:
        started = time.monotonic()
        host = self.host
        if self.layout.topo.ordering.type not in ("raft", "bft"):
            raise UserError(f"migrate --to bft: the network orders with {self.layout.topo.ordering.type}; "
                            "only a Raft network on Fabric 3 moves to BFT")  # fmt: skip
        host.ensure_running()
        with host.reach() as reach:
            # Every channel of these orderers moves in the one window (Fabric's guide).
            self.channels = listed_channels(reach, self.tls, self.channels)[1]
            fetched = self.fetch_all(reach)
            if self._finished(fetched):
                return {"already": True}
            with self.report.step("1/7 check preconditions") as s:
                s.detail = self.check(reach, fetched)
            with self.report.step("2/7 maintenance mode on every channel") as s:
                s.detail, changed = self._set_state(reach, MAINTENANCE, "etcdraft")
            if changed:
                self.maintenance_started = time.monotonic()
        with self.report.step("3/7 back up the orderers") as s:
            backup, s.detail = self._backup()
        with host.reach() as reach, self.report.step("4/7 switch every channel to BFT") as s:
            s.detail = self._switch(reach)
        with self.report.step("5/7 restart the orderers as BFT consenters") as s:
            s.detail = self._restart()
        with host.reach() as reach, self.report.step("6/7 leave maintenance: transactions commit on BFT") as s:
            s.detail, _ = self._set_state(reach, NORMAL, "BFT")
        window = time.monotonic() - self.maintenance_started if self.maintenance_started else None
        with self.report.step("7/7 restart the peers (they choose BFT's block deliverer)") as s:
            s.detail = self._peers()
        return {"already": False, "backup": str(backup) if backup else None, "maintenance_seconds": window,
                "seconds": time.monotonic() - started}  # fmt: skip

    def _finished(self, fetched: dict[str, FetchedConfig]) -> bool:
        on_bft = all(f.consensus.type == "BFT" and f.consensus.state == NORMAL for f in fetched.values())
        return self.layout.topo.ordering.type == "bft" and on_bft and not self.marker.exists()

    # ------------------------------------------------------------ 1 check
    def check(self, reach: list[OrdererReach], fetched: dict[str, FetchedConfig]) -> str:
        problems: list[str] = []
        try:
            # What a new BFT network of this spec would be refused for (orderer count, tls, version).
            parse_spec(bft_spec_text(self.layout.spec_copy.read_text()))
        except UserError as exc:
            problems += [re.sub(r" \(line \d+\)", "", p) for p in exc.problems]
        with self.host.nodes() as nodes:
            versions = {n.name: fabric_version(n.operations, operations_tls(self.layout, n.org), 5) for n in nodes}
        old = [f"{n} {v or 'not answering'}" for n, v in versions.items() if not v or not v.startswith("3.")]
        if old:
            problems.append(f"{', '.join(old)}: BFT needs every node on Fabric 3: run `fabkube upgrade --fabric 3.1.1`")
        elif len(set(versions.values())) > 1:
            problems.append(f"nodes run {', '.join(sorted(set(versions.values())))}: BFT needs one Fabric version")
        # Fabric's maintenance filter compares the mapping with the Raft consenters: host, port and
        # both TLS certificates, byte for byte (orderer/common/msgprocessor/maintenancefilter.go).
        wanted = {
            (
                o.address.host,
                o.address.port,
                base64.b64encode((self.layout.node_tls(o) / "server.crt").read_bytes()).decode(),
            )
            for o in self.layout.topo.orderers
        }
        for ch, f in fetched.items():
            c = f.consensus
            if c.type not in ("etcdraft", "BFT"):
                problems.append(f"channel {ch}: consensus type {c.type}; only etcdraft moves to BFT")
                continue
            if "V3_0" not in f.capabilities(None):
                problems.append(f"channel {ch}: Channel capabilities {f.capabilities(None)}; BFT needs V3_0 "
                                "(`fabkube upgrade --fabric 3.1.1` raises it)")  # fmt: skip
            if not set(f.capabilities("Orderer")) & MIGRATION_ORDERER_CAPABILITIES:
                problems.append(f"channel {ch}: Orderer capabilities {f.capabilities('Orderer')}; the migration "
                                "needs V2_0")  # fmt: skip
            if c.type == "etcdraft":
                consenters = (c.metadata or {}).get("consenters", [])
                raft = {(x["host"], int(x["port"]), x.get("server_tls_cert", "")) for x in consenters}
                if raft != wanted or any(x.get("client_tls_cert") != x.get("server_tls_cert") for x in consenters):
                    listed = ", ".join(sorted(f"{h}:{p}" for h, p, _ in raft))
                    problems.append(
                        f"channel {ch}: its Raft consenters ({listed}) are not the spec's orderers with their current "
                        "TLS certificates; Fabric moves the same set: run `up` (or finish `certs renew`) first"
                    )
        if problems:
            raise UserError(["migrate: " + p for p in dict.fromkeys(problems)])
        # Made now, before anything changes: a configtxgen refusal stops the migration here.
        self.values = bft_orderer_values(self.bft_layout(), self.host.tools, self.channels[0], self.log)
        return f"{len(reach)} consenters on Fabric {sorted(set(versions.values()))[0]}, {len(fetched)} channels"

    # ------------------------------------------------------------ 2 and 6
    def _set_state(self, reach: list[OrdererReach], state: str, only_type: str) -> tuple[str, int]:
        changed = 0
        configs = self.configs()
        for ch, f in self.fetch_all(reach).items():
            if f.consensus.type != only_type or f.consensus.state == state:
                continue
            self.report.info(f"{ch}: {state}")
            # Through the first orderer, as Fabric's guide sends every step of one channel.
            update_and_wait(configs, reach, f, f.with_consensus(state=state),
                            lambda c, s=state: c.consensus.state == s, self.log)  # fmt: skip
            changed += 1
        left = len(self.channels) - changed
        return f"{changed} channels changed" + (f", {left} already" if left else ""), changed

    # ------------------------------------------------------------ 3 backup
    def _manifests(self) -> list[tuple[Path, dict]]:
        return backup_manifests(self.host.backups, "raft-to-bft")

    def _backup(self) -> tuple[Path | None, str]:
        with self.host.reach() as reach:
            fetched = self.fetch_all(reach)
            configs = self.configs()
            heights = {ch: configs.height(ch, str(reach[0].address)) for ch in self.channels}
        if any(f.consensus.type == "BFT" for f in fetched.values()):
            latest = self._manifests()[-1][0] if self._manifests() else None
            return latest, "past it (channels switched)" + (f"; backup {latest}" if latest else "")
        if not self.take_backup:
            return None, "skipped (--no-backup)"
        found = next((d for d, m in reversed(self._manifests()) if m.get("heights") == heights), None)
        if found is not None:
            return found, f"already taken: {found}"
        dest = self.host.backups / time.strftime("raft-to-bft-%Y%m%dT%H%M%SZ", time.gmtime())
        names = [o.name for o in self.layout.topo.orderers]
        self.report.info(f"stopping the orderers; copying their data to {dest}")
        self.host.stop_orderers()
        self.host.backup_nodes(names, dest)
        # Written last: a backup without its manifest is incomplete, and never used.
        (dest / "manifest.json").write_text(json.dumps({"heights": heights, "copied": names}, indent=2))
        self.host.start_orderers()
        with self.host.reach() as reach:
            wait_leaders(reach, self.tls.ops, self.channels, self.log, RAFT_LEADER)
        return dest, f"{dest} ({len(names)} orderers)"

    # ------------------------------------------------------------ 4 switch
    def _switch(self, reach: list[OrdererReach]) -> str:
        fetched = self.fetch_all(reach)
        todo = [ch for ch, f in fetched.items() if f.consensus.type == "etcdraft"]
        if not todo:
            return "every channel already on BFT"
        late = [ch for ch in todo if fetched[ch].consensus.state != MAINTENANCE]
        if late:
            raise RuntimeFailure(f"switch: {', '.join(late)} left maintenance mode; run migrate again", self.log)
        if self.take_backup and len(todo) == len(fetched) and not self._manifests():
            raise RuntimeFailure("switch: no backup was taken; run migrate again", self.log)
        values = self.values or bft_orderer_values(self.bft_layout(), self.host.tools, self.channels[0], self.log)
        configs = self.configs()
        for ch in todo:
            self.report.info(f"{ch}: BFT, {len(values['Orderers']['value']['consenter_mapping'])} consenters")
            update_and_wait(configs, reach, fetched[ch], switched(fetched[ch], values),
                            lambda c: c.consensus.type == "BFT", self.log)  # fmt: skip
        left = len(fetched) - len(todo)
        return f"{len(todo)} channels switched" + (f", {left} already" if left else "")

    def bft_layout(self) -> Layout:
        spec = parse_spec(bft_spec_text(self.layout.spec_copy.read_text())).spec
        return Layout(self.layout.root, build_topology(spec, self.layout.topo.target))

    # ------------------------------------------------------------ 5 restart
    def _restart(self) -> str:
        host = self.host
        if self.layout.topo.ordering.type == "bft" and self._bft_led():
            return "already running as BFT"
        if self.layout.topo.ordering.type != "bft":
            # Recorded before any orderer stops: from here every orderer starts as BFT, whatever
            # interrupts this; and the peers to restart once BFT serves.
            write_marker(self.marker, {"peers": [p.name for p in self.layout.topo.peers]})
            host.record_spec(bft_spec_text(self.layout.spec_copy.read_text()))
            self.layout = host.layout
        host.stop_orderers()
        self.report.info("starting the orderers as BFT consenters; waiting for a leader on every channel")
        host.start_orderers()
        with host.reach() as reach:
            wait_leaders(reach, self.tls.ops, self.channels, self.log, BFT_LEADER)
        return "every channel has a BFT leader"

    def _bft_led(self) -> bool:
        try:
            with self.host.reach() as reach:
                wait_leaders(reach, self.tls.ops, self.channels, self.log, BFT_LEADER, timeout=5)
        except RuntimeFailure:
            return False
        return True

    # ------------------------------------------------------------ 7 peers
    def _peers(self) -> str:
        if not self.marker.exists():
            return "already restarted"
        left = json.loads(self.marker.read_text())["peers"]
        with self.host.reach() as reach:
            last_config = {ch: f.block_number for ch, f in self.fetch_all(reach).items()}
        # Open while the peers are read (on Kubernetes the endpoints are port-forwards).
        with self.host.nodes() as nodes:
            by_name = {n.name: n for n in nodes}
            for name in list(left):
                if name in by_name:
                    # A peer picks its deliverer from the config it has when the channel starts: it
                    # must have committed the switch (peers get it only once maintenance ends) first.
                    self._wait_committed(by_name[name], last_config)
                    self.report.info(f"{name}: restart")
                    self.host.roll(name, None)
                left.remove(name)
                write_marker(self.marker, {"peers": left})
        self.marker.unlink()
        return "every peer restarted"

    def _wait_committed(self, node: NodeReach, last_config: dict[str, int]) -> None:
        channels = [ch.name for ch in self.layout.topo.channels if node.name in {p.name for p in ch.peers}]
        tls = operations_tls(self.layout, node.org)

        def behind() -> list[str]:
            heights = ledger_heights(node.operations, tls)
            return [ch for ch in channels if heights.get(ch, 0) <= last_config.get(ch, -1)]

        wait_until(lambda: not behind(), 120.0, f"{node.name} to commit the BFT config blocks", interval=0.5,
                   log=self.log, pending=lambda: "not yet on " + ", ".join(behind()))  # fmt: skip


def bft_orderer_values(layout: Layout, tools, channel: str, log: Path) -> dict:
    """The Orderer group's ConsensusType metadata, Orderers value and BlockValidation policy that
    configtxgen writes for `layout`'s orderers on BFT, read from a throwaway genesis block."""
    with tempfile.TemporaryDirectory(prefix="fabkube-bft-") as d:
        tmp = Path(d)
        (tmp / "configtx.yaml").write_text(yaml.safe_dump(render_configtx(layout), sort_keys=False))
        block = tmp / "block.pb"
        for argv in (
            [str(tools.bin("configtxgen")), "-configPath", d, "-profile", channel_profile(channel),
             "-channelID", channel, "-outputBlock", str(block)],
            [str(tools.bin("configtxlator")), "proto_decode", "--input", str(block), "--type", "common.Block",
             "--output", str(tmp / "block.json")],
        ):  # fmt: skip
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                raise RuntimeFailure(f"{Path(argv[0]).name} for the BFT values timed out after 60s", log) from None
            with log.open("a") as fh:
                fh.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n")
            if proc.returncode != 0:
                tool = Path(argv[0]).name
                raise RuntimeFailure(f"{tool} for the BFT values failed: {proc.stderr.strip()[-300:]}", log)
        config = json.loads((tmp / "block.json").read_text())["data"]["data"][0]["payload"]["data"]["config"]
    orderer = config["channel_group"]["groups"]["Orderer"]
    return {
        "metadata": orderer["values"]["ConsensusType"]["value"]["metadata"],
        "Orderers": orderer["values"]["Orderers"],
        "BlockValidation": orderer["policies"]["BlockValidation"],
    }


def switched(fetched: FetchedConfig, values: dict) -> dict:
    """The channel's config on BFT, still in maintenance: the type, SmartBFT's options, the
    ConsenterMapping and the BFT BlockValidation policy (the same update, as Fabric requires)."""
    new = copy.deepcopy(fetched.config)
    orderer = new["channel_group"]["groups"]["Orderer"]
    consensus = orderer["values"]["ConsensusType"]["value"]
    consensus["type"], consensus["metadata"] = "BFT", values["metadata"]
    orderer["values"]["Orderers"] = copy.deepcopy(values["Orderers"])
    policy = orderer["policies"]["BlockValidation"]
    policy["policy"] = copy.deepcopy(values["BlockValidation"]["policy"])
    return new
