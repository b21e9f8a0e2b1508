"""`fabkube invoke` sends the same signed transaction again when its commit does not come in time
(an orderer that forwarded it to a leader that lost leadership drops it), and while no orderer takes
it (an election under way; a follower still forwarding to a leader it cannot reach); only then, and
all within one deadline per transaction."""

import time

import grpc
import pytest

from fabkube.gateway import CommitStatusError, SubmitError
from fabkube.gateway.errors import ErrorDetail
from fabkube.gateway.resend import COMMIT_WAIT, SUBMIT_WAIT, TRANSACTION_WAIT, Sending, commit_wait


class FakeTransaction:
    """The transaction as sent: submits follow `submits` (an exception is raised), then succeed; each
    returns a commit whose status() follows `script`."""

    def __init__(self, script=(), submits=()):
        self.script, self.submits = list(script), list(submits)
        self.sent, self.submit_timeouts, self.status_timeouts = 0, [], []

    def submit(self, timeout):
        self.submit_timeouts.append(timeout)
        if self.submits and isinstance(self.submits[0], Exception):
            raise self.submits.pop(0)
        self.sent += 1
        return self

    def status(self, timeout):
        self.status_timeouts.append(timeout)
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            time.sleep(min(timeout, 0.01))  # it waited (the real one: `timeout`)
            raise outcome
        return outcome


def lost():
    return CommitStatusError("waiting for commit", code=grpc.StatusCode.DEADLINE_EXCEEDED)


def not_taken(code=grpc.StatusCode.UNAVAILABLE):
    """As the Gateway answers when no orderer took it: each orderer's error in the details."""
    detail = ErrorDetail("127.0.0.1:7050", "OrdererMSP", "SERVICE_UNAVAILABLE: no Raft leader")
    return SubmitError("no orderers could successfully process transaction", code=code, details=[detail])


def sending(tx, budget=5.0, **kw):
    lines = []
    return Sending(tx, budget=budget, progress=lines.append, pause=0.01, **kw), lines


def test_each_submit_may_outlast_a_followers_forwarding_timeout():
    assert SUBMIT_WAIT > 7  # General.Cluster.RPCTimeout: a follower answers only after it
    tx = FakeTransaction()
    Sending(tx).submit()
    assert tx.submit_timeouts == [SUBMIT_WAIT]


def test_a_submit_no_orderer_takes_is_sent_again():
    tx = FakeTransaction(submits=[not_taken(), not_taken(grpc.StatusCode.DEADLINE_EXCEEDED)])
    s, lines = sending(tx)
    assert s.submit() is tx and tx.sent == 1 and s.maybe_taken
    assert len(tx.submit_timeouts) == 3
    assert lines == ["no orderer took it yet (UNAVAILABLE): sending it again",
                     "no orderer took it yet (DEADLINE_EXCEEDED): sending it again"]  # fmt: skip


def test_a_submit_is_given_up_at_the_deadline():
    tx = FakeTransaction(submits=[not_taken()] * 1000)
    s, _ = sending(tx, budget=0.2)
    with pytest.raises(SubmitError):
        s.submit()
    assert 2 <= len(tx.submit_timeouts) <= 21 and tx.sent == 0 and not s.maybe_taken


def test_a_refusal_or_an_unreachable_peer_is_not_sent_again():
    unreachable = SubmitError("failed to connect to all addresses", code=grpc.StatusCode.UNAVAILABLE)
    for error in (not_taken(grpc.StatusCode.ABORTED), unreachable):
        tx = FakeTransaction(submits=[error])
        with pytest.raises(SubmitError):
            sending(tx)[0].submit()
        assert len(tx.submit_timeouts) == 1


def test_a_dropped_transaction_is_sent_again_and_commits():
    tx = FakeTransaction([lost(), "VALID"])
    s, lines = sending(tx)
    assert s.commit_status(tx) == "VALID" and tx.sent == 1
    assert lines == ["not committed within 5s: sending it again"]


def test_a_resubmit_after_a_lost_commit_waits_for_the_ordering_service_too():
    tx = FakeTransaction([lost(), "VALID"], submits=[not_taken()])
    assert sending(tx)[0].commit_status(tx) == "VALID" and tx.sent == 1


def test_commit_waits_and_resubmits_share_one_deadline():
    tx = FakeTransaction([lost()] * 1000)
    s, _ = sending(tx, budget=0.3, wait=0.05)
    with pytest.raises(CommitStatusError):
        s.commit_status(tx)
    assert all(t <= 0.05 for t in tx.status_timeouts) and 1 <= tx.sent < 1000


def test_other_commit_errors_are_not_retried():
    tx = FakeTransaction([CommitStatusError("no", code=grpc.StatusCode.PERMISSION_DENIED)])
    with pytest.raises(CommitStatusError):
        sending(tx)[0].commit_status(tx)
    assert tx.sent == 0


def test_waits_follow_the_batch_timeout():
    assert commit_wait(2) == COMMIT_WAIT and commit_wait(0.25) == COMMIT_WAIT
    assert commit_wait(30) == 90
    assert Sending(FakeTransaction(), commit_wait(2)).deadline > 0
    default, slow = Sending(FakeTransaction()), Sending(FakeTransaction(), commit_wait(30))
    assert slow.deadline - default.deadline > 4 * 90 - TRANSACTION_WAIT - 1
