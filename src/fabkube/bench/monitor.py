"""CPU and resident memory of the network's processes during a round (Caliper's resource monitor,
for processes instead of Docker containers)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    name: str
    cpu_avg: float  # percent of one core over the round
    cpu_max: float  # percent of one core, busiest sampling interval
    rss_avg_mib: float
    rss_max_mib: float


def process_usage(pid: int) -> tuple[int, int] | None:
    """(utime + stime ticks, resident KiB) of a live process, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return int(fields[11]) + int(fields[12]), rss


class Sampler:
    """Takes a sample every `interval` seconds in a thread between start() and stop()
    (subclasses say what a sample is, and what the samples add up to)."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _take(self) -> None:
        raise NotImplementedError

    def _usages(self) -> list[Usage]:
        raise NotImplementedError

    def start(self) -> Sampler:
        self._take()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def stop(self) -> list[Usage]:
        self._stop.set()
        self._thread.join()
        self._take()
        return self._usages()


class ResourceMonitor(Sampler):
    """The processes of this machine, from /proc."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0):
        super().__init__(interval)
        self.pids = pids
        self._series: dict[str, list[tuple[float, int, int]]] = {name: [] for name in pids}

    def _take(self) -> None:
        now = time.monotonic()
        for name, pid in self.pids.items():
            got = process_usage(pid)
            if got:
                self._series[name].append((now, *got))

    def _usages(self) -> list[Usage]:
        return [u for u in (self._usage(name, s) for name, s in self._series.items()) if u]

    @staticmethod
    def _usage(name: str, series: list[tuple[float, int, int]]) -> Usage | None:
        if len(series) < 2:
            return None
        steps = [100.0 * (b[1] - a[1]) / TICKS / (b[0] - a[0]) for a, b in itertools.pairwise(series) if b[0] > a[0]]
        total = 100.0 * (series[-1][1] - series[0][1]) / TICKS / max(series[-1][0] - series[0][0], 1e-9)
        rss = [s[2] / 1024 for s in series]
        return Usage(name, total, max(steps, default=total), sum(rss) / len(rss), max(rss))


class Monitors:
    """Several monitors as one (e.g. a cluster's pods and the bench client on this machine)."""

    def __init__(self, *monitors):
        self.monitors = monitors

    def start(self) -> Monitors:
        for m in self.monitors:
            m.start()
        return self

    def stop(self) -> list[Usage]:
        return [u for m in self.monitors for u in m.stop()]
