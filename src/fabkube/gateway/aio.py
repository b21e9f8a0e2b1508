"""asyncio Fabric Gateway client on grpc.aio; same shape as the sync client, awaitable calls.

What to send is decided in fabkube.gateway.base, exactly as for the sync client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

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


async def _call(gateway: AsyncGateway, spec: CallSpec) -> Any:
    try:
        return await getattr(gateway.stub, spec.method)(spec.request, timeout=spec.timeout)
    except grpc.RpcError as err:  # grpc.aio.AioRpcError is one
        raise spec.error.from_rpc_error(err, spec.transaction_id) from err


class AsyncGateway(GatewayBase):
    """asyncio counterpart of Gateway; use `async with AsyncGateway.connect(...) as gateway`."""

    @staticmethod
    def _open_channel(endpoint: str, credentials: grpc.ChannelCredentials | None, options: list) -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(endpoint, options=options)
        return grpc.aio.secure_channel(endpoint, credentials, options=options)

    async def close(self) -> None:
        if self._close_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncGateway:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AsyncNetwork(NetworkBase):
    def chaincode_events(
        self,
        chaincode_name: str,
        start_block: int | None = None,
        *,
        after_transaction_id: str | None = None,
        timeout: float | None = None,
    ) -> AsyncChaincodeEventStream:
        """Async iterator of events, from start_block (default: the next block committed)."""
        return AsyncChaincodeEventStream(self._events_call(chaincode_name, start_block, after_transaction_id, timeout))


class AsyncContract(ContractBase):
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


class AsyncProposal(ProposalBase):
    async def evaluate(self, timeout: float | None = None) -> bytes:
        return (await _call(self._gateway, self._evaluate_call(timeout))).result.payload

    async def endorse(self, timeout: float | None = None) -> AsyncTransaction:
        return self._transaction(await _call(self._gateway, self._endorse_call(timeout)))


class AsyncTransaction(TransactionBase):
    async def submit(self, timeout: float | None = None) -> AsyncCommit:
        await _call(self._gateway, self._submit_call(timeout))
        return self._commit()


class AsyncCommit(CommitBase):
    async def status(self, timeout: float | None = None) -> Status:
        return self._status(await _call(self._gateway, self._status_call(timeout)))


AsyncGateway.network_cls = AsyncNetwork
AsyncNetwork.contract_cls = AsyncContract
AsyncContract.proposal_cls = AsyncProposal
AsyncProposal.transaction_cls = AsyncTransaction
AsyncTransaction.commit_cls = AsyncCommit


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
