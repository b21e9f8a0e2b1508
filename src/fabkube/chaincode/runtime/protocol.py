"""What the stub and the iterators need from a transaction's channel to the peer."""

from __future__ import annotations

from typing import Protocol

from fabric_protos.peer import chaincode_shim_pb2 as shim
from google.protobuf.message import Message

ChaincodeMessage = shim.ChaincodeMessage


class PeerError(Exception):
    """The peer answered a request with ERROR, or the stream to it is gone."""


class Requester(Protocol):
    """One transaction's way to ask the peer something and wait for its reply."""

    channel_id: str
    txid: str

    async def request(self, msg_type: int, payload: Message) -> ChaincodeMessage:
        """Send payload as a msg_type message; return the RESPONSE or raise PeerError."""
        ...


def type_name(msg_type: int) -> str:
    try:
        return ChaincodeMessage.Type.Name(msg_type)
    except ValueError:
        return str(msg_type)
