"""Closed-loop submit load for fault tests: workers submit CreateAsset until stopped, and every
transaction ends as committed or as the failure its client saw, so a test can account for all."""

from __future__ import annotations

import itertools
import threading
import time


class SubmitLoad:
    """with SubmitLoad(contract, "key-prefix", workers=8, timeout=10) as load: ... fault ...
    then load.committed, load.failed; load.count() while it runs."""

    def __init__(self, contract, prefix: str, workers: int = 8, timeout: float = 10):
        self.contract, self.prefix, self.timeout = contract, prefix, timeout
        self.outcomes: dict[str, str] = {}
        self.commit_times: list[float] = []  # time.monotonic() of each commit the client saw
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._worker, args=(w,)) for w in range(workers)]

    def _worker(self, w: int) -> None:
        i = 0
        while not self._stop.is_set():
            key = f"{self.prefix}-{w}-{i}"
            i += 1
            try:
                # A transaction a dead orderer held never commits: its client learns so at the deadline.
                self.contract.submit("CreateAsset", key, "blue", "5", "tom", "100", timeout=self.timeout)
                result = "committed"
            except Exception as exc:  # every failure is one the client sees
                result = f"failed: {type(exc).__name__}: {str(exc)[:160]}"
            with self._lock:
                self.outcomes[key] = result
                if result == "committed":
                    self.commit_times.append(time.monotonic())
            if result != "committed":
                time.sleep(0.2)  # as a client would: no tight loop against a service that refuses

    def __enter__(self) -> SubmitLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)

    def longest_gap(self, start: float, end: float) -> float:
        """The longest stretch between `start` and `end` (monotonic) with no commit the client saw."""
        with self._lock:
            marks = sorted(t for t in self.commit_times if start <= t <= end)
        points = [start, *marks, end]
        return max(b - a for a, b in itertools.pairwise(points))

    def count(self) -> int:
        """Committed so far."""
        with self._lock:
            return sum(v == "committed" for v in self.outcomes.values())

    @property
    def committed(self) -> list[str]:
        return [k for k, v in self.outcomes.items() if v == "committed"]

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for k, v in self.outcomes.items() if v != "committed"}

    def summary(self) -> str:
        lines = [f"sent {len(self.outcomes)}, committed {len(self.committed)}, failed {len(self.failed)}"]
        lines += [f"  {k}: {v}" for k, v in list(self.failed.items())[:10]]
        return "\n".join(lines)

    def missing_on(self, contract) -> list[str]:
        """Transactions reported committed whose asset the given peer's contract does not hold."""
        return [k for k in self.committed if contract.evaluate("AssetExists", k, timeout=30) != b"true"]
