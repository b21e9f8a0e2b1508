"""What migrations and upgrades share: one of them per network at a time, and what orderers say
and do through their admin and operations endpoints (channels, leaders, versions, removing the
system channel)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fabkube.channel.config import ChannelConfigs, FetchedConfig
from fabkube.channel.configtx import SYSTEM_CHANNEL
from fabkube.consensus.participation import BFT_LEADER, RAFT_LEADER, leaders
from fabkube.errors import RuntimeFailure, UserError
from fabkube.health import operations_get, org_client_tls
from fabkube.layout import Layout
from fabkube.migration.host import OrdererReach
from fabkube.nodes import Org
from fabkube.waiting import wait_until

MAINTENANCE, NORMAL = "STATE_MAINTENANCE", "STATE_NORMAL"
# How an orderer's operations endpoint is read: its own org's TLS client (None: plain HTTP).
OpsTls = Callable[[OrdererReach], ssl.SSLContext | None]
UPDATE_WAIT = 90.0  # seconds for a config update to reach every orderer
# ConsensusTypeMigration() in common/capabilities/orderer.go: V1_4_2 or V2_0 on the Orderer group.
MIGRATION_ORDERER_CAPABILITIES = {"V1_4_2", "V2_0"}


class OrdererTls:
    """Each orderer's admin and operations endpoints trust only its own org's TLS CA: read them
    with that org's admin TLS client (several orderer orgs each have their own)."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _org(self, r: OrdererReach) -> Org:
        return next(o.org for o in self.layout.topo.orderers if o.name == r.name)

    def admin(self, r: OrdererReach) -> ssl.SSLContext:
        org = self._org(r)
        if org.name not in self._contexts:
            self._contexts[org.name] = org_client_tls(self.layout, org)
        return self._contexts[org.name]

    def ops(self, r: OrdererReach) -> ssl.SSLContext | None:
        return self.admin(r) if self.layout.topo.spec.tls else None


def listed_channels(reach: list[OrdererReach], tls: OrdererTls, known: list[str]) -> tuple[list[str], list[str]]:
    """(the orderers holding a system channel, the application channels): the spec's channels
    and any other an orderer lists, as the channel participation API says (an orderer's metrics
    keep naming a removed channel until it restarts)."""
    found: set[str] = set()
    holders = []
    for r in reach:
        listed = participation(r, tls.admin(r))
        if listed.get("systemChannel"):
            holders.append(r)
        found |= {c["name"] for c in listed.get("channels") or []}
    found.discard(SYSTEM_CHANNEL)
    return holders, [ch for ch in known if ch in found or not found] + sorted(found - set(known))


class MigrationLock:
    """One migration (or certificate renewal) per network at a time: a second one would interleave
    config updates and restarts."""

    def __init__(self, path: Path, what: str = "migration"):
        self.path, self.what = path, what
        self.fh = None

    def __enter__(self) -> MigrationLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = self.path.open("a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            raise UserError(f"a {holder.split(',')[0]} of this network is running ({holder}); wait for it") from None
        self.fh.truncate(0)
        self.fh.write(f"{self.what}, pid {os.getpid()}")
        self.fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        assert self.fh is not None
        self.fh.close()


def metric_channels(r: OrdererReach, tls: ssl.SSLContext | None) -> list[str]:
    text = operations_get(r.operations, "/metrics", tls, 5) or ""
    return sorted(set(re.findall(r'^ledger_blockchain_height\{channel="([^"]+)"\}', text, re.M)))


def numeric_version(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def participation(r: OrdererReach, tls: ssl.SSLContext) -> dict:
    """GET /participation/v1/channels: {"systemChannel": ..., "channels": [...]}; {} when the API
    is off (a Kafka orderer) or the orderer does not answer."""
    try:
        with urllib.request.urlopen(f"https://{r.admin}/participation/v1/channels", timeout=5, context=tls) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return {}


def remove_channel(r: OrdererReach, tls: ssl.SSLContext, channel: str) -> None:
    req = urllib.request.Request(f"https://{r.admin}/participation/v1/channels/{channel}", method="DELETE")
    try:
        with urllib.request.urlopen(req, timeout=60, context=tls) as resp:
            if resp.status not in (200, 204):
                raise RuntimeFailure(f"{r.name}: removing {channel} answered {resp.status}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # already gone
            return
        raise RuntimeFailure(f"{r.name}: removing {channel} answered {exc.code}: {exc.read()[:200]!r}") from None


def wait_leaders(reach: list[OrdererReach], tls_of: OpsTls, channels: list[str], log: Path,
                 metric: str = RAFT_LEADER, timeout: float = 120.0) -> None:  # fmt: skip
    """Until every channel has a leader, as the orderers' `metric` gauge says."""

    def missing() -> list[str]:
        led = {ch: False for ch in channels}
        for r in reach:
            for ch, is_leader in leaders(r.operations, tls_of(r), metric).items():
                if ch in led and is_leader:
                    led[ch] = True
        return [ch for ch, ok in led.items() if not ok]

    what = "a BFT leader" if metric == BFT_LEADER else "a Raft leader"
    wait_until(lambda: not missing(), timeout, f"{what} on every channel", interval=1.0, log=log,
               pending=lambda: "none yet on " + ", ".join(missing()))  # fmt: skip


def update_and_wait(configs: ChannelConfigs, reach: list[OrdererReach], fetched: FetchedConfig, new: dict,
                    holds: Callable[[FetchedConfig], bool], log: Path) -> None:  # fmt: skip
    """Submit a config update through the first orderer, then wait until every orderer has it."""
    ch = fetched.channel
    try:
        configs.update(fetched, new, str(reach[0].address))
    except RuntimeFailure:
        # A lost answer to an update that was applied: the config shows it; else it failed.
        if not holds(configs.fetch(ch, str(reach[0].address))):
            raise
    pending: list[str] = []

    def done() -> bool:
        pending.clear()
        for r in reach:
            try:
                now = configs.fetch(ch, str(r.address))
            except RuntimeFailure:
                pending.append(r.name)
                continue
            if now.block_number <= fetched.block_number or not holds(now):
                pending.append(r.name)
        return not pending

    wait_until(done, UPDATE_WAIT, f"the config update of {ch} on every orderer", interval=1.0, log=log,
               pending=lambda: "not yet on " + ", ".join(pending))  # fmt: skip


def remove_system_channel(
    reach: list[OrdererReach],
    configs: ChannelConfigs,
    tls: OrdererTls,
    apps: list[str],
    info: Callable[[str], None],
    log: Path,
) -> list[str]:
    """Fabric 2.5's way (create_channel_participation.md): the system channel into maintenance (no
    channel is created through it meanwhile), then removed from one orderer at a time, each
    orderer's channels led again before the next. Returns the orderers it was removed from."""
    holders, _ = listed_channels(reach, tls, apps)
    if not holders:
        return []
    if len(holders) == len(reach):
        # Read from and sent to an orderer that has it; once one has dropped it, it is past this.
        sys_view = configs.fetch(SYSTEM_CHANNEL, str(holders[0].address))
        if sys_view.consensus.state != MAINTENANCE:
            info(f"{SYSTEM_CHANNEL}: {MAINTENANCE}")
            new = sys_view.with_consensus(state=MAINTENANCE)
            update_and_wait(configs, holders, sys_view, new, lambda c: c.consensus.state == MAINTENANCE, log)
    removed: list[str] = []
    for r in holders:
        info(f"{r.name}: remove {SYSTEM_CHANNEL}")
        remove_channel(r, tls.admin(r), SYSTEM_CHANNEL)
        # The orderer halts and restarts every channel without it: wait for their leaders.
        wait_leaders(reach, tls.ops, apps, log)
        removed.append(r.name)
    return removed


def ledger_heights(ep, tls: ssl.SSLContext | None) -> dict[str, int]:
    """channel -> ledger height, from a node's metrics (orderers and peers both export it)."""
    text = operations_get(ep, "/metrics", tls, 5) or ""
    return {
        ch: int(float(v)) for ch, v in re.findall(r'^ledger_blockchain_height\{channel="([^"]+)"\} (\S+)$', text, re.M)
    }


def backup_manifests(backups: Path, prefix: str) -> list[tuple[Path, dict]]:
    """The complete backups named `prefix`-*, oldest first: each dir with its manifest (written
    last, so a backup an interruption cut short has none and is never used)."""
    out = []
    for m in sorted(backups.glob(f"{prefix}-*/manifest.json")):
        try:
            out.append((m.parent, json.loads(m.read_text())))
        except (OSError, ValueError):
            continue
    return out


def write_marker(path: Path, data: dict) -> None:
    """A progress file that a kill at any moment leaves whole, old or new: written beside it and
    renamed into place (an upgrade killed mid-write left an empty one)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
