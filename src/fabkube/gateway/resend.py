"""Sending one signed transaction until the ordering service takes it and it commits, for a client
that must not fail on what an election or a restart does for a few seconds (`fabkube invoke`).

Sending the very same envelope again is always safe: should two copies be ordered, the second is
invalidated as a duplicate transaction ID and the first one's status stands."""

from __future__ import annotations

import time
from typing import Any

import grpc

from fabkube.gateway.errors import CommitStatusError, SubmitError

# One Submit call. A Raft follower forwards a transaction to its leader and answers only after
# General.Cluster.RPCTimeout (7 s by default) when the leader cannot be reached (it hangs, or was
# restarted and the follower's stream to it is still in gRPC's backoff); only then does the peer's
# Gateway try the next orderer. A deadline below that (the Gateway SDKs' 5 s) fails the call first.
SUBMIT_WAIT = 30.0
ORDERING_WAIT = 60.0  # all Submit calls of one transaction, while the ordering service elects a leader
# UNAVAILABLE: no orderer took it (no Raft leader yet); DEADLINE_EXCEEDED: one was still forwarding.
NOT_TAKEN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

RESUBMITS = 2  # after the first wait for its commit
COMMIT_WAIT = 20.0  # seconds per wait


def submit(tx: Any, budget: float = ORDERING_WAIT, pause: float = 1.0) -> Any:
    """Submit `tx` (a gateway Transaction); while no orderer takes it, again, for up to `budget`
    seconds. Returns its Commit; raises the last SubmitError."""
    deadline = time.monotonic() + budget
    while True:
        left = deadline - time.monotonic()
        try:
            return tx.submit(min(SUBMIT_WAIT, max(left, pause)))
        except SubmitError as exc:
            if exc.code not in NOT_TAKEN or time.monotonic() + pause >= deadline:
                raise
        time.sleep(pause)


def commit_status(tx: Any, commit: Any, budget: float = ORDERING_WAIT, pause: float = 1.0) -> Any:
    """Wait for the commit; when it does not come in time, submit the same transaction again.

    An orderer acknowledges a transaction once it took it, not once it is ordered: one that a Raft
    follower forwarded to a leader that just lost its leadership (a restart, an election) is dropped
    and never commits."""
    for attempt in range(RESUBMITS + 1):
        try:
            return commit.status(COMMIT_WAIT)
        except CommitStatusError as exc:
            if exc.code is not grpc.StatusCode.DEADLINE_EXCEEDED or attempt == RESUBMITS:
                raise
            commit = submit(tx, budget, pause)
    raise AssertionError("unreachable")
