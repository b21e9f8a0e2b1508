"""A local network as an upgrade (or a move to BFT) drives it: each node stopped and started again
through the supervisor, as the work dir's spec now says (its version's binaries, its ordering
type's settings); its data dir copied while it is stopped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabkube.backends.local.migration import LocalHost, record_spec
from fabkube.errors import RuntimeFailure
from fabkube.migration.host import NodeReach, UpgradeHost


class LocalUpgradeHost(LocalHost, UpgradeHost):
    @property
    def recorded_version(self) -> str:
        return self.net.topo.spec.fabric.version

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
        # A BFT orderer is ready when each channel it joined is serviced: all of them here.
        self.net = record_spec(self.net, spec_text, self.report, joined=True)
        self.layout, self.tools = self.net.layout, self.net.tools

    def running(self, name: str) -> bool:
        return self.net.supervisor.running(name)

    def stop_node(self, name: str) -> None:
        self.net.stop_components([name])

    def start_node(self, name: str) -> None:
        self.net.start_components([name])

    def backup_node(self, name: str, dest: Path) -> None:
        src, target = self.layout.data_dir(name), dest / name
        if not src.is_dir():
            return
        # Renamed into place when whole: a copy an interruption cut short is never taken for one.
        part = target.with_name(target.name + ".partial")
        try:
            shutil.rmtree(part, ignore_errors=True)
            shutil.copytree(src, part, symlinks=True)
            shutil.rmtree(target, ignore_errors=True)
            part.rename(target)
        except OSError as exc:
            raise RuntimeFailure(f"copying {src} to {target} failed: {exc}") from None

    @property
    def backups(self) -> Path:
        return self.layout.root / "backups"
