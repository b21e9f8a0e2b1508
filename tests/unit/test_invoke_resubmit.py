"""`fabkube invoke` sends the same signed transaction again when its commit does not come in time
(an orderer that forwarded it to a leader that lost leadership drops it), and while no orderer takes
it (an election under way; a follower still forwarding to a leader it cannot reach); only then."""

import grpc
import pytest

from fabkube.gateway import CommitStatusError, SubmitError
from fabkube.gateway.resend import RESUBMITS, SUBMIT_WAIT, commit_status, submit


class FakeTransaction:
    """The transaction as sent: each submit returns a commit whose status() follows the script."""

    def __init__(self, script, submits=()):
        self.script, self.sent, self.submits, self.timeouts = list(script), 0, list(submits), []

    def submit(self, timeout):
        self.timeouts.append(timeout)
        if self.submits:
            outcome = self.submits.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
        self.sent += 1
        return self

    def status(self, timeout):
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def deadline():
    return CommitStatusError("waiting for commit", code=grpc.StatusCode.DEADLINE_EXCEEDED)


def test_a_dropped_transaction_is_sent_again_and_commits():
    tx = FakeTransaction([deadline(), "VALID"])
    assert commit_status(tx, tx, pause=0.01) == "VALID" and tx.sent == 1


def test_it_gives_up_after_the_resubmits():
    tx = FakeTransaction([deadline()] * (RESUBMITS + 1))
    with pytest.raises(CommitStatusError):
        commit_status(tx, tx, pause=0.01)
    assert tx.sent == RESUBMITS


def test_other_errors_are_not_retried():
    tx = FakeTransaction([CommitStatusError("no", code=grpc.StatusCode.PERMISSION_DENIED)])
    with pytest.raises(CommitStatusError):
        commit_status(tx, tx, pause=0.01)
    assert tx.sent == 0


def not_taken(code=grpc.StatusCode.UNAVAILABLE):
    return SubmitError("no orderers could successfully process transaction", code=code)


def test_a_submit_no_orderer_takes_is_sent_again():
    tx = FakeTransaction([], submits=[not_taken(), not_taken(grpc.StatusCode.DEADLINE_EXCEEDED), None])
    assert submit(tx, budget=5, pause=0.01) is tx and tx.sent == 1
    assert len(tx.timeouts) == 3 and all(0 < t <= SUBMIT_WAIT for t in tx.timeouts)


def test_a_submit_is_given_up_after_its_budget():
    tx = FakeTransaction([], submits=[not_taken()] * 1000)
    with pytest.raises(SubmitError):
        submit(tx, budget=0.2, pause=0.05)
    assert 2 <= len(tx.timeouts) <= 5 and tx.sent == 0


def test_a_refused_submit_is_not_sent_again():
    tx = FakeTransaction([], submits=[not_taken(grpc.StatusCode.ABORTED)])
    with pytest.raises(SubmitError):
        submit(tx, budget=5, pause=0.01)
    assert len(tx.timeouts) == 1


def test_a_resubmit_after_a_lost_commit_waits_for_the_ordering_service_too():
    tx = FakeTransaction([deadline(), "VALID"], submits=[not_taken(), None])
    assert commit_status(tx, tx, pause=0.01) == "VALID" and tx.sent == 1
