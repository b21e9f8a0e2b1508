"""The stub handed to user chaincode: the method names, arguments and return types of
fabric-chaincode-python's ChaincodeStub, with the semantics of Fabric's Go shim where that one
left a method out or got the protocol wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fabric_chaincode_python.fabric_shim.interfaces import ChaincodeStubInterface
from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from . import keys
from .iterators import HistoryQueryIterator, QueryResultIterator, StateQueryIterator
from .proposal import decode_signed_proposal
from .protocol import PeerError, Requester

CCM = shim.ChaincodeMessage
VALIDATION_PARAMETER = "VALIDATION_PARAMETER"
PUBLIC = ""  # the collection name that means the public world state
ERROR_STATUS = 500


def _as_bytes(value: Any, what: str = "value") -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def _need_key(key: str) -> None:
    if not key:
        raise ValueError("key must not be an empty string")


def _need_collection(collection: str) -> None:
    if not collection:
        raise ValueError("collection must not be an empty string")


def _page(page_size: int, bookmark: str) -> bytes:
    return shim.QueryMetadata(pageSize=int(page_size), bookmark=bookmark or "").SerializeToString()


class ChaincodeStub(ChaincodeStubInterface):
    """Per-transaction API between user chaincode and the peer."""

    def __init__(
        self,
        client: Requester,
        channel_id: str,
        tx_id: str,
        cc_input: chaincode_pb2.ChaincodeInput,
        signed_proposal_pb: proposal_pb2.SignedProposal | None,
    ) -> None:
        info = decode_signed_proposal(signed_proposal_pb)
        self.client = client
        self.channel_id = channel_id
        self.tx_id = tx_id
        self.cc_input = cc_input
        self.signed_proposal_pb = info.decoded
        self.proposal = info.proposal
        self.creator = info.creator
        self.tx_timestamp = info.timestamp
        self.validationParameterMetakey = VALIDATION_PARAMETER
        self._info = info
        self._events: list[chaincode_event_pb2.ChaincodeEvent] = []

    # ----- transaction facts -----

    def get_channel_id(self) -> str:
        return self.channel_id

    def get_txid(self) -> str:
        return self.tx_id

    def get_tx_timestamp(self) -> Timestamp | None:
        return self.tx_timestamp

    def get_creator(self) -> dict[str, Any]:
        """{'mspid': str, 'idBytes': bytes (the PEM certificate)}, or {} without a proposal."""
        return self.creator

    def get_transient(self) -> dict[str, bytes]:
        return dict(self._info.transient)

    def get_binding(self) -> bytes:
        return self._info.binding

    def get_signed_proposal(self) -> proposal_pb2.SignedProposal | None:
        return self._info.signed

    def get_decorations(self) -> dict[str, bytes]:
        return dict(self.cc_input.decorations)

    def get_args(self) -> list[bytes]:
        return list(self.cc_input.args)

    def get_string_args(self) -> list[str]:
        return [arg.decode() for arg in self.cc_input.args]

    def get_args_slice(self) -> bytes:
        return b"".join(self.cc_input.args)

    def get_function_and_parameters(self) -> tuple[str, list[str]]:
        args = self.get_string_args()
        if not args:
            raise Exception("no function name provided in transaction payload")
        return args[0], args[1:]

    # ----- world state -----

    async def _ask(self, msg_type: int, payload: Message) -> CCM:
        return await self.client.request(msg_type, payload)

    async def get_state(self, key: str) -> bytes:
        """The value, or b"" when the key does not exist."""
        return await self._get(PUBLIC, key)

    async def put_state(self, key: str, value: bytes | str) -> CCM:
        return await self._put(PUBLIC, key, value)

    async def delete_state(self, key: str) -> CCM:
        return await self._ask(CCM.DEL_STATE, shim.DelState(key=key, collection=PUBLIC))

    async def _get(self, collection: str, key: str) -> bytes:
        reply = await self._ask(CCM.GET_STATE, shim.GetState(key=key, collection=collection))
        return reply.payload

    async def _put(self, collection: str, key: str, value: bytes | str) -> CCM:
        _need_key(key)
        payload = shim.PutState(key=key, value=_as_bytes(value), collection=collection)
        return await self._ask(CCM.PUT_STATE, payload)

    async def set_state_validation_parameter(self, key: str, ep: bytes) -> CCM:
        return await self._put_metadata(PUBLIC, key, ep)

    async def get_state_validation_parameter(self, key: str) -> bytes:
        return await self._get_metadata(PUBLIC, key)

    async def _put_metadata(self, collection: str, key: str, ep: bytes) -> CCM:
        entry = shim.StateMetadata(metakey=self.validationParameterMetakey, value=_as_bytes(ep, "ep"))
        payload = shim.PutStateMetadata(key=key, collection=collection, metadata=entry)
        return await self._ask(CCM.PUT_STATE_METADATA, payload)

    async def _get_metadata(self, collection: str, key: str) -> bytes:
        reply = await self._ask(CCM.GET_STATE_METADATA, shim.GetStateMetadata(key=key, collection=collection))
        for entry in shim.StateMetadataResult.FromString(reply.payload).entries:
            if entry.metakey == self.validationParameterMetakey:
                return entry.value
        return b""

    # ----- queries -----

    async def _range(self, collection: str, start: str, end: str, metadata: bytes = b"") -> StateQueryIterator:
        payload = shim.GetStateByRange(startKey=start, endKey=end, collection=collection, metadata=metadata)
        reply = await self._ask(CCM.GET_STATE_BY_RANGE, payload)
        return StateQueryIterator(self.client, shim.QueryResponse.FromString(reply.payload))

    async def _rich_query(self, collection: str, query: str, metadata: bytes = b"") -> QueryResultIterator:
        payload = shim.GetQueryResult(query=query, collection=collection, metadata=metadata)
        reply = await self._ask(CCM.GET_QUERY_RESULT, payload)
        return QueryResultIterator(self.client, shim.QueryResponse.FromString(reply.payload))

    async def get_state_by_range(self, start_key: str, end_key: str) -> StateQueryIterator:
        """Keys in [start_key, end_key); "" means unbounded. Yields queryresult.KV."""
        return await self._range(PUBLIC, start_key or keys.EMPTY_KEY_SUBSTITUTE, end_key or "")

    async def get_state_by_range_with_pagination(
        self, start_key: str, end_key: str, page_size: int, bookmark: str = ""
    ) -> StateQueryIterator:
        """One page; the iterator's `metadata.bookmark` starts the next one."""
        start = start_key or keys.EMPTY_KEY_SUBSTITUTE
        return await self._range(PUBLIC, start, end_key or "", _page(page_size, bookmark))

    async def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> StateQueryIterator:
        return await self._range(PUBLIC, *keys.partial_key_range(object_type, attributes))

    async def get_state_by_partial_composite_key_with_pagination(
        self, object_type: str, attributes: Sequence[str], page_size: int, bookmark: str = ""
    ) -> StateQueryIterator:
        start, end = keys.partial_key_range(object_type, attributes)
        return await self._range(PUBLIC, start, end, _page(page_size, bookmark))

    async def get_query_result(self, query: str) -> QueryResultIterator:
        return await self._rich_query(PUBLIC, query)

    async def get_query_result_with_pagination(
        self, query: str, page_size: int, bookmark: str = ""
    ) -> QueryResultIterator:
        return await self._rich_query(PUBLIC, query, _page(page_size, bookmark))

    async def get_history_for_key(self, key: str) -> HistoryQueryIterator:
        reply = await self._ask(CCM.GET_HISTORY_FOR_KEY, shim.GetHistoryForKey(key=key))
        return HistoryQueryIterator(self.client, shim.QueryResponse.FromString(reply.payload))

    # ----- private data -----

    async def get_private_data(self, collection: str, key: str) -> bytes:
        _need_collection(collection)
        return await self._get(collection, key)

    async def get_private_data_hash(self, collection: str, key: str) -> bytes:
        _need_collection(collection)
        reply = await self._ask(CCM.GET_PRIVATE_DATA_HASH, shim.GetState(key=key, collection=collection))
        return reply.payload

    async def put_private_data(self, collection: str, key: str, value: bytes | str) -> CCM:
        _need_collection(collection)
        return await self._put(collection, key, value)

    async def delete_private_data(self, collection: str, key: str) -> CCM:
        _need_collection(collection)
        return await self._ask(CCM.DEL_STATE, shim.DelState(key=key, collection=collection))

    async def purge_private_data(self, collection: str, key: str) -> CCM:
        _need_collection(collection)
        return await self._ask(CCM.PURGE_PRIVATE_DATA, shim.PurgePrivateState(key=key, collection=collection))

    async def set_private_data_validation_parameter(self, collection: str, key: str, ep: bytes) -> CCM:
        return await self._put_metadata(collection, key, ep)

    async def get_private_data_validation_parameter(self, collection: str, key: str) -> bytes:
        return await self._get_metadata(collection, key)

    async def get_private_data_by_range(self, collection: str, start_key: str, end_key: str) -> StateQueryIterator:
        _need_collection(collection)
        return await self._range(collection, start_key or keys.EMPTY_KEY_SUBSTITUTE, end_key or "")

    async def get_private_data_by_partial_composite_key(
        self, collection: str, object_type: str, attributes: Sequence[str]
    ) -> StateQueryIterator:
        _need_collection(collection)
        return await self._range(collection, *keys.partial_key_range(object_type, attributes))

    async def get_private_data_query_result(self, collection: str, query: str) -> QueryResultIterator:
        _need_collection(collection)
        return await self._rich_query(collection, query)

    # ----- other chaincode, events, keys -----

    async def invoke_chaincode(
        self, chaincode_name: str, args: Sequence[bytes | str], channel: str = ""
    ) -> proposal_response_pb2.Response:
        """Call another chaincode; its peer.Response (status 500 with a message when the call failed)."""
        name = f"{chaincode_name}/{channel}" if channel else chaincode_name
        spec = chaincode_pb2.ChaincodeSpec(
            chaincode_id=chaincode_pb2.ChaincodeID(name=name),
            input=chaincode_pb2.ChaincodeInput(args=[_as_bytes(arg, "argument") for arg in args]),
        )
        try:
            reply = await self._ask(CCM.INVOKE_CHAINCODE, spec)
        except PeerError as exc:
            # As in the Go shim, a failed call is a response, not an exception.
            return proposal_response_pb2.Response(status=ERROR_STATUS, message=str(exc))
        # The peer wraps the callee's own final message (COMPLETED or ERROR) in its RESPONSE.
        inner = CCM.FromString(reply.payload)
        if inner.type == CCM.COMPLETED:
            return proposal_response_pb2.Response.FromString(inner.payload)
        return proposal_response_pb2.Response(status=ERROR_STATUS, message=inner.payload.decode(errors="replace"))

    def set_event(self, name: str, payload: bytes | str | None) -> None:
        """Fabric keeps one event per transaction: the last one set is sent."""
        if not isinstance(name, str) or not name:
            raise Exception("event name must be a non-empty string")
        data = b"" if payload is None else _as_bytes(payload, "event payload")
        self._events.append(chaincode_event_pb2.ChaincodeEvent(tx_id=self.tx_id, event_name=name, payload=data))

    def get_events(self) -> list[chaincode_event_pb2.ChaincodeEvent]:
        return list(self._events)

    def create_composite_key(self, object_type: str, attributes: Sequence[str]) -> str:
        return keys.create_composite_key(object_type, attributes)

    def split_composite_key(self, composite_key: str) -> tuple[str | None, list[str]]:
        return keys.split_composite_key(composite_key)
