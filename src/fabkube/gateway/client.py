"""Synchronous Fabric Gateway client: Gateway → Network → Contract → Proposal → Transaction → Commit."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import grpc

from fabkube.gateway import proposal as msg
from fabkube.gateway.base import (
    CallSpec,
    CommitBase,
    ContractBase,
    GatewayBase,
    NetworkBase,
    ProposalBase,
    TransactionBase,
)
from fabkube.gateway.connection import Budget
from fabkube.gateway.errors import CommitError, GatewayError
from fabkube.gateway.proposal import Arg, ChaincodeEvent, Status, Transient


def _call(gateway: Gateway, spec: CallSpec) -> Any:
    try:
        return getattr(gateway.stub, spec.method)(spec.request, timeout=spec.timeout)
    except grpc.RpcError as err:
        raise spec.error.from_rpc_error(err, spec.transaction_id) from err


class Gateway(GatewayBase):
    """A connection to one peer's gateway service, signing as one client identity.

    Build it with `Gateway.connect(...)` (owns and closes its channel) or pass an existing
    grpc.Channel to the constructor (the caller keeps ownership).
    """

    @staticmethod
    def _open_channel(endpoint: str, credentials: grpc.ChannelCredentials | None, options: list) -> grpc.Channel:
        if credentials is None:
            return grpc.insecure_channel(endpoint, options=options)
        return grpc.secure_channel(endpoint, credentials, options=options)

    def close(self) -> None:
        if self._close_channel:
            self._channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Network(NetworkBase):
    def chaincode_events(
        self,
        chaincode_name: str,
        start_block: int | None = None,
        *,
        after_transaction_id: str | None = None,
        timeout: float | None = None,
    ) -> ChaincodeEventStream:
        """Events of committed transactions, from start_block (default: the next block committed)."""
        return ChaincodeEventStream(self._events_call(chaincode_name, start_block, after_transaction_id, timeout))


class Contract(ContractBase):
    def evaluate(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        proposal = self.new_proposal(fn, *args, transient=transient, endorsing_orgs=endorsing_orgs)
        return proposal.evaluate(timeout)

    def submit(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Endorse, order and wait for commit; raise CommitError unless VALID. `timeout` bounds it all."""
        budget = Budget(timeout)
        proposal = self.new_proposal(fn, *args, transient=transient, endorsing_orgs=endorsing_orgs)
        transaction = proposal.endorse(budget.left())
        status = transaction.submit(budget.left()).status(budget.left())
        if not status.successful:
            raise CommitError(status)
        return transaction.result


class Proposal(ProposalBase):
    def evaluate(self, timeout: float | None = None) -> bytes:
        return _call(self._gateway, self._evaluate_call(timeout)).result.payload

    def endorse(self, timeout: float | None = None) -> Transaction:
        return self._transaction(_call(self._gateway, self._endorse_call(timeout)))


class Transaction(TransactionBase):
    def submit(self, timeout: float | None = None) -> Commit:
        """Sign and send to the ordering service; returns once the orderer accepted it."""
        _call(self._gateway, self._submit_call(timeout))
        return self._commit()


class Commit(CommitBase):
    def status(self, timeout: float | None = None) -> Status:
        """Block until the transaction is committed on the gateway peer and return its validation code."""
        return self._status(_call(self._gateway, self._status_call(timeout)))


Gateway.network_cls = Network
Network.contract_cls = Contract
Contract.proposal_cls = Proposal
Proposal.transaction_cls = Transaction
Transaction.commit_cls = Commit


class ChaincodeEventStream:
    """Iterator over chaincode events; close() (or leaving a `with` block) cancels the stream.

    close() may be called from another thread to stop an iteration blocked waiting for events.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._pending: deque[ChaincodeEvent] = deque()
        self._closed = False

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        return self

    def __next__(self) -> ChaincodeEvent:
        while not self._pending:
            if self._closed:
                raise StopIteration
            self._pending.extend(msg.events_from_response(self._read()))
        return self._pending.popleft()

    def _read(self) -> Any:
        try:
            return next(self._call)
        except grpc.RpcError as err:
            if self._closed:
                # Our own cancel() surfaces as CANCELLED: that is the end of the stream, not a failure.
                raise StopIteration from None
            raise GatewayError.from_rpc_error(err) from err

    def close(self) -> None:
        self._closed = True
        self._call.cancel()

    def __enter__(self) -> ChaincodeEventStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
