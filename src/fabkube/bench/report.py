"""A round's figures in Hyperledger Caliper's report columns, plus p50/p99, failures and resources."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fabkube.bench.monitor import Usage
from fabkube.bench.runner import TxRecord

COLUMNS = ("Name", "Succ", "Fail", "Send Rate (TPS)", "Max Latency (s)", "Min Latency (s)", "Avg Latency (s)")
COLUMNS += ("Throughput (TPS)", "p50 (s)", "p99 (s)")


@dataclass
class RoundReport:
    name: str
    succ: int
    fail: int
    send_rate: float
    max_latency: float
    min_latency: float
    avg_latency: float
    throughput: float
    p50: float
    p99: float
    failures: dict[str, int] = field(default_factory=dict)  # reason -> count
    resources: list[Usage] = field(default_factory=list)

    def row(self) -> list[str]:
        return [
            self.name,
            str(self.succ),
            str(self.fail),
            f"{self.send_rate:.1f}",
            f"{self.max_latency:.2f}",
            f"{self.min_latency:.2f}",
            f"{self.avg_latency:.2f}",
            f"{self.throughput:.1f}",
            f"{self.p50:.2f}",
            f"{self.p99:.2f}",
        ]

    def as_dict(self) -> dict:
        return asdict(self)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarize(name: str, records: list[TxRecord], resources: list[Usage] | None = None) -> RoundReport:
    """Caliper's definitions: send rate = sent / (last send - first send); throughput = successful /
    (last completion - first send); latencies of successful transactions."""
    ok = [r for r in records if r.ok]
    latencies = sorted(r.end - r.start for r in ok)
    starts = [r.start for r in records]
    span_send = max(starts) - min(starts) if len(records) > 1 else 0.0
    span_all = max(r.end for r in records) - min(starts) if records else 0.0
    return RoundReport(
        name=name,
        succ=len(ok),
        fail=len(records) - len(ok),
        send_rate=len(records) / span_send if span_send > 0 else float(len(records)),
        max_latency=latencies[-1] if latencies else 0.0,
        min_latency=latencies[0] if latencies else 0.0,
        avg_latency=sum(latencies) / len(latencies) if latencies else 0.0,
        throughput=len(ok) / span_all if span_all > 0 else 0.0,
        p50=_percentile(latencies, 0.50),
        p99=_percentile(latencies, 0.99),
        failures=dict(Counter(r.error for r in records if not r.ok)),
        resources=resources or [],
    )


def plot(records: list[TxRecord], path: Path, title: str) -> Path:
    """Throughput (completions per second) and latency of each transaction over the round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    end = max((r.end for r in records), default=0.0)
    seconds = list(range(int(end) + 1))
    per_second = Counter(int(r.end) for r in records if r.ok)
    top.plot(seconds, [per_second.get(s, 0) for s in seconds], drawstyle="steps-post")
    top.set_ylabel("committed / s")
    top.set_title(title)
    ok = [r for r in records if r.ok]
    bottom.scatter([r.end for r in ok], [r.end - r.start for r in ok], s=4, label="succeeded")
    failed = [r for r in records if not r.ok]
    if failed:
        bottom.scatter([r.end for r in failed], [r.end - r.start for r in failed], s=8, c="red", label="failed")
    bottom.set_xlabel("seconds into the round")
    bottom.set_ylabel("latency (s)")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
