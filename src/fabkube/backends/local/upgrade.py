"""A local network as an upgrade (or a move to BFT) drives it: each node stopped and started again
through the supervisor, as the work dir's spec now says (its version's binaries, its ordering
type's settings); its data dir copied while it is stopped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabkube.backends.local.network import LocalNetwork
from fabkube.generate import network_toolchain
from fabkube.migration.host import NodeReach, OrdererReach, UpgradeHost
from fabkube.reporter import Reporter
from fabkube.spec import parse_spec


class LocalUpgradeHost(UpgradeHost):
    def __init__(self, net: LocalNetwork, report: Reporter):
        self.net = net
        self.layout = net.layout
        self.tools = net.tools
        self.report = report

    @property
    def recorded_version(self) -> str:
        return self.net.topo.spec.fabric.version

    @contextmanager
    def reach(self) -> Iterator[list[OrdererReach]]:
        yield [OrdererReach(o.name, o.address, o.admin, o.operations) for o in self.net.topo.orderers]

    @contextmanager
    def nodes(self) -> Iterator[list[NodeReach]]:
        topo = self.net.topo
        yield [NodeReach(n.name, kind, n.org, n.operations)
               for kind, group in (("orderer", topo.orderers), ("peer", topo.peers)) for n in group]  # fmt: skip

    def ensure_running(self) -> list[str]:
        topo = self.net.topo
        stopped = [n.name for n in [*topo.orderers, *topo.peers] if not self.net.supervisor.running(n.name)]
        orderers = [n for n in stopped if n in {o.name for o in topo.orderers}]
        for group in (orderers, [n for n in stopped if n not in orderers]):
            if group:
                self.net.start_components(group)
        return stopped

    def stop_orderers(self) -> None:
        self.net.supervisor.stop_many([o.name for o in self.net.topo.orderers], timeout=20.0)

    def start_orderers(self) -> None:
        self.net.start_components([o.name for o in self.net.topo.orderers])

    def record_spec(self, spec_text: str) -> None:
        loaded = parse_spec(spec_text)
        for copy in (self.layout.root / "applied-spec.yaml", self.layout.spec_copy):
            if copy.is_file() or copy == self.layout.spec_copy:
                tmp = copy.with_suffix(".tmp")
                tmp.write_text(spec_text)
                tmp.replace(copy)
        tools = network_toolchain(loaded.spec).ensure(self.report.info)
        self.net = LocalNetwork(loaded, self.net.workdir, tools)
        self.layout, self.tools = self.net.layout, tools
        # Every orderer has every channel already: what `up` would join, it has (and a BFT orderer
        # is ready when each channel it joined is serviced).
        for ch in self.net.topo.channels:
            for o in self.net.topo.orderers:
                self.net.state.mark_done(f"orderer-join:{ch.name}:{o.name}")

    def roll(self, name: str, backup: Path | None) -> None:
        self.net.stop_components([name])
        if backup is not None:
            src, dest = self.layout.data_dir(name), backup / name
            if src.is_dir():
                # Renamed into place when whole: a copy an interruption cut short is never taken for one.
                part = dest.with_name(dest.name + ".partial")
                shutil.rmtree(part, ignore_errors=True)
                shutil.copytree(src, part, symlinks=True)
                shutil.rmtree(dest, ignore_errors=True)
                part.rename(dest)
        self.net.start_components([name])

    @property
    def backups(self) -> Path:
        return self.layout.root / "backups"
