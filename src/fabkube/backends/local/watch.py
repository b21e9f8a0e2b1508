"""What `top` and the console see of a local network: each component's process (/proc: CPU
seconds, resident memory) and, for one that is not running, the last line of its log; the
orderers' and peers' operations endpoints are where the topology puts them."""

from __future__ import annotations

from fabkube.backends.base import Observed, Watch
from fabkube.backends.local.supervisor import tail
from fabkube.bench.monitor import TICKS, process_usage


class LocalWatch(Watch):
    def __init__(self, net) -> None:
        super().__init__()
        self.net = net

    def observe(self) -> list[Observed]:
        # Other commands (start, stop, up) change what runs while this watches.
        self.net.supervisor.reload()
        pids = self.net.processes()
        out = []
        for comp in self.net.components():
            pid = pids.get(comp.name)
            usage = process_usage(pid) if pid else None
            seen = Observed(comp.name, comp.kind, usage is not None)
            if usage is None:
                seen.reason = self._last_line(comp.name)
            else:
                seen.cpu_seconds, seen.memory_bytes = usage[0] / TICKS, usage[1] * 1024
            out.append(seen)
        return out

    def operations(self, node):
        return node.operations

    def _last_line(self, name: str) -> str:
        log = self.net.layout.log(name)
        if not log.exists():
            return "not started"
        return tail(log).removeprefix(": ") or "exited without a word"
