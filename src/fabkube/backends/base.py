"""The one interface every target implements; the CLI and users' scripts talk only to this.

A target that cannot do something says why in one line (NotApplicable, exit code 2), so no verb
ends in a traceback whichever target the network runs on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabkube.errors import RuntimeFailure, UserError
from fabkube.nodes import Endpoint
from fabkube.reconcile.plan import Plan
from fabkube.reporter import Reporter
from fabkube.spec import LoadedSpec
from fabkube.topology import ChaincodeInfo, PeerNode, Topology


class NotApplicable(UserError):
    """The verb exists, but not for this target; the message says why and what to do instead."""


@dataclass
class UpOptions:
    lifecycle: bool = True  # channels and chaincode definitions, not just the components
    rollout_timeout: float = 600  # k8s: seconds to wait for the workloads
    job_timeout: float = 600  # k8s: seconds to follow the lifecycle Job


@dataclass
class UpResult:
    summary: str  # one line for the user
    smoke: dict[str, str] = field(default_factory=dict)  # chaincode -> the smoke query's value
    details: dict = field(default_factory=dict)


@dataclass
class ComponentStatus:
    name: str
    kind: str
    state: str  # running | stopped | unhealthy (local); the pod phase and readiness (k8s)
    address: str = ""
    pid: int | None = None
    namespace: str = ""
    node: str = ""
    fabric: str = ""  # the Fabric version an orderer or peer reports (/version), "" if it does not

    @property
    def where(self) -> str:
        if self.node or self.namespace:
            return f"{self.namespace}/{self.node or '-'}"
        return str(self.pid) if self.pid else "-"


@dataclass
class Observed:
    """One component as a watch sees it at one moment (what `top` and the console draw)."""

    name: str  # as the verbs name it (kafka-2, peer0.org1, chaincode-mycc)
    kind: str
    running: bool
    reason: str = ""  # why it is not running, in a line
    cpu_seconds: float | None = None  # cumulative, when the source gives a counter
    memory_bytes: float | None = None  # resident (local) or working set (Kubernetes)
    cpu_percent: float | None = None  # of one core, when the source measures the rate itself


class Watch(ABC):
    """Repeated cheap looks at a running network: each component's state and usage, and where
    this machine reads an orderer's or peer's operations endpoint. Opened by Network.watch();
    close() releases what it holds (port-forwards)."""

    settle_seconds: float = 0.0  # how long after the first look CPU figures may still be missing

    def __init__(self) -> None:
        self.errors: list[str] = []  # what the last look could not read, a line each
        self.usage_errors: list[str] = []  # those of them that keep CPU and memory figures away

    @abstractmethod
    def observe(self) -> list[Observed]: ...

    @abstractmethod
    def operations(self, node) -> Endpoint | None:
        """The address of `node`'s operations endpoint from here, None while it cannot be reached."""

    def close(self) -> None:
        return None


@dataclass
class NetworkStatus:
    name: str
    target: str
    location: str  # the work dir, or the cluster's API server
    components: list[ComponentStatus]
    heights: dict[str, dict[str, int | None]] = field(default_factory=dict)  # peer -> channel -> height
    # orderer -> channel -> {"height", "status", "leader"}, where the ordering type tells (Raft)
    orderers: dict[str, dict[str, dict]] = field(default_factory=dict)
    # channel -> {"capabilities": {"channel", "orderer", "application": [names]}, "type": consensus}
    channels: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "network": self.name,
            "target": self.target,
            "location": self.location,
            "components": [vars(c) for c in self.components],
            "heights": self.heights,
            "orderers": self.orderers,
            "channels": self.channels,
        }


@dataclass
class PeerConnection:
    """How a client reaches one peer: its address as the client dials it, and the TLS to expect."""

    name: str
    address: str
    tls_root: Path | None  # the org's TLS CA (None: plaintext)
    server_name: str  # the name in the peer's TLS certificate


@dataclass
class OrgConnection:
    """What a client of one organization needs: its MSP ID, an identity and its peers."""

    org: str
    msp_id: str
    msp_dir: Path  # the org admin's MSP (signcerts/, keystore/)
    peers: list[PeerConnection]


class Network(ABC):
    """A network brought up from a spec, on one target."""

    target: str = ""

    def __init__(self, loaded: LoadedSpec, workdir: Path):
        self.loaded = loaded
        self.workdir = workdir.resolve()

    @property
    def name(self) -> str:
        return self.loaded.spec.name

    @property
    @abstractmethod
    def topo(self) -> Topology: ...

    @abstractmethod
    def up(self, report: Reporter | None = None, options: UpOptions | None = None) -> UpResult: ...

    @abstractmethod
    def down(self, purge: bool = False, report: Reporter | None = None) -> None: ...

    @abstractmethod
    def status(self) -> NetworkStatus: ...

    @abstractmethod
    def logs(self, name: str, lines: int = 50) -> str:
        """The last `lines` lines of a component's log (`lifecycle` for the lifecycle steps)."""

    @abstractmethod
    def follow(self, name: str) -> Iterator[str]:
        """New lines of a component's log as they are written, until interrupted."""

    @abstractmethod
    def dial(self, peer: PeerConnection) -> AbstractContextManager[str]:
        """The address to dial `peer` at from this machine, valid while the context is open
        (local: the peer's own; Kubernetes: a port-forward to its pod)."""

    def processes(self) -> dict[str, int]:
        """Component name -> pid of what runs on this machine (for resource figures); none on a cluster."""
        return {}

    def resource_monitor(self, here: dict[str, int]):
        """What samples CPU and memory of the network's components (and `here`, pids on this machine)
        during a bench round: start() and stop() -> list of Usage."""
        from fabkube.bench.monitor import ResourceMonitor

        return ResourceMonitor({**self.processes(), **here})

    @abstractmethod
    def watch(self) -> Watch:
        """A Watch of this network (`fabkube top`, `fabkube console`)."""

    def peer_log_hint(self, peer: str) -> Path | None:
        """Where a failed transaction's details are (the peer's log), when it is a file here."""
        return None

    # ------------------------------------------------------------ transactions, over the Gateway API
    @contextmanager
    def gateway(self, org: str | None = None, peer: str | None = None) -> Iterator[Any]:
        """A Gateway client connected to one peer of `org` (default: the first org) as that org's admin.

        with network.gateway("Org1") as gw:
            gw.contract("mychannel", "mycc").submit("move", "a", "b", "10")
        """
        from fabkube.gateway import Gateway, identity_from_msp_dir  # grpc: only for verbs that transact

        conn = self.connection(org or self.topo.orgs[0].name)
        target = conn.peers[0] if peer is None else next((p for p in conn.peers if p.name == peer), None)
        if target is None:
            known = ", ".join(p.name for p in conn.peers)
            raise UserError(f"--peer {peer}: not a peer of {conn.org}; known: {known}")
        identity, signer = identity_from_msp_dir(conn.msp_id, conn.msp_dir)
        root = target.tls_root.read_bytes() if target.tls_root else None
        with self.dial(target) as address:
            gw = Gateway.connect(address, identity, signer, root, target.server_name if root else None)
            try:
                yield gw
            finally:
                gw.close()

    def invoke(
        self,
        chaincode: str,
        args: list[str],
        wait: bool = True,
        peer: str | None = None,
        orderer: int | None = None,
        progress: Callable[[str], None] = lambda line: None,
    ) -> str:
        """Endorse, order and (unless wait is False) wait for the commit; returns a one-line outcome.
        The Gateway picks the orderer; `orderer` forces one, where the target can. `progress` hears
        each time the transaction is sent again (gateway/resend.py)."""
        if orderer is not None:
            return self.invoke_through_orderer(chaincode, args, orderer, wait)
        from fabkube.gateway import CommitError, GatewayError
        from fabkube.gateway.resend import Sending, commit_wait
        from fabkube.spec import short_duration_seconds

        cc = self.chaincode_info(chaincode)
        node = self.query_peer(cc, peer)
        if hint := self.ordering_hint():
            # Refused before anything is sent: a leader that lost its quorum still takes a transaction
            # and may commit it once the others are back, after the client was told it failed.
            raise RuntimeFailure("nothing submitted: " + hint)
        sending = None
        try:
            with self.gateway(node.org.name, node.name) as gw:
                tx = gw.contract(cc.channel, cc.name).new_proposal(args[0], *args[1:]).endorse()
                batch = short_duration_seconds(self.loaded.spec.ordering.batchTimeout)
                sending = Sending(
                    tx, commit_wait(batch), progress=lambda line: progress(f"{tx.transaction_id}: {line}")
                )
                commit = sending.submit()
                result = tx.result.decode(errors="replace")
                if not wait:
                    return f"{tx.transaction_id} submitted" + (f": {result}" if result else "")
                status = sending.commit_status(commit)
        except GatewayError as exc:
            notes = [_one_line(exc)]
            if sending is not None and sending.maybe_taken:
                notes.append("an orderer may hold it, so it may still commit: look before invoking again")
            if hint := self.ordering_hint():
                notes.append(hint)
            raise RuntimeFailure("; ".join(notes), self.peer_log_hint(node.name)) from None
        if not status.successful:
            raise RuntimeFailure(str(CommitError(status)), self.peer_log_hint(node.name))
        outcome = f"{status.transaction_id} committed ({status.code_name}) in block {status.block_number}"
        return outcome + (f": {result}" if result else "")

    @property
    def applied_spec_file(self) -> Path:
        """The spec the last `up` that finished applied (its changes are what `plan` compares)."""
        return self.workdir / "applied-spec.yaml"

    def recorded_spec(self) -> Path | None:
        """The spec the network was last brought up with: what the last finished `up` applied, or
        (before applied-spec.yaml was kept, or after an `up` that did not finish) the spec copy of
        a network that was up; None for one never up."""
        if self.applied_spec_file.is_file():
            return self.applied_spec_file
        copy = self.workdir / "spec.yaml"
        return copy if self.was_up() and copy.is_file() else None

    def plan(self) -> Plan:
        """What `up` would change on the running network, and what it refuses to."""
        from fabkube.reconcile.plan import diff
        from fabkube.spec import load_spec

        recorded = self.recorded_spec()
        applied = load_spec(recorded).spec if recorded else None
        finished = recorded == self.applied_spec_file
        return diff(applied, self.loaded.spec, self.target, str(self.workdir), finished)

    def existing(self):
        """What of the network exists on its target (a generate.Existing)."""
        from fabkube.generate import Existing

        return Existing()

    def was_up(self) -> bool:
        """Whether an `up` of this work dir ever changed anything on the target (not merely
        `generate` or `render` writing the spec copy)."""
        return False

    def check_plan(self, report: Reporter) -> Plan:
        """The plan, said before anything changes; a refusal ends `up` here (exit code 2)."""
        plan = self.plan()
        if plan.refusals:
            raise UserError(plan.refusals)
        if plan.changes:
            report.info("changes to apply:")
            for line in plan.lines():
                report.info(f"  {line}")
        return plan

    def record_applied(self) -> None:
        tmp = self.applied_spec_file.with_suffix(".tmp")
        tmp.write_text(self.loaded.text)
        tmp.replace(self.applied_spec_file)

    def ordering_hint(self) -> str:
        """What fabkube knows about the ordering service that keeps it from ordering (a stopped
        majority), with what to do about it; '' when nothing."""
        return ""

    def invoke_through_orderer(self, chaincode: str, args: list[str], orderer: int, wait: bool) -> str:
        raise NotApplicable(
            f"--orderer: choosing the orderer is for local networks; on {self.target} the peer's Gateway picks one"
        )

    def query(self, chaincode: str, args: list[str], peer: str | None = None) -> str:
        """Evaluate on one peer (named, or the first org's first) and return the result as text."""
        from fabkube.gateway import GatewayError

        cc = self.chaincode_info(chaincode)
        node = self.query_peer(cc, peer)
        try:
            with self.gateway(node.org.name, node.name) as gw:
                return gw.contract(cc.channel, cc.name).evaluate(args[0], *args[1:]).decode(errors="replace")
        except GatewayError as exc:
            raise RuntimeFailure(_one_line(exc), self.peer_log_hint(node.name)) from None

    def channel_summaries(self, orderer: str) -> dict[str, dict]:
        """Each channel's consensus type and capabilities, from its config as the orderer at
        `orderer` (host:port dialable from here) serves it; a channel it does not serve is left out."""
        from fabkube.channel.config import orderer_admin_configs
        from fabkube.generate import network_toolchain

        tools = self.tools or network_toolchain(self.loaded.spec)
        if not tools.fabric_ready():
            return {}  # status never builds Fabric
        configs = orderer_admin_configs(self.layout, tools, self.workdir / "logs" / "status.log")
        configs.attempts = 1
        out = {}
        for ch in self.topo.channels:
            try:
                fetched = configs.fetch(ch.name, orderer)
            except RuntimeFailure:
                continue
            out[ch.name] = {
                "type": fetched.consensus.type,
                "state": fetched.consensus.state,
                "capabilities": {
                    "channel": fetched.capabilities(None),
                    "orderer": fetched.capabilities("Orderer"),
                    "application": fetched.capabilities("Application"),
                },
            }
        return out

    def renew_certificates(self, within, report: Reporter):
        """Renew leaf certificates ending within `within` (None: all) and roll what uses them; never
        on a type that refuses it, never beside a migration (both restart orderers and update
        channel configs)."""
        from fabkube.migration.orderers import MigrationLock

        if self.topo.ordering.renewal_refused:
            raise UserError(self.topo.ordering.renewal_refused)
        with MigrationLock(self.layout.root / "migrate.lock", "certificate renewal"):
            return self._renew_certificates(within, report)

    def _renew_certificates(self, within, report: Reporter):
        raise NotApplicable(
            f"certs renew: not on {self.target} yet; `fabkube certs` lists what ends when, and the README's "
            "Certificates section says what renewing takes"
        )

    @abstractmethod
    def stop_components(self, names: list[str]) -> None: ...

    @abstractmethod
    def start_components(self, names: list[str]) -> None: ...

    @abstractmethod
    def connection(self, org: str) -> OrgConnection:
        """Endpoints, TLS roots and the admin identity of one organization, as seen from this machine."""

    # ------------------------------------------------------------ shared lookups
    def chaincode_info(self, name: str) -> ChaincodeInfo:
        for cc in self.topo.chaincodes:
            if cc.name == name:
                return cc
        known = ", ".join(c.name for c in self.topo.chaincodes) or "(none)"
        raise UserError(f"unknown chaincode {name!r}; known: {known}")

    def peer_node(self, name: str) -> PeerNode:
        for p in self.topo.peers:
            if p.name == name:
                return p
        raise UserError(f"unknown peer {name!r}; known: {', '.join(p.name for p in self.topo.peers)}")

    def query_peer(self, cc: ChaincodeInfo, peer: str | None) -> PeerNode:
        """The peer a query goes to: the named one (its org must be on the channel) or the first org's first."""
        if peer is None:
            return self.topo.org_peers(cc.orgs[0])[0]
        node = self.peer_node(peer)
        if node.org.name not in {o.name for o in cc.orgs}:
            raise UserError(f"--peer {peer}: that peer's org is not on channel {cc.channel}")
        return node


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
