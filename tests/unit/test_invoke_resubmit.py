"""`fabkube invoke` sends the same signed transaction again when its commit does not come in time
(an orderer that forwarded it to a leader that lost leadership drops it), and only then."""

import grpc
import pytest

from fabkube.backends.base import RESUBMITS, _commit_status
from fabkube.gateway import CommitStatusError


class FakeTransaction:
    """The transaction as sent: each submit returns a commit whose status() follows the script."""

    def __init__(self, script):
        self.script, self.sent = list(script), 0

    def submit(self):
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
    assert _commit_status(tx, tx) == "VALID" and tx.sent == 1


def test_it_gives_up_after_the_resubmits():
    tx = FakeTransaction([deadline()] * (RESUBMITS + 1))
    with pytest.raises(CommitStatusError):
        _commit_status(tx, tx)
    assert tx.sent == RESUBMITS


def test_other_errors_are_not_retried():
    tx = FakeTransaction([CommitStatusError("no", code=grpc.StatusCode.PERMISSION_DENIED)])
    with pytest.raises(CommitStatusError):
        _commit_status(tx, tx)
    assert tx.sent == 0
