"""The local backend: the whole network as processes on this machine.

`up` is an ordered list of named steps (like kind's create actions), each idempotent, so a
second `up` changes nothing and an `up` after a failure resumes where it stopped.
"""

from __future__ import annotations

import functools
import re
import shutil
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fabkube import health
from fabkube.backends.local.supervisor import Supervisor, tail
from fabkube.chaincode import source_dir
from fabkube.chaincode.ccaas_builder import install as install_builder
from fabkube.channel.configtx import SYSTEM_CHANNEL
from fabkube.components import KAFKA_ZK_SESSION_S, KIND_ORDER, Component, local_components
from fabkube.errors import RuntimeFailure, UserError
from fabkube.generate import generate
from fabkube.layout import Layout
from fabkube.ops.executor import LocalExecutor
from fabkube.ops.lifecycle import PeerCommand, invoke_args, package_chaincode, query_args, smoke_step
from fabkube.ops.lifecycle import plan as lifecycle_plan
from fabkube.reporter import Reporter, SilentReporter
from fabkube.spec import LoadedSpec
from fabkube.toolchain import Toolchain
from fabkube.topology import build_topology

KAFKA_REGISTRATION_RETRIES = 4  # x 7s covers Kafka's default 18s session from older data
# Generous: on a busy 2-core machine JVMs start slowly, and a Kafka orderer retries the brokers
# every 5 s (Kafka.Retry.ShortInterval) until its chain has started.
WAIT = {"zookeeper": 120.0, "kafka": 180.0, "orderer": 180.0, "peer": 120.0, "chaincode": 60.0}


@dataclass
class ComponentStatus:
    name: str
    kind: str
    pid: int | None
    address: str
    state: str


class LocalNetwork:
    def __init__(self, loaded: LoadedSpec, workdir: Path, tools: Toolchain | None = None, spec_dir: Path | None = None):
        self.loaded = loaded
        self.workdir = workdir.resolve()
        self.tools = tools or Toolchain(loaded.spec.fabric.version)
        self.layout = Layout(self.workdir, build_topology(loaded.spec, "local"))
        self.supervisor = Supervisor(self.layout)
        # Relative chaincode paths are relative to the spec the user wrote, not the work dir's copy.
        if spec_dir is not None:
            self.state.data["spec_dir"] = str(spec_dir)

    @property
    def topo(self):
        return self.layout.topo

    @property
    def state(self):
        return self.supervisor.state

    # ------------------------------------------------------------ components
    def _chaincode_dirs(self) -> dict[str, Path]:
        base = Path(self.state.data["spec_dir"]) if "spec_dir" in self.state.data else None
        return {cc.name: source_dir(cc.source, base) for cc in self.topo.chaincodes}

    def components(self) -> list[Component]:
        ids = {name: next(iter(by_org.values())) for name, by_org in self.state.data.get("package_ids", {}).items()}
        return local_components(self.layout, self.tools, ids, self._chaincode_dirs())

    def component(self, name: str) -> Component:
        for comp in self.components():
            if comp.name == name:
                return comp
        known = ", ".join(c.name for c in self.components())
        raise UserError(f"unknown component {name!r}; known: {known}")

    @functools.cached_property
    def _kafka_client_tls(self) -> ssl.SSLContext | None:
        """Brokers require a client certificate from the orderer org's TLS CA; built once, reused by every probe."""
        if not self.topo.spec.tls:
            return None
        d = self.layout.kafka_tls
        return health.client_tls(str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key"))

    def _probe(self, comp: Component) -> Callable[[], bool]:
        h = comp.health
        if h.kind == "zookeeper":
            return lambda: health.zookeeper_mode(h.endpoint) in ("leader", "follower", "standalone")
        if h.kind == "kafka":
            want = [k.broker_id for k in self.topo.kafkas]
            return lambda: health.kafka_brokers(h.endpoint, self._kafka_client_tls) == want
        if h.kind == "kafka-orderer":
            log = self.layout.log(comp.name)
            return lambda: health.kafka_orderer_started(
                h.endpoint, log, self.supervisor.log_offset(comp.name), self._orderer_channels()
            )
        if h.kind == "peer":
            assert h.operations is not None
            return lambda: health.tcp_open(h.endpoint) and health.http_ok(h.operations, "/healthz")
        return lambda: health.tcp_open(h.endpoint)

    def _orderer_channels(self) -> list[str]:
        """The channels an orderer starts a Kafka chain for: the system channel and each created one."""
        created = [ch.name for ch in self.topo.channels if self.state.is_done(f"channel-create:{ch.name}")]
        return [SYSTEM_CHANNEL, *created]

    def check_ports(self, comps: list[Component]) -> None:
        """Before anything starts: every port a stopped component needs must be free."""
        busy = [
            (c.name, ep)
            for c in comps
            if not self.supervisor.running(c.name)
            for ep in c.ports
            if not health.port_free(ep)
        ]
        if busy:
            name, ep = busy[0]
            more = f" (and {len(busy) - 1} more)" if len(busy) > 1 else ""
            raise UserError(
                f"local.basePort: port {ep.port} needed by {name} is already in use{more}; "
                "stop what holds it or choose another local.basePort"
            )

    def _start_kind(self, kind: str, report: Reporter, started: list[str]) -> str:
        comps = [c for c in self.components() if c.kind == kind]
        fresh = [c for c in comps if not self.supervisor.running(c.name)]
        for comp in fresh:
            self.supervisor.start(comp)
            started.append(comp.name)
        self._wait_ready(comps, report)
        return f"{len(comps)} running" + (f", {len(fresh)} started" if fresh else ", already up")

    def _wait_ready(self, comps: list[Component], report: Reporter) -> None:
        """Wait until every component's probe passes; fail fast, naming the log, if one exits."""
        retries = {c.name: 0 for c in comps}
        restart_at: dict[str, float] = {}
        deadline = time.monotonic() + max(WAIT[c.kind] for c in comps)
        while True:
            for comp in comps:
                if comp.name in restart_at:
                    if time.monotonic() >= restart_at[comp.name]:
                        del restart_at[comp.name]
                        self.supervisor.start(comp)
                    continue
                if self.supervisor.exited(comp.name):
                    # A broker restarted within ZooKeeper's session timeout finds its old
                    # registration still there and exits (NodeExists); once it expires it starts.
                    log = self.layout.log(comp.name)
                    recent = log.read_text(errors="replace")[-20000:] if log.exists() else ""
                    if (
                        comp.kind == "kafka"
                        and "NodeExists" in recent
                        and retries[comp.name] < KAFKA_REGISTRATION_RETRIES
                    ):
                        retries[comp.name] += 1
                        restart_at[comp.name] = time.monotonic() + KAFKA_ZK_SESSION_S + 1
                        deadline += KAFKA_ZK_SESSION_S + 1
                        report.info(f"{comp.name}: its old ZooKeeper registration has not expired yet, retrying")
                        continue
                    raise RuntimeFailure(f"{comp.name} exited while starting{tail(log)}", log)
            if not restart_at and all(self._probe(c)() for c in comps):
                return
            if time.monotonic() > deadline:
                waiting = [c.name for c in comps if not self._probe(c)()]
                name = waiting[0] if waiting else comps[0].name
                raise RuntimeFailure(f"{', '.join(waiting) or name} not ready in time", self.layout.log(name))
            time.sleep(0.5)

    # ------------------------------------------------------------ up
    def up(self, report: Reporter | None = None, lifecycle: bool = True) -> dict:
        """Start everything; with lifecycle=False stop short of channels and chaincode definitions."""
        report = report or SilentReporter()
        started: list[str] = []
        result: dict = {}
        self._ran: set[str] = set()
        try:
            with report.step("toolchain"):
                self.tools.ensure(report.info)
            with report.step("generate crypto and channel artifacts"):
                gen = generate(self.loaded, "local", self.workdir, self.tools)
                report.info(f"{gen.new_identities} new identities" if gen.new_identities else "reused crypto")
            self.check_ports(self.components())
            install_builder(self.layout.builders / "ccaas")
            for kind, title in (
                ("zookeeper", "ZooKeeper ensemble (quorum)"),
                ("kafka", "Kafka brokers (all registered)"),
                ("orderer", "orderers (Kafka chains started)"),
                ("peer", "peers (healthy, listening)"),
            ):
                if not any(c.kind == kind for c in self.components()):
                    continue
                with report.step(title) as s:
                    s.detail = self._start_kind(kind, report, started)
            executor = LocalExecutor(self.layout, self.tools)
            package_ids = {cc.name: package_chaincode(self.layout, cc) for cc in self.topo.chaincodes}
            self.state.data["package_ids"] = package_ids
            self.state.save()
            steps = lifecycle_plan(self.layout, package_ids)
            channel_steps = [s for s in steps if not s.id.startswith("cc-")]
            cc_steps = [s for s in steps if s.id.startswith("cc-")]
            if channel_steps and lifecycle:
                with report.step("channels: create, join, anchor peers") as s:
                    s.detail = self._run_steps(executor, channel_steps, report)
            if self.topo.chaincodes:
                with report.step("chaincode servers (CCaaS)") as s:
                    s.detail = self._start_kind("chaincode", report, started)
                if lifecycle:
                    with report.step("chaincode: install, approve, commit, init") as s:
                        s.detail = self._run_steps(executor, cc_steps, report)
            for cc in self.topo.chaincodes if lifecycle else []:
                smoke = smoke_step(self.layout, cc)
                if smoke:
                    # The initial value is only expected right after Init ran; later runs
                    # report the current value, which transactions may have moved.
                    if f"cc-init:{cc.name}:{cc.sequence}" not in self._ran:
                        for cmd in smoke.commands:
                            cmd.expect = None
                    with report.step(f"smoke query {cc.name}") as s:
                        value = executor.run_step(smoke)[0].output
                        s.detail = f"value is {value}"
                        result.setdefault("smoke", {})[cc.name] = value
        except BaseException:
            if started:
                report.info(f"stopping the {len(started)} components this run started")
                self._stop_ordered(started)
            raise
        result["components"] = len(self.components())
        return result

    def _run_steps(self, executor: LocalExecutor, steps, report: Reporter) -> str:
        ran = 0
        for step in steps:
            if self.state.is_done(step.id):
                continue
            report.info(step.title)
            executor.run_step(step)
            self.state.mark_done(step.id)
            self._ran.add(step.id)
            ran += 1
        return f"{ran} steps run, {len(steps) - ran} already done"

    # ------------------------------------------------------------ down
    def down(self, purge: bool = False, report: Reporter | None = None) -> None:
        report = report or SilentReporter()
        comps = self.components()
        with report.step("stop components"):
            self._stop_ordered([c.name for c in comps])
            # A pid recorded for a component no longer in the spec is stopped too.
            self.supervisor.stop_many(list(self.state.processes))
        if purge:
            with report.step(f"remove {self.workdir}"):
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_ordered(self, names: list[str]) -> None:
        """Reverse start order, one kind at a time: brokers deregister while ZooKeeper still runs."""
        kinds = {c.name: c.kind for c in self.components()}
        for kind in reversed(KIND_ORDER):
            group = [n for n in names if kinds.get(n) == kind]
            if group:
                self.supervisor.stop_many(group, timeout=45.0 if kind == "kafka" else 20.0)

    # ------------------------------------------------------------ status and use
    def status(self) -> list[ComponentStatus]:
        rows = []
        for comp in self.components():
            pid = self.supervisor.pid(comp.name)
            if pid is None:
                state = "stopped"
            else:
                state = "running" if self._probe(comp)() else "unhealthy"
            rows.append(ComponentStatus(comp.name, comp.kind, pid, comp.address, state))
        return rows

    def heights(self) -> dict[str, dict[str, int | None]]:
        """Ledger height of each running peer on each of its channels."""
        executor = LocalExecutor(self.layout, self.tools, attempts=1)
        out: dict[str, dict[str, int | None]] = {}
        for ch in self.topo.channels:
            for peer in ch.peers:
                height = None
                if self.supervisor.running(peer.name):
                    try:
                        res = executor.run(
                            PeerCommand(["channel", "getinfo", "-c", ch.name], peer.org.name, peer.name, retry=False),
                            timeout=20,
                        )
                        m = re.search(r'"height":(\d+)', res.output)
                        height = int(m.group(1)) if m else None
                    except RuntimeFailure:
                        height = None
                out.setdefault(peer.name, {})[ch.name] = height
        return out

    def _chaincode(self, name: str):
        for cc in self.topo.chaincodes:
            if cc.name == name:
                return cc
        known = ", ".join(c.name for c in self.topo.chaincodes) or "(none)"
        raise UserError(f"unknown chaincode {name!r}; known: {known}")

    def _require_running(self, names: list[str]) -> None:
        """The components a call talks to must run; others (a crashed broker) may be down."""
        down = [n for n in names if not self.supervisor.running(n)]
        if down:
            raise RuntimeFailure(f"the network is not running ({', '.join(down[:4])} stopped): run `fabkube up`")

    def invoke(
        self, chaincode: str, args: list[str], wait: bool = True, orderer: int = 0, peer: str | None = None
    ) -> str:
        cc = self._chaincode(chaincode)
        org = cc.orgs[0]
        target = peer or self.topo.org_peers(org)[0].name
        endorsers = [self.topo.org_peers(o)[0].name for o in cc.orgs]
        orderer_name = self.topo.orderers[orderer % len(self.topo.orderers)].name
        self._require_running([f"chaincode-{cc.name}", orderer_name, *endorsers])
        argv = invoke_args(self.layout, cc, args, orderer=orderer, wait=wait)
        res = LocalExecutor(self.layout, self.tools, attempts=5).run(PeerCommand(argv, org.name, target))
        return res.output

    def query(self, chaincode: str, args: list[str], peer: str | None = None) -> str:
        cc = self._chaincode(chaincode)
        node = self._peer(peer) if peer else self.topo.org_peers(cc.orgs[0])[0]
        self._require_running([f"chaincode-{cc.name}", node.name])
        if peer and node.org.name not in {o.name for o in cc.orgs}:
            raise UserError(f"--peer {peer}: that peer's org is not on channel {cc.channel}")
        return (
            LocalExecutor(self.layout, self.tools, attempts=3)
            .run(
                PeerCommand(
                    query_args(cc, args),
                    node.org.name,
                    node.name,
                )
            )
            .output
        )

    def _peer(self, name: str):
        for p in self.topo.peers:
            if p.name == name:
                return p
        raise UserError(f"unknown peer {name!r}; known: {', '.join(p.name for p in self.topo.peers)}")

    def stop_components(self, names: list[str]) -> None:
        for name in names:
            self.component(name)
        self._stop_ordered(names)

    def start_components(self, names: list[str]) -> None:
        """Start the stopped ones together, then wait until all are ready (brokers need each other)."""
        comps = [self.component(name) for name in names]
        for comp in comps:
            if not self.supervisor.running(comp.name):
                self.supervisor.start(comp)
        self._wait_ready(comps, SilentReporter())
