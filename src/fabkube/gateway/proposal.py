"""Building and signing the gateway's messages, and reading its answers (no I/O).

Shared by the sync client and the grpc.aio client. The messages follow what Fabric's
protoutil builds for `peer chaincode invoke` and what the fabric-gateway SDKs send.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2

from fabkube.gateway.identity import Identity, Signer
from fabkube.gateway.status import Status

NONCE_SIZE = 24  # bytes, as Fabric's crypto.GetRandomNonce

Arg = bytes | str
Transient = Mapping[str, Arg]


def compute_transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction ID: hex(SHA-256(nonce || serialized creator))."""
    return hashlib.sha256(nonce + creator).hexdigest()


@dataclass(frozen=True)
class TransactionContext:
    """The nonce and creator that a transaction ID is derived from; both go into the SignatureHeader."""

    nonce: bytes
    creator: bytes
    transaction_id: str

    @classmethod
    def new(cls, creator: bytes, nonce: bytes | None = None) -> TransactionContext:
        nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        return cls(nonce=nonce, creator=creator, transaction_id=compute_transaction_id(nonce, creator))


def _to_bytes(value: Arg) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def chaincode_args(fn: str, args: Sequence[Arg], contract_name: str | None = None) -> list[bytes]:
    """[fn, *args] as bytes; a named contract in a multi-contract chaincode is addressed as "contract:fn"."""
    name = f"{contract_name}:{fn}" if contract_name else fn
    return [name.encode(), *(_to_bytes(a) for a in args)]


def _timestamp(now_ns: int | None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(time.time_ns() if now_ns is None else now_ns)
    return ts


def _header(channel: str, chaincode: str, ctx: TransactionContext, now_ns: int | None) -> common_pb2.Header:
    extension = proposal_pb2.ChaincodeHeaderExtension(chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode))
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.ENDORSER_TRANSACTION,
        channel_id=channel,
        tx_id=ctx.transaction_id,
        timestamp=_timestamp(now_ns),
        epoch=0,
        extension=extension.SerializeToString(),
    )
    signature_header = common_pb2.SignatureHeader(creator=ctx.creator, nonce=ctx.nonce)
    return common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )


def _payload(chaincode: str, args: list[bytes], transient: Transient | None) -> proposal_pb2.ChaincodeProposalPayload:
    spec = chaincode_pb2.ChaincodeSpec(
        # The type is informational for Fabric 2.x lifecycle chaincode; the SDKs send NODE.
        type=chaincode_pb2.ChaincodeSpec.Type.NODE,
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
        input=chaincode_pb2.ChaincodeInput(args=args),
    )
    invocation = chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=spec)
    transient_map = {k: _to_bytes(v) for k, v in (transient or {}).items()}
    return proposal_pb2.ChaincodeProposalPayload(input=invocation.SerializeToString(), TransientMap=transient_map)


def build_proposal(
    channel: str,
    chaincode: str,
    args: list[bytes],
    ctx: TransactionContext,
    transient: Transient | None = None,
    now_ns: int | None = None,
) -> proposal_pb2.Proposal:
    """An unsigned chaincode invocation proposal (args already include the function name)."""
    header = _header(channel, chaincode, ctx, now_ns)
    payload = _payload(chaincode, args, transient)
    return proposal_pb2.Proposal(header=header.SerializeToString(), payload=payload.SerializeToString())


@dataclass(frozen=True)
class PreparedProposal:
    """A signed proposal plus what the gateway requests around it need."""

    channel: str
    chaincode: str
    transaction_id: str
    signed_proposal: proposal_pb2.SignedProposal
    endorsing_orgs: tuple[str, ...] = field(default=())

    def evaluate_request(self) -> gateway_pb2.EvaluateRequest:
        return gateway_pb2.EvaluateRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel,
            proposed_transaction=self.signed_proposal,
            target_organizations=list(self.endorsing_orgs),
        )

    def endorse_request(self) -> gateway_pb2.EndorseRequest:
        return gateway_pb2.EndorseRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel,
            proposed_transaction=self.signed_proposal,
            endorsing_organizations=list(self.endorsing_orgs),
        )


def prepare_proposal(
    identity: Identity,
    signer: Signer,
    channel: str,
    chaincode: str,
    args: list[bytes],
    transient: Transient | None = None,
    endorsing_orgs: Sequence[str] | None = None,
) -> PreparedProposal:
    """Build and sign a proposal with a fresh transaction context."""
    ctx = TransactionContext.new(identity.serialize())
    proposal_bytes = build_proposal(channel, chaincode, args, ctx, transient).SerializeToString()
    signed = proposal_pb2.SignedProposal(proposal_bytes=proposal_bytes, signature=signer.sign(proposal_bytes))
    return PreparedProposal(channel, chaincode, ctx.transaction_id, signed, tuple(endorsing_orgs or ()))


def sign_envelope(envelope: common_pb2.Envelope, signer: Signer) -> common_pb2.Envelope:
    """A copy of the gateway's prepared transaction with the client's signature over its payload."""
    return common_pb2.Envelope(payload=envelope.payload, signature=signer.sign(envelope.payload))


def submit_request(transaction_id: str, channel: str, envelope: common_pb2.Envelope) -> gateway_pb2.SubmitRequest:
    return gateway_pb2.SubmitRequest(transaction_id=transaction_id, channel_id=channel, prepared_transaction=envelope)


def commit_status_request(
    identity: Identity, signer: Signer, channel: str, transaction_id: str
) -> gateway_pb2.SignedCommitStatusRequest:
    request = gateway_pb2.CommitStatusRequest(
        transaction_id=transaction_id, channel_id=channel, identity=identity.serialize()
    ).SerializeToString()
    return gateway_pb2.SignedCommitStatusRequest(request=request, signature=signer.sign(request))


def _start_position(start_block: int | None) -> ab_pb2.SeekPosition:
    if start_block is None:
        # The gateway's default too: only events from blocks committed after the request.
        return ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
    return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))


def chaincode_events_request(
    identity: Identity,
    signer: Signer,
    channel: str,
    chaincode: str,
    start_block: int | None = None,
    after_transaction_id: str | None = None,
) -> gateway_pb2.SignedChaincodeEventsRequest:
    request = gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel,
        chaincode_id=chaincode,
        identity=identity.serialize(),
        start_position=_start_position(start_block),
        after_transaction_id=after_transaction_id or "",
    ).SerializeToString()
    return gateway_pb2.SignedChaincodeEventsRequest(request=request, signature=signer.sign(request))


def _result_of_action(action: transaction_pb2.TransactionAction) -> bytes:
    action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
    response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
        action_payload.action.proposal_response_payload
    )
    chaincode_action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
    return chaincode_action.response.payload


def result_from_envelope(envelope: common_pb2.Envelope) -> bytes:
    """The chaincode's return value, as endorsed, from a prepared transaction envelope."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    if not transaction.actions:
        raise ValueError("prepared transaction has no actions")
    return _result_of_action(transaction.actions[0])


def status_from_response(transaction_id: str, response: gateway_pb2.CommitStatusResponse) -> Status:
    return Status(transaction_id=transaction_id, code=int(response.result), block_number=response.block_number)


@dataclass(frozen=True)
class ChaincodeEvent:
    """An event set by a committed (valid) transaction."""

    block_number: int
    transaction_id: str
    chaincode_name: str
    event_name: str
    payload: bytes


def events_from_response(response: gateway_pb2.ChaincodeEventsResponse) -> list[ChaincodeEvent]:
    return [
        ChaincodeEvent(
            block_number=response.block_number,
            transaction_id=event.tx_id,
            chaincode_name=event.chaincode_id,
            event_name=event.event_name,
            payload=event.payload,
        )
        for event in response.events
    ]
