"""Sending one signed transaction until the ordering service takes it and it commits, for a client
that must not fail on what an election or a restart does for a few seconds (`fabkube invoke`).

Sending the very same envelope again is always safe: should two copies be ordered, the second is
invalidated as a duplicate transaction ID and the first one's status stands."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from fabkube.gateway.errors import CommitStatusError, GatewayError, SubmitError

# One Submit call. A Raft follower forwards a transaction to its leader and answers only after
# General.Cluster.RPCTimeout (7 s by default) when the leader cannot be reached (it died, or was
# restarted and the follower's stream to it is still in gRPC's backoff); only then does the peer's
# Gateway try the next orderer. A deadline below that (the Gateway SDKs' 5 s) fails the call first.
SUBMIT_WAIT = 30.0
COMMIT_WAIT = 20.0  # one wait for the commit, with blocks cut every 2 s or sooner
TRANSACTION_WAIT = 90.0  # every submit and commit wait of one transaction, together


def commit_wait(batch_timeout_s: float) -> float:
    """One wait for the commit where blocks may take `batch_timeout_s` to be cut."""
    return max(COMMIT_WAIT, 3 * batch_timeout_s)


def _not_taken(exc: SubmitError) -> bool:
    """No orderer took it, for now: the Gateway answered that none could (UNAVAILABLE, listing each
    orderer's error), or it was still waiting for one that forwards (DEADLINE_EXCEEDED). Not an
    UNAVAILABLE of the gateway peer itself (no details: it cannot be reached), nor a refusal."""
    if exc.code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return True
    return exc.code is grpc.StatusCode.UNAVAILABLE and bool(exc.details)


class Sending:
    """One transaction (a gateway Transaction, endorsed) sent until it commits, within one deadline
    for all its submits and commit waits; `progress` hears each time it is sent again."""

    def __init__(
        self,
        tx: Any,
        wait: float = COMMIT_WAIT,
        budget: float | None = None,
        progress: Callable[[str], None] = lambda line: None,
        pause: float = 1.0,
    ) -> None:
        self.tx, self.wait, self.pause, self.progress = tx, wait, pause, progress
        self.deadline = time.monotonic() + (budget if budget is not None else max(TRANSACTION_WAIT, 4 * wait))
        self.maybe_taken = False  # an orderer took (or may have taken) a copy: it may commit later

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def submit(self) -> Any:
        """Submit; while no orderer takes it, again. Returns its Commit; raises the last SubmitError."""
        while True:
            try:
                commit = self.tx.submit(min(SUBMIT_WAIT, max(self._left(), self.pause)))
            except SubmitError as exc:
                self.maybe_taken |= exc.code is grpc.StatusCode.DEADLINE_EXCEEDED
                if not _not_taken(exc) or self._left() <= self.pause:
                    raise
                self.progress(f"no orderer took it yet ({_short(exc)}): sending it again")
                time.sleep(self.pause)
                continue
            self.maybe_taken = True
            return commit

    def commit_status(self, commit: Any) -> Any:
        """Wait for the commit; when it does not come in time, submit the same transaction again.

        An orderer acknowledges a transaction once it took it, not once it is ordered: one that a
        Raft follower forwarded to a leader that just lost its leadership (a restart, an election)
        is dropped and never commits."""
        while True:
            wait = min(self.wait, max(self._left(), self.pause))
            try:
                return commit.status(wait)
            except CommitStatusError as exc:
                if exc.code is not grpc.StatusCode.DEADLINE_EXCEEDED or self._left() <= self.pause:
                    raise
            self.progress(f"not committed within {wait:.0f}s: sending it again")
            commit = self.submit()


def _short(exc: GatewayError) -> str:
    return exc.code.name if exc.code is not None else exc.message[:80]
