"""Live figures of a running local network, sampled cheaply enough to refresh every second or two:
what `fabkube top` shows (and what a console would).

A sample reads each component's process (/proc: CPU seconds, resident memory), each orderer's and
peer's operations /metrics (ledger heights per channel, transactions committed by validation code)
and, for a component that is not running, the last line of its log. Two samples make a view:
rates are differences over the time between them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fabkube import health
from fabkube.backends.local.supervisor import tail
from fabkube.bench.monitor import TICKS, process_usage
from fabkube.monitoring.exposition import by_label, parse


@dataclass
class Figures:
    """One component at one moment."""

    name: str
    kind: str
    running: bool
    reason: str = ""  # why it is not running: the last line of its log
    cpu_seconds: float | None = None
    rss_bytes: float | None = None
    heights: dict[str, int] = field(default_factory=dict)  # channel -> ledger height (orderers, peers)
    valid: dict[str, float] = field(default_factory=dict)  # channel -> VALID transactions (peers)
    invalid: dict[str, float] = field(default_factory=dict)  # channel -> other validation codes (peers)
    endorse_seconds: float = 0.0  # proposals endorsed so far and the time they took (peers)
    endorse_count: float = 0.0


@dataclass
class Sample:
    at: float  # time.monotonic()
    components: list[Figures]


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

    @property
    def failing(self) -> list[Row]:
        return [r for r in self.rows if r.state != "running"]


def _proc(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, resident bytes) of a live process, None once it is gone."""
    usage = process_usage(pid)
    return None if usage is None else (usage[0] / TICKS, usage[1] * 1024)


class LiveSampler:
    """Samples one local network; keeps the orgs' TLS clients between samples."""

    def __init__(self, net) -> None:
        self.net = net
        self._tls: dict[str, object] = {}
        nodes = [*net.topo.orderers, *net.topo.peers]
        self._nodes = {n.name: n for n in nodes}

    def _client(self, org):
        if org.name not in self._tls:
            self._tls[org.name] = health.operations_tls(self.net.layout, org)
        return self._tls[org.name]

    def sample(self) -> Sample:
        # Other commands (start, stop, up) change what runs while this watches.
        self.net.supervisor.reload()
        pids = self.net.processes()
        out = []
        for comp in self.net.components():
            pid = pids.get(comp.name)
            usage = _proc(pid) if pid else None
            fig = Figures(comp.name, comp.kind, usage is not None)
            if usage is None:
                fig.reason = self._last_line(comp.name)
            else:
                fig.cpu_seconds, fig.rss_bytes = usage
                self._read_metrics(fig)
            out.append(fig)
        return Sample(time.monotonic(), out)

    def _read_metrics(self, fig: Figures) -> None:
        node = self._nodes.get(fig.name)
        if node is None:
            return
        text = health.operations_get(node.operations, "/metrics", self._client(node.org), timeout=2.0)
        if not text:
            return
        samples = parse(text)
        fig.heights = {ch: int(h) for ch, h in by_label(samples, "ledger_blockchain_height", "channel").items()}
        fig.valid = by_label(samples, "ledger_transaction_count", "channel", validation_code="VALID")
        every = by_label(samples, "ledger_transaction_count", "channel")
        fig.invalid = {ch: n - fig.valid.get(ch, 0.0) for ch, n in every.items()}
        fig.endorse_seconds = sum(x.value for x in samples if x.name == "endorser_proposal_duration_sum")
        fig.endorse_count = sum(x.value for x in samples if x.name == "endorser_proposal_duration_count")

    def _last_line(self, name: str) -> str:
        log = self.net.layout.log(name)
        if not log.exists():
            return "not started"
        return tail(log).removeprefix(": ") or "exited without a word"


def view(network: str, before: Sample, now: Sample) -> View:
    """Rates between two samples of the same network."""
    dt = max(now.at - before.at, 1e-6)
    prev = {f.name: f for f in before.components}
    rows = []
    for f in now.components:
        p = prev.get(f.name)
        cpu = None
        if f.cpu_seconds is not None and p is not None and p.cpu_seconds is not None:
            cpu = max(0.0, (f.cpu_seconds - p.cpu_seconds) / dt * 100)
        mib = f.rss_bytes / 2**20 if f.rss_bytes is not None else None
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
    return View(network, rows, dt, rate("valid"), rate("invalid"), rate("heights"), heights, latency)
