"""A local network as a migration drives it: its processes stopped and started through the
supervisor, its data dirs copied under the work dir's backups/, its spec copy switched."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabkube.backends.local.network import LocalNetwork
from fabkube.consensus.local import local_part
from fabkube.generate import network_toolchain
from fabkube.migration.host import MigrationHost, OrdererReach
from fabkube.reporter import Reporter
from fabkube.spec import parse_spec


class LocalHost:
    """What the local hosts of a migration and of an upgrade share: the network, reached directly."""

    def __init__(self, net: LocalNetwork, report: Reporter):
        self.net = net
        self.layout = net.layout
        self.tools = net.tools
        self.report = report

    @contextmanager
    def reach(self) -> Iterator[list[OrdererReach]]:
        yield [OrdererReach(o.name, o.address, o.admin, o.operations) for o in self.net.topo.orderers]


class LocalMigrationHost(LocalHost, MigrationHost):
    @property
    def recorded_type(self) -> str:
        return self.net.topo.ordering.type

    def _start(self, kinds: list[str]) -> None:
        started: list[str] = []
        for kind in kinds:
            self.report.info(f"starting {kind} (if stopped) and waiting until it serves")
            self.net._start_kind(kind, self.report, started)

    def ensure_running(self) -> None:
        self._start([*(s.kind for s in self.net.ordering.stages), "orderer"])

    def _orderers(self) -> list[str]:
        return [o.name for o in self.net.topo.orderers]

    def stop_orderers(self) -> None:
        self.net.supervisor.stop_many(self._orderers(), timeout=20.0)

    def stop_services(self) -> list[str]:
        """Kafka's services, found among the recorded processes whatever the spec now says:
        brokers before ZooKeeper (a broker shutting down in a controlled way flushes its logs and
        hands leadership over while ZooKeeper still runs)."""
        sup = self.net.supervisor
        stopped = []
        for stage in reversed(local_part("kafka").stages):
            names = [n for n in list(sup.state.processes) if n.startswith(f"{stage.kind}-") and sup.running(n)]
            if names:
                sup.stop_many(names, timeout=45.0)
                stopped += names
        return stopped

    def start_kafka(self) -> None:
        self._start([*(s.kind for s in local_part("kafka").stages), "orderer"])

    def _service_names(self) -> list[str]:
        return [d.name for d in sorted((self.layout.root / "nodes").glob("*"))
                if d.name.startswith(("zookeeper-", "kafka-"))]  # fmt: skip

    def backup(self, dest: Path) -> list[str]:
        names = [*self._orderers(), *self._service_names()]
        dest.mkdir(parents=True, exist_ok=True)
        for name in names:
            src = self.layout.data_dir(name)
            if src.is_dir():
                target = dest / name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(src, target, symlinks=True)
        return names

    def restore(self, src: Path) -> None:
        for d in sorted(p for p in src.iterdir() if p.is_dir()):
            data = self.layout.data_dir(d.name)
            shutil.rmtree(data, ignore_errors=True)  # with it any Raft WAL and snapshot
            shutil.copytree(d, data, symlinks=True)

    def record_type(self, type_name: str, spec_text: str) -> None:
        assert parse_spec(spec_text).spec.ordering.type == type_name
        self.net = record_spec(self.net, spec_text, self.report, joined=type_name == "raft")
        self.layout, self.tools = self.net.layout, self.net.tools

    def start_raft_orderers(self) -> None:
        assert self.recorded_type == "raft"
        self._start(["orderer"])

    def remove_services(self) -> str:
        running = [n for n in self._service_names() if self.net.supervisor.running(n)]
        if running:
            self.stop_services()
        return "Kafka and ZooKeeper stopped and out of the network; their data stays under nodes/ until `down --purge`"

    @property
    def backups(self) -> Path:
        return self.layout.root / "backups"


def record_spec(net: LocalNetwork, spec_text: str, report: Reporter, joined: bool) -> LocalNetwork:
    """Make `spec_text` the work dir's spec (what `up` compares with first, then the spec copy,
    whose content says the move happened) and reopen the network as it; its toolchain ensured.
    `joined`: every orderer already has every channel (what `up` would join, it has)."""
    layout = net.layout
    for copy in (layout.root / "applied-spec.yaml", layout.spec_copy):
        if copy.is_file() or copy == layout.spec_copy:
            tmp = copy.with_suffix(".tmp")
            tmp.write_text(spec_text)
            tmp.replace(copy)
    loaded = parse_spec(spec_text)
    tools = network_toolchain(loaded.spec).ensure(report.info)  # Kafka's jars again for an abort, or a new Fabric
    reopened = LocalNetwork(loaded, net.workdir, tools)
    if joined:
        for ch in reopened.topo.channels:
            for o in reopened.topo.orderers:
                reopened.state.mark_done(f"orderer-join:{ch.name}:{o.name}")
    return reopened
