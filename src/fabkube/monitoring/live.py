"""Live figures of a running network, sampled cheaply enough to refresh every second or two: what
`fabkube top` and `fabkube console` show.

A sample takes the backend's look at each component (Network.watch: running or why not, CPU and
memory; local processes or pods) and reads each running orderer's and peer's operations /metrics
(ledger heights per channel, transactions committed by validation code, endorsement time). Two
samples make a view: rates are differences over the time between them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fabkube import health
from fabkube.monitoring.exposition import by_label, parse


@dataclass
class Figures:
    """One component at one moment."""

    name: str
    kind: str
    running: bool
    reason: str = ""  # why it is not running: the last line of its log
    cpu_seconds: float | None = None
    memory_bytes: float | None = None  # resident (local) or working set (Kubernetes)
    cpu_percent: float | None = None  # when the watch measured the rate itself (Kubernetes)
    heights: dict[str, int] = field(default_factory=dict)  # channel -> ledger height (orderers, peers)
    valid: dict[str, float] = field(default_factory=dict)  # channel -> VALID transactions (peers)
    invalid: dict[str, float] = field(default_factory=dict)  # channel -> other validation codes (peers)
    endorse_seconds: float = 0.0  # proposals endorsed so far and the time they took (peers)
    endorse_count: float = 0.0


@dataclass
class Sample:
    at: float  # time.monotonic()
    components: list[Figures]
    errors: list[str] = field(default_factory=list)  # what could not be read, a line each
    usage_errors: list[str] = field(default_factory=list)  # those that keep CPU and memory away


@dataclass
class Row:
    name: str
    kind: str
    state: str  # running | stopped
    reason: str
    cpu_percent: float | None  # of one core, since the previous sample
    memory_mib: float | None
    heights: dict[str, int]


@dataclass
class View:
    network: str
    rows: list[Row]
    seconds: float  # between the two samples
    tps: dict[str, float]  # channel -> VALID transactions committed per second (the fastest peer's view)
    invalid_tps: dict[str, float]
    blocks: dict[str, float]  # channel -> blocks per second
    heights: dict[str, int]  # channel -> the highest height any node has
    latency_ms: float | None = None  # mean endorsement time of the proposals between the samples
    errors: list[str] = field(default_factory=list)  # what the newer sample could not read

    @property
    def failing(self) -> list[Row]:
        return [r for r in self.rows if r.state != "running"]


class LiveSampler:
    """Samples one network through its backend's Watch; keeps the orgs' TLS clients between samples.
    close() releases what the watch holds."""

    def __init__(self, net) -> None:
        self.net = net
        self.watch = net.watch()
        self._tls: dict[str, object] = {}
        nodes = [*net.topo.orderers, *net.topo.peers]
        self._nodes = {n.name: n for n in nodes}

    def _client(self, org):
        if org.name not in self._tls:
            self._tls[org.name] = health.operations_tls(self.net.layout, org)
        return self._tls[org.name]

    def sample(self) -> Sample:
        out, unread = [], []
        for seen in self.watch.observe():
            fig = Figures(seen.name, seen.kind, seen.running, seen.reason, seen.cpu_seconds, seen.memory_bytes)
            fig.cpu_percent = seen.cpu_percent
            if seen.running and not self._read_metrics(fig):
                unread.append(fig.name)
            out.append(fig)
        errors = list(self.watch.errors)
        if unread:
            errors.append(f"operations /metrics not read from {', '.join(unread)} (no heights or rates from them)")
        return Sample(time.monotonic(), out, errors, list(self.watch.usage_errors))

    def close(self) -> None:
        self.watch.close()

    def _read_metrics(self, fig: Figures) -> bool:
        """Heights, transactions and endorsement time of an orderer or peer; False if unread."""
        node = self._nodes.get(fig.name)
        if node is None:
            return True
        where = self.watch.operations(node)
        text = health.operations_get(where, "/metrics", self._client(node.org), timeout=2.0) if where else None
        if not text:
            return False
        samples = parse(text)
        fig.heights = {ch: int(h) for ch, h in by_label(samples, "ledger_blockchain_height", "channel").items()}
        fig.valid = by_label(samples, "ledger_transaction_count", "channel", validation_code="VALID")
        every = by_label(samples, "ledger_transaction_count", "channel")
        fig.invalid = {ch: n - fig.valid.get(ch, 0.0) for ch, n in every.items()}
        fig.endorse_seconds = sum(x.value for x in samples if x.name == "endorser_proposal_duration_sum")
        fig.endorse_count = sum(x.value for x in samples if x.name == "endorser_proposal_duration_count")
        return True


def view(network: str, before: Sample, now: Sample) -> View:
    """Rates between two samples of the same network."""
    dt = max(now.at - before.at, 1e-6)
    prev = {f.name: f for f in before.components}
    rows = []
    for f in now.components:
        p = prev.get(f.name)
        cpu = f.cpu_percent
        if cpu is None and f.cpu_seconds is not None and p is not None and p.cpu_seconds is not None:
            cpu = max(0.0, (f.cpu_seconds - p.cpu_seconds) / dt * 100)
        mib = f.memory_bytes / 2**20 if f.memory_bytes is not None else None
        rows.append(Row(f.name, f.kind, "running" if f.running else "stopped", f.reason, cpu, mib, f.heights))

    def rate(attr: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for f in now.components:
            p = prev.get(f.name)
            if p is None:
                continue
            for ch, n in getattr(f, attr).items():
                if ch in getattr(p, attr):
                    out[ch] = max(out.get(ch, 0.0), (n - getattr(p, attr)[ch]) / dt)
        return out

    heights: dict[str, int] = {}
    for f in now.components:
        for ch, h in f.heights.items():
            heights[ch] = max(heights.get(ch, 0), h)
    seconds = count = 0.0
    for f in now.components:
        p = prev.get(f.name)
        if p is not None and f.endorse_count >= p.endorse_count:
            seconds += f.endorse_seconds - p.endorse_seconds
            count += f.endorse_count - p.endorse_count
    latency = seconds / count * 1000 if count else None
    return View(network, rows, dt, rate("valid"), rate("invalid"), rate("heights"), heights, latency, now.errors)
