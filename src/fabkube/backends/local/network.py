"""The local backend: the whole network as processes on this machine.

`up` is an ordered list of named steps (like kind's create actions), each idempotent, so a
second `up` changes nothing and an `up` after a failure resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fabkube import health
from fabkube.backends.actions import Action, run
from fabkube.backends.base import (
    ComponentStatus,
    Network,
    NetworkStatus,
    OrgConnection,
    PeerConnection,
    UpOptions,
    UpResult,
)
from fabkube.backends.local.supervisor import Supervisor, last_lines, tail
from fabkube.chaincode import BUILTINS, build, language, source_dir, unsupported_reason
from fabkube.chaincode.ccaas_builder import install as install_builder
from fabkube.channel.configtx import SYSTEM_CHANNEL
from fabkube.components import Component, local_components
from fabkube.consensus.local import Stage, local_part
from fabkube.errors import RuntimeFailure, UserError
from fabkube.generate import Existing, generate, network_toolchain
from fabkube.layout import Layout, purge_workdir
from fabkube.ops.commands import OsnChannelJoin
from fabkube.ops.executor import LocalExecutor
from fabkube.ops.lifecycle import PeerCommand, Step, admin_target, invoke_args, package_chaincode, smoke_step
from fabkube.ops.lifecycle import plan as lifecycle_plan
from fabkube.reconcile.plan import Plan
from fabkube.reporter import Reporter, SilentReporter
from fabkube.spec import LoadedSpec
from fabkube.toolchain import Toolchain
from fabkube.topology import build_topology
from fabkube.waiting import wait_until

# Local ports in blocks (spec.local_blocks); networks from before it numbered peers, then chaincode
# servers, in spec order, and have no port_layout in their state.
PORT_LAYOUT = 2
RESTART_RETRIES = 4  # for a service the ordering type says may start after a delay (e.g. 4 x 7s for Kafka)

# Fabric's own stages after the orderers; the ordering type's local part gives its services' and its orderers'.
PEERS = Stage("peer", "peers (healthy, listening)", 120.0, "/healthz and its gRPC port")
CHAINCODE = Stage("chaincode", "chaincode servers (CCaaS)", 60.0, "its port")
FABRIC_KINDS = ("orderer", "peer", "chaincode")


@dataclass
class UpContext:
    """What the actions of one local `up` share."""

    net: LocalNetwork
    report: Reporter
    options: UpOptions
    started: list[str] = field(default_factory=list)  # stopped again if the run fails
    ran: set[str] = field(default_factory=set)  # lifecycle step IDs this run executed
    steps: list[Step] = field(default_factory=list)
    result: UpResult = field(default_factory=lambda: UpResult(""))
    plan: Plan = field(default_factory=Plan)

    @functools.cached_property
    def executor(self) -> LocalExecutor:
        return LocalExecutor(self.net.layout, self.net.tools)


class LocalNetwork(Network):
    target = "local"

    def __init__(self, loaded: LoadedSpec, workdir: Path, tools: Toolchain | None = None, spec_dir: Path | None = None):
        super().__init__(loaded, workdir)
        self.tools = tools or network_toolchain(loaded.spec)
        self.layout = Layout(self.workdir, build_topology(loaded.spec, "local"))
        self.ordering = local_part(self.topo.ordering.type)  # how the ordering type runs here
        self.stages = {s.kind: s for s in (*self.ordering.stages, self.ordering.orderer, PEERS, CHAINCODE)}
        self.supervisor = Supervisor(self.layout)
        self._components: tuple[tuple, list[Component]] | None = None
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
        """Every component, built once per set of package IDs (building reads config files)."""
        ids = {name: next(iter(by_org.values())) for name, by_org in self.state.data.get("package_ids", {}).items()}
        key = tuple(sorted(ids.items()))
        if self._components is None or self._components[0] != key:
            services = self.ordering.services(self.layout, self.tools)
            fabric = local_components(self.layout, self.tools, ids, self._chaincode_dirs())
            self._components = (key, services + fabric)
        return self._components[1]

    def check_chaincode_sources(self) -> None:
        """Before anything is written: every chaincode directory is in a language fabkube serves."""
        problems = []
        dirs = self._chaincode_dirs()
        for i, cc in enumerate(self.topo.chaincodes):
            path = dirs[cc.name]
            if (reason := unsupported_reason(path)) is not None:
                builtins = ", ".join(f"builtin:{b}" for b in BUILTINS)
                problems.append(f"chaincodes[{i}].path: {path} {reason}; allowed: such a directory, or {builtins}")
        if problems:
            raise UserError(problems)

    def built_chaincodes(self) -> dict[str, Path]:
        """Chaincodes whose language needs a build before it serves (Go, JavaScript/TypeScript, Java)."""
        return {name: d for name, d in self._chaincode_dirs().items() if language(d) not in (None, "python")}

    def component(self, name: str) -> Component:
        for comp in self.components():
            if comp.name == name:
                return comp
        known = ", ".join(c.name for c in self.components())
        raise UserError(f"unknown component {name!r}; known: {known}")

    def _probe(self, comp: Component) -> Callable[[], bool]:
        """A readiness check of `comp`; what it needs from the crypto is read at its first call (a
        probe may be made before the network's crypto exists)."""
        h = comp.health
        if comp.kind in (s.kind for s in self.ordering.stages):
            return self.ordering.service_ready(comp, self.layout)
        if h.kind in ("orderer", "peer"):
            node = next(n for n in [*self.topo.orderers, *self.topo.peers] if n.name == comp.name)
            ops_tls = functools.cache(lambda: health.operations_tls(self.layout, node.org))
        if h.kind == "orderer":
            log = self.layout.log(comp.name)
            return lambda: self.ordering.orderer_ready(
                node, log, self.supervisor.log_offset(comp.name), self._orderer_channels(node.name), ops_tls()
            )
        if h.kind == "peer":
            assert h.operations is not None
            return lambda: health.tcp_open(h.endpoint) and health.operations_ok(h.operations, "/healthz", ops_tls())
        return lambda: health.tcp_open(h.endpoint)

    def ordering_hint(self) -> str:
        names = [o.name for o in self.topo.orderers]
        stopped = [n for n in names if not self.supervisor.running(n)]
        needed = self.topo.ordering.quorum(len(names))
        if len(names) - len(stopped) >= needed:
            return ""
        rule = f"{self.topo.ordering.title} orders only with {needed} of {len(names)} running" if needed > 1 else ""
        return (
            f"{len(stopped)} of {len(names)} orderers are stopped ({', '.join(stopped)})"
            + (f": {rule}" if rule else "")
            + f"; start them with `fabkube start {' '.join(stopped)}`"
        )

    def _orderer_channels(self, orderer: str) -> list[str]:
        """The channels an orderer serves: the system channel and each created one, or (without a
        system channel) each one it joined."""
        if not self.topo.ordering.system_channel:
            return [ch.name for ch in self.topo.channels if self.state.is_done(f"orderer-join:{ch.name}:{orderer}")]
        created = [ch.name for ch in self.topo.channels if self.state.is_done(f"channel-create:{ch.name}")]
        return [SYSTEM_CHANNEL, *created]

    def check_port_layout(self) -> None:
        """A network brought up by a fabkube that numbered local ports otherwise keeps them only
        with that fabkube: here its peers and chaincode servers would move."""
        if self.was_up() and self.state.data.get("port_layout") != PORT_LAYOUT:
            raise UserError(
                f"local.basePort: network {self.name} ({self.workdir}) was brought up by an earlier fabkube that "
                "numbered local ports otherwise; here its peers and chaincode servers would move (their addresses "
                "are in channel configs and packages): `fabkube down --purge` it and `up` again"
            )

    def was_up(self) -> bool:
        return bool(self.state.data["done"] or self.state.processes)

    def existing(self) -> Existing:
        """Channels the network made (created, or joined by an orderer), and whether the orderers
        bootstrapped from a system channel's genesis block (any of them ever ran)."""
        done = self.state.data["done"]
        channels = {s.split(":")[1] for s in done if s.startswith(("channel-create:", "orderer-join:"))}
        genesis = any(self.layout.data_dir(o.name).exists() for o in self.topo.orderers)
        return Existing(frozenset(channels), genesis)

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
            # Ctrl-C between the fork and the bookkeeping would orphan the process: hold it until
            # the component is on the list of what this run stops when it fails.
            with interrupts_deferred():
                self.supervisor.start(comp)
                started.append(comp.name)
        self._wait_ready(comps, report)
        return f"{len(comps)} running" + (f", {len(fresh)} started" if fresh else ", already up")

    def _wait_ready(self, comps: list[Component], report: Reporter) -> None:
        """Wait until every component's probe passes; fail fast, naming the log, if one exits."""
        retries = {c.name: 0 for c in comps}
        restart_at: dict[str, float] = {}
        deadline = time.monotonic() + max(self.stages[c.kind].wait for c in comps)
        while True:
            for comp in comps:
                if comp.name in restart_at:
                    if time.monotonic() >= restart_at[comp.name]:
                        del restart_at[comp.name]
                        self.supervisor.start(comp)
                    continue
                if self.supervisor.exited(comp.name):
                    log = self.layout.log(comp.name)
                    recent = log.read_text(errors="replace")[-20000:] if log.exists() else ""
                    delay = self.ordering.restart_delay(comp, recent)
                    if delay is not None and retries[comp.name] < RESTART_RETRIES:
                        retries[comp.name] += 1
                        restart_at[comp.name] = time.monotonic() + delay
                        deadline += delay
                        report.info(f"{comp.name} exited while starting and can start again in {delay:.0f}s: retrying")
                        continue
                    raise RuntimeFailure(f"{comp.name} exited while starting{tail(log)}", log)
            if not restart_at and all(self._probe(c)() for c in comps):
                return
            if time.monotonic() > deadline:
                waiting = [c.name for c in comps if not self._probe(c)()]
                name = waiting[0] if waiting else comps[0].name
                stage = self.stages[comps[0].kind]
                raise RuntimeFailure(
                    f"{', '.join(waiting) or name} not ready after {stage.wait:.0f}s (waited for {stage.ready_means})",
                    self.layout.log(name),
                )
            time.sleep(0.5)

    # ------------------------------------------------------------ up
    def actions(self) -> list[Action[UpContext]]:
        """The ordered actions of `up`; each is idempotent, so a second `up` changes nothing."""
        out: list[Action[UpContext]] = [
            Action("toolchain", _ensure_toolchain),
            Action("generate crypto and channel artifacts", _generate),
            Action("build chaincode", _build_chaincode, lambda ctx: bool(ctx.net.built_chaincodes())),
        ]
        for stage in (*self.ordering.stages, self.ordering.orderer, PEERS):
            out.append(Action(stage.title, _starter(stage.kind), lambda ctx, k=stage.kind: _has_kind(ctx, k)))
        lifecycle = lambda ctx: ctx.options.lifecycle  # noqa: E731
        channels = (
            "channels: create, join, anchor peers"
            if self.topo.ordering.system_channel
            else "channels: orderers join, peers join"
        )
        if not self.topo.ordering.system_channel:
            out.append(Action("consenters: new orderers join running channels", _grow_consenters, lifecycle))
        out.append(
            Action("organizations: new orgs into running channels", _add_orgs,
                   lambda c: lifecycle(c) and c.plan.checks_members())
        )  # fmt: skip
        out += [
            Action(channels, _channel_steps, lambda c: lifecycle(c) and _channels(c)),
            Action(CHAINCODE.title, _start_chaincode, lambda ctx: bool(ctx.net.topo.chaincodes)),
            Action(
                "chaincode: install, approve, commit, init",
                _chaincode_steps,
                lambda c: lifecycle(c) and bool(c.net.topo.chaincodes),
            ),
            Action("gossip: peers know each other", _gossip, lambda c: lifecycle(c) and _multi_peer_channels(c)),
        ]
        for cc in self.topo.chaincodes:
            if smoke_step(self.layout, cc) is not None:
                out.append(Action(f"smoke query {cc.name}", _smoke(cc.name), lifecycle))
        return out

    def up(self, report: Reporter | None = None, options: UpOptions | None = None) -> UpResult:
        """Start everything; with options.lifecycle False stop short of channels and chaincode definitions."""
        ctx = UpContext(self, report or SilentReporter(), options or UpOptions())
        ctx.plan = self.check_plan(ctx.report)
        self.check_port_layout()
        self.check_chaincode_sources()
        try:
            run(self.actions(), ctx, ctx.report)
        except BaseException:
            if ctx.started:
                ctx.report.info(f"stopping the {len(ctx.started)} components this run started")
                self._stop_ordered(ctx.started)
            raise
        if ctx.options.lifecycle:
            self.record_applied()
        ctx.result.details["components"] = len(self.components())
        ctx.result.summary = f"network {self.name} is up (work dir {self.workdir})"
        return ctx.result

    def _run_steps(self, ctx: UpContext, steps: list[Step]) -> str:
        ran = 0
        for step in steps:
            if self.state.is_done(step.id):
                continue
            ctx.report.info(step.title)
            try:
                results = ctx.executor.run_step(step)
                if any(r.output != "already done" for r in results):
                    ctx.ran.add(step.id)
                ran += 1
            except RuntimeFailure:
                # The work dir's record is a cache of the step's own done_if check (the one the Job
                # script asks first): a step done before the record was kept is done, not failed.
                if step.done_if is None or not ctx.executor.holds(step.done_if):
                    raise
                ctx.report.info(f"{step.title}: already done")
            self.state.mark_done(step.id)
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
                left = purge_workdir(self.workdir)
                if left:
                    report.info(f"kept {', '.join(left[:5])} in {self.workdir}: not fabkube's")

    def _stop_ordered(self, names: list[str]) -> None:
        """Reverse start order, one kind at a time: brokers deregister while ZooKeeper still runs."""
        kinds = {c.name: c.kind for c in self.components()}
        services = tuple(s.kind for s in self.ordering.stages)
        for kind in reversed((*services, *FABRIC_KINDS)):
            group = [n for n in names if kinds.get(n) == kind]
            if group:
                # Brokers shut down in a controlled way (leadership moves): give them longer.
                self.supervisor.stop_many(group, timeout=45.0 if kind in services else 20.0)

    # ------------------------------------------------------------ status and use
    def status(self) -> NetworkStatus:
        rows = []
        for comp in self.components():
            pid = self.supervisor.pid(comp.name)
            if pid is None:
                state = "stopped"
            else:
                state = "running" if self._probe(comp)() else "unhealthy"
            fabric = self._fabric(comp, state)
            rows.append(ComponentStatus(comp.name, comp.kind, state, comp.address, pid, fabric=fabric))
        channels = [ch.name for ch in self.topo.channels]
        orderers = {
            o.name: by
            for o in self.topo.orderers
            if self.supervisor.running(o.name) and (by := self.ordering.orderer_channels(self.layout, o, channels))
        }
        status = NetworkStatus(self.name, self.target, str(self.workdir), rows, self.heights(), orderers)
        serving = next((o for o in self.topo.orderers if self.supervisor.running(o.name)), None)
        if serving is not None:
            status.channels = self.channel_summaries(str(serving.address))
        return status

    def _fabric(self, comp: Component, state: str) -> str:
        node = next((n for n in [*self.topo.orderers, *self.topo.peers] if n.name == comp.name), None)
        if state != "running" or node is None:
            return ""
        return health.fabric_version(node.operations, health.operations_tls(self.layout, node.org)) or ""

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

    def _log_of(self, name: str) -> Path:
        if name != "lifecycle":
            self.component(name)
        log = self.layout.log(name)
        if not log.exists():
            raise UserError(f"{name} has no log yet ({log})")
        return log

    def logs(self, name: str, lines: int = 50) -> str:
        return last_lines(self._log_of(name), lines)

    def follow(self, name: str) -> Iterator[str]:
        with self._log_of(name).open(errors="replace") as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    yield line
                else:
                    time.sleep(0.3)

    def _require_running(self, names: list[str]) -> None:
        """The components a call talks to must run; others (a crashed broker) may be down."""
        down = [n for n in names if not self.supervisor.running(n)]
        if down:
            raise RuntimeFailure(f"the network is not running ({', '.join(down[:4])} stopped): run `fabkube up`")

    def invoke_through_orderer(self, chaincode: str, args: list[str], orderer: int, wait: bool) -> str:
        """The peer CLI, submitting through one chosen orderer (to exercise each of them)."""
        cc = self.chaincode_info(chaincode)
        org = cc.orgs[0]
        endorsers = [self.topo.org_peers(o)[0].name for o in cc.orgs]
        orderer_name = self.topo.orderers[orderer % len(self.topo.orderers)].name
        self._require_running([f"chaincode-{cc.name}", orderer_name, *endorsers])
        argv = invoke_args(self.layout, cc, args, orderer_index=orderer, wait=wait)
        res = LocalExecutor(self.layout, self.tools, attempts=5).run(PeerCommand(argv, org.name, endorsers[0]))
        return res.output

    @contextmanager
    def dial(self, peer: PeerConnection) -> Iterator[str]:
        self._require_running([peer.name])
        yield peer.address

    def watch(self):
        from fabkube.backends.local.watch import LocalWatch

        return LocalWatch(self)

    def processes(self) -> dict[str, int]:
        return {c.name: pid for c in self.components() if (pid := self.supervisor.pid(c.name))}

    def peer_log_hint(self, peer: str) -> Path | None:
        return self.layout.log(peer)

    def connection(self, org: str) -> OrgConnection:
        o = self.topo.org(org)
        tls = self.layout.tls_ca(o) if self.topo.spec.tls else None
        peers = [PeerConnection(p.name, str(p.address), tls, p.fqdn) for p in self.topo.org_peers(o)]
        return OrgConnection(o.name, o.msp_id, self.layout.admin_msp(o), peers)

    def stop_components(self, names: list[str]) -> None:
        for name in names:
            self.component(name)
        self._stop_ordered(names)

    def _renew_certificates(self, within, report: Reporter):
        from fabkube.backends.local.renewal import renew_local

        return renew_local(self, within, report)

    def start_components(self, names: list[str]) -> None:
        """Start the stopped ones together, then wait until all are ready (brokers need each other)."""
        comps = [self.component(name) for name in names]
        for comp in comps:
            if not self.supervisor.running(comp.name):
                self.supervisor.start(comp)
        self._wait_ready(comps, SilentReporter())


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """A Ctrl-C during the block is held and raised when it ends. (A Python-level handler: children
    exec'd meanwhile keep default signal handling, unlike with a blocked signal mask.) Where SIGINT
    is ignored (a background job of a script inherits that), it stays ignored here too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held and previous != signal.SIG_IGN:
            if callable(previous):
                previous(*held[0])
            else:
                raise KeyboardInterrupt


# ---------------------------------------------------------------- the actions of `up`
def _ensure_toolchain(ctx: UpContext) -> str:
    ctx.net.tools.ensure(ctx.report.info)
    return ""


def _generate(ctx: UpContext) -> str:
    net = ctx.net
    gen = generate(net.loaded, "local", net.workdir, net.tools, existing=net.existing())
    if not net.was_up():  # a new network: its ports are numbered in blocks from the start
        net.state.data["port_layout"] = PORT_LAYOUT
        net.state.save()
    net._components = None  # built before the crypto existed: build again
    net.check_ports(net.components())
    install_builder(net.layout.builders / "ccaas")
    return f"{gen.new_identities} new identities" if gen.new_identities else "reused crypto"


def _build_chaincode(ctx: UpContext) -> str:
    built = []
    for name, directory in ctx.net.built_chaincodes().items():
        lang = language(directory)
        ctx.report.info(f"build {name} ({lang}, {directory})")
        build(ctx.net.tools, directory, ctx.net.layout.log(f"build-{name}"))
        built.append(f"{name} ({lang})")
    return ", ".join(built)


def _has_kind(ctx: UpContext, kind: str) -> bool:
    return any(c.kind == kind for c in ctx.net.components())


def _starter(kind: str) -> Callable[[UpContext], str]:
    return lambda ctx: ctx.net._start_kind(kind, ctx.report, ctx.started)


def _start_chaincode(ctx: UpContext) -> str:
    _plan(ctx)  # the servers serve the package IDs that packaging computes
    return ctx.net._start_kind("chaincode", ctx.report, ctx.started)


def _plan(ctx: UpContext) -> list[Step]:
    """The lifecycle steps; packaging first, since package IDs are part of the plan."""
    if not ctx.steps:
        net = ctx.net
        package_ids = {cc.name: package_chaincode(net.layout, cc) for cc in net.topo.chaincodes}
        net.state.data["package_ids"] = package_ids
        net.state.save()
        ctx.steps = lifecycle_plan(net.layout, package_ids)
    return ctx.steps


def _grow_consenters(ctx: UpContext) -> str:
    """Orderers the spec added since the channels were made join them as consenters, one at a time
    (a fresh network has no channel yet: its orderers join from the genesis blocks, next)."""
    from fabkube.channel.config import orderer_admin_configs
    from fabkube.consensus.raft.membership import Membership

    net = ctx.net
    layout = net.layout
    pending = [
        ch.name
        for ch in net.topo.channels
        if not all(net.state.is_done(f"orderer-join:{ch.name}:{o.name}") for o in net.topo.orderers)
    ]
    joined = [ch for ch in pending if any(net.state.is_done(f"orderer-join:{ch}:{o.name}") for o in net.topo.orderers)]
    if not joined:
        return "no running channel lacks an orderer"

    def join(node, channel: str, block: Path) -> None:
        target = admin_target(layout, node)
        args = OsnChannelJoin(channel, str(block), target).args()
        ctx.executor.run(PeerCommand(args, node.org.name, expect="Status: 201", already="Status: 405", tool="osnadmin"))

    members = Membership(
        layout, orderer_admin_configs(layout, net.tools, layout.log("lifecycle")), join, ctx.report.info
    )
    added = []
    for ch in joined:
        for name in members.grow(ch):
            net.state.mark_done(f"orderer-join:{ch}:{name}")
            added.append(f"{name} on {ch}")
    return ", ".join(added) or "every orderer is a consenter already"


def _add_orgs(ctx: UpContext) -> str:
    """Orgs the spec added: into the consortium (with a system channel, so later channels may name
    them), then into each running channel's config, before their peers join."""
    from fabkube.reconcile.members import Members

    net = ctx.net
    members = Members(net.layout, net.tools, net.layout.log("lifecycle"), ctx.report.info)
    orderer = str(net.topo.orderers[0].address)
    done = []
    if net.topo.ordering.system_channel and ctx.plan.new_orgs():
        done += [f"{o} to the consortium" for o in members.add_to_consortium(orderer)]
    running = net.existing().channels
    check = ctx.plan.channels_to_check()
    for ch in net.topo.channels:
        if ch.name in running and (check is None or ch.name in check):
            done += [f"{o} to {ch.name}" for o in members.add_to_channel(ch, orderer)]
    return ", ".join(done) or "every org is in its channels already"


def _channels(ctx: UpContext) -> bool:
    return any(not s.id.startswith("cc-") for s in _plan(ctx))


def _channel_steps(ctx: UpContext) -> str:
    return ctx.net._run_steps(ctx, [s for s in _plan(ctx) if not s.id.startswith("cc-")])


def _multi_peer_channels(ctx: UpContext) -> bool:
    return any(len(ch.peers) > 1 for ch in ctx.net.topo.channels)


def _gossip(ctx: UpContext) -> str:
    """Every peer knows the other peers of its channels (the Gateway endorses across orgs through
    discovery, which knows only what gossip learned from the anchor peers: a few seconds after
    the joins, and a submit right after `up` would otherwise fail its endorsement policy)."""
    pending = [(p, ch) for ch in ctx.net.topo.channels if len(ch.peers) > 1 for p in ch.peers]
    tls = {org.name: health.operations_tls(ctx.net.layout, org) for org in ctx.net.topo.orgs}

    def missing() -> list[str]:
        return [
            f"{p.name} on {ch.name}"
            for p, ch in pending
            if health.peers_known(p.operations, tls[p.org.name], ch.name) < len(ch.peers) - 1
        ]

    wait_until(lambda: not missing(), 60.0, "peers to learn each other through gossip",
               log=ctx.net.layout.log(pending[0][0].name), pending=lambda: ", ".join(missing()))  # fmt: skip
    return f"{len(pending)} peers see their channels' peers"


def _chaincode_steps(ctx: UpContext) -> str:
    from fabkube.backends.local.renewal import refresh_connections

    done = ctx.net._run_steps(ctx, [s for s in _plan(ctx) if s.id.startswith("cc-")])
    # A peer that installed a package kept across a certificate renewal gets the current client pair.
    refresh_connections(ctx.net)
    return done


def _smoke(name: str) -> Callable[[UpContext], str]:
    def execute(ctx: UpContext) -> str:
        cc = ctx.net.chaincode_info(name)
        smoke = smoke_step(ctx.net.layout, cc)
        assert smoke is not None
        # The initial value is only expected right after Init ran; later runs report the
        # current value, which transactions may have moved.
        if f"cc-init:{cc.name}:{cc.sequence}" not in ctx.ran:
            for cmd in smoke.commands:
                cmd.expect = None
        value = ctx.executor.run_step(smoke)[0].output
        ctx.result.smoke[cc.name] = value
        return f"value is {value}"

    return execute
