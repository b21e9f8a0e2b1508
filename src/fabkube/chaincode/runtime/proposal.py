"""Decode the signed proposal that comes with a transaction into what the stub hands out."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class ProposalInfo:
    signed: proposal_pb2.SignedProposal | None = None
    proposal: proposal_pb2.Proposal | None = None
    # The nested dict fabric-chaincode-python's stub keeps as `signed_proposal_pb`; user code
    # written against it may read the transient map or headers from there.
    decoded: dict[str, Any] | None = None
    creator: dict[str, Any] = field(default_factory=dict)
    creator_bytes: bytes = b""
    transient: dict[str, bytes] = field(default_factory=dict)
    timestamp: Timestamp | None = None
    binding: bytes = b""


def _parse(cls: type[M], data: bytes, what: str) -> M:
    try:
        return cls.FromString(data)
    except DecodeError as exc:
        raise ValueError(f"could not decode the {what}: {exc}") from exc


def decode_signed_proposal(signed: proposal_pb2.SignedProposal | None) -> ProposalInfo:
    """Everything the stub reports about the proposal; empty for a message without one."""
    if signed is None or not signed.proposal_bytes:
        return ProposalInfo()
    proposal = _parse(proposal_pb2.Proposal, signed.proposal_bytes, "proposal")
    if not proposal.header:
        raise ValueError("proposal header is empty")
    if not proposal.payload:
        raise ValueError("proposal payload is empty")
    header = _parse(common_pb2.Header, proposal.header, "proposal header")
    signature_header = _parse(common_pb2.SignatureHeader, header.signature_header, "proposal signature header")
    identity = _parse(identities_pb2.SerializedIdentity, signature_header.creator, "proposal creator")
    channel_header = _parse(common_pb2.ChannelHeader, header.channel_header, "proposal channel header")
    payload = _parse(proposal_pb2.ChaincodeProposalPayload, proposal.payload, "proposal payload")
    decoded = {
        "signature": signed.signature,
        "proposal": {
            "header": {
                "_raw_header": header,
                "signatureHeader": {
                    "nonce": signature_header.nonce,
                    "creator_u8": signature_header.creator,
                    "creator": identity,
                },
                "channelHeader": channel_header,
            },
            "payload": payload,
        },
    }
    return ProposalInfo(
        signed=signed,
        proposal=proposal,
        decoded=decoded,
        creator={"mspid": identity.mspid, "idBytes": identity.id_bytes},
        creator_bytes=signature_header.creator,
        transient=dict(payload.TransientMap),
        timestamp=channel_header.timestamp,
        binding=_binding(signature_header.nonce, signature_header.creator, channel_header.epoch),
    )


def _binding(nonce: bytes, creator: bytes, epoch: int) -> bytes:
    # Fabric's proposal binding: SHA-256 over nonce, creator and the epoch as 8 little-endian bytes.
    return hashlib.sha256(nonce + creator + struct.pack("<Q", epoch)).digest()
