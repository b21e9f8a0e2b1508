"""Synchronous Fabric Gateway client: Gateway → Network → Contract → Proposal → Transaction → Commit."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2_grpc

from fabkube.gateway import proposal as msg
from fabkube.gateway.connection import Budget, Deadlines, channel_credentials, channel_options
from fabkube.gateway.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    GatewayError,
    SubmitError,
)
from fabkube.gateway.identity import Identity, Signer
from fabkube.gateway.proposal import Arg, ChaincodeEvent, PreparedProposal, Status, Transient

_R = TypeVar("_R")


def _pick(override: float | None, default: float | None) -> float | None:
    return default if override is None else override


def _call(
    method: Callable[..., _R], request: Any, timeout: float | None, error: type[GatewayError], txid: str | None
) -> _R:
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as err:
        raise error.from_rpc_error(err, txid) from err


class Gateway:
    """A connection to one peer's gateway service, signing as one client identity.

    Build it with `Gateway.connect(...)` (owns and closes its channel) or pass an existing
    grpc.Channel to the constructor (the caller keeps ownership).
    """

    def __init__(
        self,
        channel: grpc.Channel,
        identity: Identity,
        signer: Signer,
        deadlines: Deadlines | None = None,
        *,
        close_channel: bool = False,
    ) -> None:
        self.identity = identity
        self.signer = signer
        self.deadlines = deadlines or Deadlines()
        self._channel = channel
        self._close_channel = close_channel
        self.stub = gateway_pb2_grpc.GatewayStub(channel)

    @classmethod
    def connect(
        cls,
        endpoint: str,
        identity: Identity,
        signer: Signer,
        tls_root_cert_pem: bytes | str | None = None,
        server_name_override: str | None = None,
        *,
        tls_client_cert_pem: bytes | str | None = None,
        tls_client_key_pem: bytes | str | None = None,
        evaluate_timeout: float | None = 5.0,
        endorse_timeout: float | None = 15.0,
        submit_timeout: float | None = 5.0,
        commit_status_timeout: float | None = 60.0,
        chaincode_events_timeout: float | None = None,
    ) -> Gateway:
        """Open a channel to "host:port"; no TLS root certificate means plaintext."""
        credentials = channel_credentials(tls_root_cert_pem, tls_client_cert_pem, tls_client_key_pem)
        options = channel_options(server_name_override)
        if credentials is None:
            channel = grpc.insecure_channel(endpoint, options=options)
        else:
            channel = grpc.secure_channel(endpoint, credentials, options=options)
        deadlines = Deadlines(
            evaluate_timeout, endorse_timeout, submit_timeout, commit_status_timeout, chaincode_events_timeout
        )
        return cls(channel, identity, signer, deadlines, close_channel=True)

    def network(self, channel: str) -> Network:
        return Network(self, channel)

    def contract(self, channel: str, chaincode: str, contract_name: str | None = None) -> Contract:
        return self.network(channel).contract(chaincode, contract_name)

    def close(self) -> None:
        if self._close_channel:
            self._channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Network:
    """One channel seen through a gateway."""

    def __init__(self, gateway: Gateway, name: str) -> None:
        self.gateway = gateway
        self.name = name

    def contract(self, chaincode: str, contract_name: str | None = None) -> Contract:
        return Contract(self, chaincode, contract_name)

    def chaincode_events(
        self,
        chaincode_name: str,
        start_block: int | None = None,
        *,
        after_transaction_id: str | None = None,
        timeout: float | None = None,
    ) -> ChaincodeEventStream:
        """Events of committed transactions, from start_block (default: the next block committed)."""
        gw = self.gateway
        request = msg.chaincode_events_request(
            gw.identity, gw.signer, self.name, chaincode_name, start_block, after_transaction_id
        )
        call = gw.stub.ChaincodeEvents(request, timeout=_pick(timeout, gw.deadlines.chaincode_events))
        return ChaincodeEventStream(call)


class Contract:
    """A chaincode (and optionally one named contract inside it) on a channel."""

    def __init__(self, network: Network, chaincode_name: str, contract_name: str | None = None) -> None:
        self.network = network
        self.chaincode_name = chaincode_name
        self.contract_name = contract_name

    def new_proposal(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> Proposal:
        gw = self.network.gateway
        prepared = msg.prepare_proposal(
            gw.identity,
            gw.signer,
            self.network.name,
            self.chaincode_name,
            msg.chaincode_args(fn, args, self.contract_name),
            transient,
            endorsing_orgs,
        )
        return Proposal(gw, prepared)

    def evaluate(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Run a query on one peer (no ledger update) and return the chaincode's result."""
        return self.new_proposal(fn, *args, transient=transient, endorsing_orgs=endorsing_orgs).evaluate(timeout)

    def submit(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Endorse, order and wait for commit; raise CommitError unless the transaction is VALID.

        `timeout` bounds the whole sequence; without it each step uses its default deadline.
        """
        budget = Budget(timeout)
        proposal = self.new_proposal(fn, *args, transient=transient, endorsing_orgs=endorsing_orgs)
        transaction = proposal.endorse(budget.left())
        status = transaction.submit(budget.left()).status(budget.left())
        if not status.successful:
            raise CommitError(status)
        return transaction.result


class Proposal:
    """A signed transaction proposal, ready to evaluate or endorse."""

    def __init__(self, gateway: Gateway, prepared: PreparedProposal) -> None:
        self._gateway = gateway
        self.prepared = prepared

    @property
    def transaction_id(self) -> str:
        return self.prepared.transaction_id

    def evaluate(self, timeout: float | None = None) -> bytes:
        gw = self._gateway
        response = _call(
            gw.stub.Evaluate,
            self.prepared.evaluate_request(),
            _pick(timeout, gw.deadlines.evaluate),
            GatewayError,
            self.transaction_id,
        )
        return response.result.payload

    def endorse(self, timeout: float | None = None) -> Transaction:
        gw = self._gateway
        response = _call(
            gw.stub.Endorse,
            self.prepared.endorse_request(),
            _pick(timeout, gw.deadlines.endorse),
            EndorseError,
            self.transaction_id,
        )
        return Transaction(gw, self.prepared.channel, self.transaction_id, response.prepared_transaction)


class Transaction:
    """An endorsed transaction: the chaincode result is known, the ledger is not yet updated."""

    def __init__(self, gateway: Gateway, channel: str, transaction_id: str, envelope: common_pb2.Envelope) -> None:
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id
        self.envelope = envelope
        self.result = msg.result_from_envelope(envelope)

    def submit(self, timeout: float | None = None) -> Commit:
        """Sign and send to the ordering service; returns once the orderer accepted it."""
        gw = self._gateway
        signed = msg.sign_envelope(self.envelope, gw.signer)
        request = msg.submit_request(self.transaction_id, self.channel, signed)
        _call(gw.stub.Submit, request, _pick(timeout, gw.deadlines.submit), SubmitError, self.transaction_id)
        return Commit(gw, self.channel, self.transaction_id)


class Commit:
    """A submitted transaction whose validation result can be waited for."""

    def __init__(self, gateway: Gateway, channel: str, transaction_id: str) -> None:
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id

    def status(self, timeout: float | None = None) -> Status:
        """Block until the transaction is committed on the gateway peer and return its validation code."""
        gw = self._gateway
        request = msg.commit_status_request(gw.identity, gw.signer, self.channel, self.transaction_id)
        response = _call(
            gw.stub.CommitStatus,
            request,
            _pick(timeout, gw.deadlines.commit_status),
            CommitStatusError,
            self.transaction_id,
        )
        return msg.status_from_response(self.transaction_id, response)


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
