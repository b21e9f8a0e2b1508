"""asyncio Fabric Gateway client on grpc.aio; same shape as the sync client, awaitable calls.

Messages are built by fabkube.gateway.proposal, exactly as for the sync client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio
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


async def _call(
    method: Callable[..., Awaitable[_R]],
    request: Any,
    timeout: float | None,
    error: type[GatewayError],
    txid: str | None,
) -> _R:
    try:
        return await method(request, timeout=timeout)
    except grpc.RpcError as err:  # grpc.aio.AioRpcError is one
        raise error.from_rpc_error(err, txid) from err


class AsyncGateway:
    """asyncio counterpart of Gateway; use `async with AsyncGateway.connect(...) as gateway`."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
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
    ) -> AsyncGateway:
        """Open a grpc.aio channel to "host:port" (call from inside the event loop that will use it)."""
        credentials = channel_credentials(tls_root_cert_pem, tls_client_cert_pem, tls_client_key_pem)
        options = channel_options(server_name_override)
        if credentials is None:
            channel = grpc.aio.insecure_channel(endpoint, options=options)
        else:
            channel = grpc.aio.secure_channel(endpoint, credentials, options=options)
        deadlines = Deadlines(
            evaluate_timeout, endorse_timeout, submit_timeout, commit_status_timeout, chaincode_events_timeout
        )
        return cls(channel, identity, signer, deadlines, close_channel=True)

    def network(self, channel: str) -> AsyncNetwork:
        return AsyncNetwork(self, channel)

    def contract(self, channel: str, chaincode: str, contract_name: str | None = None) -> AsyncContract:
        return self.network(channel).contract(chaincode, contract_name)

    async def close(self) -> None:
        if self._close_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncGateway:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AsyncNetwork:
    def __init__(self, gateway: AsyncGateway, name: str) -> None:
        self.gateway = gateway
        self.name = name

    def contract(self, chaincode: str, contract_name: str | None = None) -> AsyncContract:
        return AsyncContract(self, chaincode, contract_name)

    def chaincode_events(
        self,
        chaincode_name: str,
        start_block: int | None = None,
        *,
        after_transaction_id: str | None = None,
        timeout: float | None = None,
    ) -> AsyncChaincodeEventStream:
        """Async iterator of events, from start_block (default: the next block committed)."""
        gw = self.gateway
        request = msg.chaincode_events_request(
            gw.identity, gw.signer, self.name, chaincode_name, start_block, after_transaction_id
        )
        call = gw.stub.ChaincodeEvents(request, timeout=_pick(timeout, gw.deadlines.chaincode_events))
        return AsyncChaincodeEventStream(call)


class AsyncContract:
    def __init__(self, network: AsyncNetwork, chaincode_name: str, contract_name: str | None = None) -> None:
        self.network = network
        self.chaincode_name = chaincode_name
        self.contract_name = contract_name

    def new_proposal(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> AsyncProposal:
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
        return AsyncProposal(gw, prepared)

    async def evaluate(
        self,
        fn: str,
        *args: Arg,
        transient: Transient | None = None,
        endorsing_orgs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        proposal = self.new_proposal(fn, *args, transient=transient, endorsing_orgs=endorsing_orgs)
        return await proposal.evaluate(timeout)

    async def submit(
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
        transaction = await proposal.endorse(budget.left())
        commit = await transaction.submit(budget.left())
        status = await commit.status(budget.left())
        if not status.successful:
            raise CommitError(status)
        return transaction.result


class AsyncProposal:
    def __init__(self, gateway: AsyncGateway, prepared: PreparedProposal) -> None:
        self._gateway = gateway
        self.prepared = prepared

    @property
    def transaction_id(self) -> str:
        return self.prepared.transaction_id

    async def evaluate(self, timeout: float | None = None) -> bytes:
        gw = self._gateway
        response = await _call(
            gw.stub.Evaluate,
            self.prepared.evaluate_request(),
            _pick(timeout, gw.deadlines.evaluate),
            GatewayError,
            self.transaction_id,
        )
        return response.result.payload

    async def endorse(self, timeout: float | None = None) -> AsyncTransaction:
        gw = self._gateway
        response = await _call(
            gw.stub.Endorse,
            self.prepared.endorse_request(),
            _pick(timeout, gw.deadlines.endorse),
            EndorseError,
            self.transaction_id,
        )
        return AsyncTransaction(gw, self.prepared.channel, self.transaction_id, response.prepared_transaction)


class AsyncTransaction:
    def __init__(self, gateway: AsyncGateway, channel: str, transaction_id: str, envelope: common_pb2.Envelope) -> None:
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id
        self.envelope = envelope
        self.result = msg.result_from_envelope(envelope)

    async def submit(self, timeout: float | None = None) -> AsyncCommit:
        gw = self._gateway
        signed = msg.sign_envelope(self.envelope, gw.signer)
        request = msg.submit_request(self.transaction_id, self.channel, signed)
        await _call(gw.stub.Submit, request, _pick(timeout, gw.deadlines.submit), SubmitError, self.transaction_id)
        return AsyncCommit(gw, self.channel, self.transaction_id)


class AsyncCommit:
    def __init__(self, gateway: AsyncGateway, channel: str, transaction_id: str) -> None:
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id

    async def status(self, timeout: float | None = None) -> Status:
        gw = self._gateway
        request = msg.commit_status_request(gw.identity, gw.signer, self.channel, self.transaction_id)
        response = await _call(
            gw.stub.CommitStatus,
            request,
            _pick(timeout, gw.deadlines.commit_status),
            CommitStatusError,
            self.transaction_id,
        )
        return msg.status_from_response(self.transaction_id, response)


class AsyncChaincodeEventStream:
    """`async for event in stream`; close() (or leaving `async with`) cancels the stream."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._pending: deque[ChaincodeEvent] = deque()
        self._closed = False

    def __aiter__(self) -> AsyncIterator[ChaincodeEvent]:
        return self

    async def __anext__(self) -> ChaincodeEvent:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            response = await self._read()
            if response is grpc.aio.EOF:
                raise StopAsyncIteration
            self._pending.extend(msg.events_from_response(response))
        return self._pending.popleft()

    async def _read(self) -> Any:
        try:
            return await self._call.read()
        except asyncio.CancelledError:
            # A read pending when close() cancels the call ends the stream; any other
            # cancellation is the task's own and must propagate.
            if self._closed:
                return grpc.aio.EOF
            raise
        except grpc.RpcError as err:
            if self._closed:
                return grpc.aio.EOF
            raise GatewayError.from_rpc_error(err) from err

    def close(self) -> None:
        self._closed = True
        self._call.cancel()

    async def __aenter__(self) -> AsyncChaincodeEventStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
