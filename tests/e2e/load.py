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
            result = self._submit(w, key)
            with self._lock:
                self.outcomes[key] = result
                if result == "committed":
                    self.commit_times.append(time.monotonic())
            if result != "committed":
                time.sleep(0.2)  # as a client would: no tight loop against a service that refuses

    def _submit(self, w: int, key: str) -> str:
        try:
            # A transaction a dead orderer held never commits: its client learns so at the deadline.
            self.contract.submit("CreateAsset", key, "blue", "5", "tom", "100", timeout=self.timeout)
            return "committed"
        except Exception as exc:  # every failure is one the client sees
            return f"failed: {type(exc).__name__}: {str(exc)[:160]}"

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

    def first_commit_after(self, t: float, within: float) -> float | None:
        """When the first commit after `t` (monotonic) was seen, waiting up to `within` seconds."""
        deadline = t + within
        while True:
            with self._lock:
                later = [c for c in self.commit_times if c > t]
            if later:
                return min(later)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

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


class RetryingLoad(SubmitLoad):
    """A client as Fabric's Gateway documentation advises one to be, for operations that restart
    nodes on purpose: when a commit does not come in time it sends the same signed transaction
    again (should both be ordered, the second is a duplicate and invalid); when its peer is away
    (restarting) it endorses again through the org's other peer. A transaction that ends invalid
    (unless the ledger shows an earlier attempt of it committed), or still fails after six attempts
    and `patience` seconds, is a failure. `retries` counts what the retries caught.

    The patience outlasts a Raft election: when the leader's node restarts (an upgrade rolls it last),
    every orderer answers "no Raft leader" until the others elect one, after an election timeout of
    5-10 s (ElectionTick 10 x TickInterval 500 ms, randomized up to twice that) plus the pod's
    restart; six attempts 0.5 s apart (about 4 s) once gave up inside that window."""

    def __init__(self, contracts: list, prefix: str, workers: int = 4, timeout: float = 10, patience: float = 45):
        super().__init__(contracts[0], prefix, workers, timeout)
        self.contracts, self.patience, self.retries = contracts, patience, 0

    def _submit(self, w: int, key: str) -> str:
        import grpc

        from fabkube.gateway import CommitStatusError, EndorseError, GatewayError

        last, attempt, give_up = "", 0, time.monotonic() + self.patience
        while attempt < 6 or time.monotonic() < give_up:
            contract = self.contracts[(w + attempt) % len(self.contracts)]
            try:
                tx = contract.new_proposal("CreateAsset", key, "blue", "5", "tom", "100").endorse(self.timeout)
                commit = tx.submit(self.timeout)
                for _ in range(3):
                    try:
                        status = commit.status(self.timeout)
                        break
                    except CommitStatusError as exc:
                        if exc.code is not grpc.StatusCode.DEADLINE_EXCEEDED:
                            raise
                        with self._lock:
                            self.retries += 1
                        commit = tx.submit(self.timeout)
                else:
                    raise CommitStatusError("no commit after 3 sends", code=grpc.StatusCode.DEADLINE_EXCEEDED)
                if status.successful:
                    return "committed"
                if attempt and status.code_name == "MVCC_READ_CONFLICT" and self._created(contract, key):
                    # An earlier attempt whose answer was lost committed first: this one read the key
                    # absent on its way, so it lost the race to our own transaction.
                    return "committed"
                return f"failed: {status.code_name}"
            except EndorseError as exc:
                if attempt and "already exists" in str(exc):
                    return "committed"  # an earlier attempt of this very transaction committed
                last = f"{type(exc).__name__}: {str(exc)[:400]}"
            except GatewayError as exc:
                last = f"{type(exc).__name__}: {str(exc)[:400]}"
            with self._lock:
                self.retries += 1
            attempt += 1
            time.sleep(0.5)
        return f"failed after {attempt} attempts in {self.patience:.0f}s: {last}"

    @staticmethod
    def _created(contract, key: str) -> bool:
        """The asset exists as this client creates it (what a client does with an unknown outcome)."""
        import json

        try:
            asset = json.loads(contract.evaluate("ReadAsset", key))
        except Exception:  # any failure to read: not known to exist
            return False
        return asset.get("Owner") == "tom" and asset.get("AppraisedValue") == 100


def sigkill(pid: int):
    import os
    import signal

    return lambda: os.kill(pid, signal.SIGKILL)


def kill_leader_under_load(net, kill, prefix: str, moved, what: str, elect_timeout: float = 60,
                           settle: float = 15, **load_options) -> tuple[SubmitLoad, float, int, int]:  # fmt: skip
    """Kill the leading orderer (`kill()`: a SIGKILL, a pod deleted) while a client submits through
    Org1's Gateway; wait until `moved()` says another leads, then `settle` seconds more. Returns the
    load, the seconds until another led, and the commits seen before the kill and at the end."""
    from conftest import wait_for

    with net.gateway("Org1") as gw, SubmitLoad(gw.contract("mychannel", "basic"), prefix, **load_options) as load:
        time.sleep(5)
        before = load.count()
        kill()
        killed_at = time.monotonic()
        wait_for(what, moved, timeout=elect_timeout)
        elected = time.monotonic() - killed_at
        time.sleep(settle)
        after = load.count()
    return load, elected, before, after


def assert_on_every_peer(net, load: SubmitLoad, peers=("peer0.org1", "peer1.org1")) -> None:
    """Every transaction the client saw committed is on each of Org1's `peers`."""
    for peer in peers:
        with net.gateway("Org1", peer) as pgw:
            missing = load.missing_on(pgw.contract("mychannel", "basic"))
        assert not missing, f"reported committed but not on {peer}: {missing[:10]}"
