"""Async iterators over range, rich-query and history results, paging through the peer's batches."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from fabric_protos.ledger.queryresult import kv_query_result_pb2 as kv_pb
from fabric_protos.peer import chaincode_shim_pb2 as shim
from google.protobuf.message import Message

from .protocol import PeerError, Requester

CCM = shim.ChaincodeMessage


class _QueryIterator:
    """`async for item in it`; `await it.aclose()` (or `close()`) when stopping early.

    `metadata` is the peer's QueryResponseMetadata (fetched_records_count, bookmark); it is what
    a paginated query reports, and all defaults for an unpaginated one.
    """

    result_type: ClassVar[type[Message]]

    def __init__(self, requester: Requester, response: shim.QueryResponse) -> None:
        self._requester = requester
        self._response = response
        self._position = 0
        self._closed = False
        self.metadata = shim.QueryResponseMetadata.FromString(response.metadata)

    @property
    def bookmark(self) -> str:
        return self.metadata.bookmark

    @property
    def fetched_records_count(self) -> int:
        return self.metadata.fetched_records_count

    def __aiter__(self) -> _QueryIterator:
        return self

    async def __anext__(self) -> Any:
        if self._position >= len(self._response.results):
            if not self.has_next():
                self._closed = True
                raise StopAsyncIteration
            await self._next_batch()
            if not self._response.results:  # an empty batch: treat as the end rather than spin
                self._closed = True
                raise StopAsyncIteration
        raw = self._response.results[self._position]
        self._position += 1
        return self.result_type.FromString(raw.resultBytes)

    def has_next(self) -> bool:
        if self._closed:
            return False
        return self._position < len(self._response.results) or self._response.has_more

    async def _next_batch(self) -> None:
        query_id = self._response.id
        reply = await self._requester.request(CCM.QUERY_STATE_NEXT, shim.QueryStateNext(id=query_id))
        self._response = shim.QueryResponse.FromString(reply.payload)
        if not self._response.id:
            self._response.id = query_id
        self._position = 0

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # The peer drops a query itself once it has sent the last batch; only one that still
        # has more needs closing. Closing is best effort: the peer also drops it when the tx ends.
        if self._response.has_more:
            with contextlib.suppress(PeerError):
                await self._requester.request(CCM.QUERY_STATE_CLOSE, shim.QueryStateClose(id=self._response.id))

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> _QueryIterator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class StateQueryIterator(_QueryIterator):
    """Yields queryresult.KV (key: str, value: bytes, namespace) from a range query."""

    result_type = kv_pb.KV


class QueryResultIterator(_QueryIterator):
    """Yields queryresult.KV from a rich (CouchDB) query."""

    result_type = kv_pb.KV


class HistoryQueryIterator(_QueryIterator):
    """Yields queryresult.KeyModification (tx_id, value, timestamp, is_delete)."""

    result_type = kv_pb.KeyModification
