"""CPU and memory of a network's pods during a bench round, from each kubelet's resource metrics.

The kubelet serves /metrics/resource (what metrics-server scrapes): per container, cumulative
CPU seconds and the memory working set, with the kubelet's own timestamps. We read it through
the API server's node proxy, so nothing beyond the API server is dialled and no metrics-server
is needed. Memory here is the working set (what the kubelet evicts on), not RSS.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import defaultdict

from fabkube.bench.monitor import Sampler, Usage

_SAMPLE = re.compile(
    r"^((?:container|pod)_(?:cpu_usage_seconds_total|memory_working_set_bytes))\{([^}]*)\} (\S+)(?: (\d+))?$"
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def _usage(text: str, level: str, namespaces: set[str], key) -> dict[str, tuple[float, float, float]]:
    """key(labels) -> (cpu seconds, working set bytes, timestamp s of the CPU figure) from the
    kubelet's `level` ("container" or "pod") series of pods in `namespaces`."""
    cpu: dict[str, tuple[float, float]] = {}
    mem: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m or not m.group(1).startswith(level + "_"):
            continue
        labels = dict(_LABEL.findall(m.group(2)))
        if labels.get("namespace") not in namespaces or "pod" not in labels:
            continue
        if m.group(1).endswith("cpu_usage_seconds_total"):
            cpu[key(labels)] = (float(m.group(3)), int(m.group(4)) / 1000 if m.group(4) else time.time())
        else:
            mem[key(labels)] = float(m.group(3))
    return {k: (c, mem.get(k, 0.0), t) for k, (c, t) in cpu.items()}


def parse_resource_metrics(text: str, namespaces: set[str]) -> dict[str, tuple[float, float, float]]:
    """pod/container -> (cpu seconds, working set bytes, timestamp s) for containers in `namespaces`."""
    return _usage(text, "container", namespaces,
                  lambda x: x["pod"] if not x.get("container") else f"{x['pod']}/{x['container']}")  # fmt: skip


def parse_pod_usage(text: str, namespaces: set[str]) -> dict[str, tuple[float, float, float]]:
    """ "namespace/pod" -> (cpu seconds, working set bytes, timestamp s), from the kubelet's pod-level
    series: one timestamp per pod (its containers' each have their own), and a counter that goes on
    across a container's restart."""
    return _usage(text, "pod", namespaces, lambda x: f"{x['namespace']}/{x['pod']}")


class PodMetricsMonitor(Sampler):
    """Every node's resource metrics, through the API server."""

    def __init__(self, core, namespaces: set[str], interval: float = 2.0):
        super().__init__(interval)
        self.core, self.namespaces = core, namespaces
        self._series: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
        self.errors: list[str] = []

    def _take(self) -> None:
        try:
            nodes = [n.metadata.name for n in self.core.list_node().items]
        except Exception as exc:  # the API server briefly unreachable: this sample is skipped
            self.errors.append(f"nodes: {exc}")
            return
        for node in nodes:
            try:
                text = self.core.connect_get_node_proxy_with_path(node, "metrics/resource")
            except Exception as exc:  # a node whose kubelet serves no metrics (or no nodes/proxy right)
                self.errors.append(f"{node}: {exc}")
                continue
            for key, (cpu, mem, stamp) in parse_resource_metrics(text, self.namespaces).items():
                series = self._series[(node, key)]
                if not series or series[-1][0] != stamp:
                    series.append((stamp, cpu, mem))

    def _usages(self) -> list[Usage]:
        names = [key for _node, key in self._series]
        out = []
        for (node, key), s in sorted(self._series.items(), key=lambda kv: kv[0][1]):
            if len(s) < 2 or s[-1][0] <= s[0][0]:
                continue
            # A restarted container (or a pod recreated under its name) starts its counter again.
            used = [
                (b[0] - a[0], b[1] - a[1] if b[1] >= a[1] else b[1]) for a, b in itertools.pairwise(s) if b[0] > a[0]
            ]
            total = 100 * sum(c for _t, c in used) / (s[-1][0] - s[0][0])
            mem = [x[2] / 2**20 for x in s]
            name = key if names.count(key) == 1 else f"{key}@{node}"
            out.append(
                Usage(name, total, max((100 * c / t for t, c in used), default=total), sum(mem) / len(mem), max(mem))
            )
        return out
