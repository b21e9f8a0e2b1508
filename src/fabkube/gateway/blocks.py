"""Blocks from a peer's Deliver service, and what each transaction in them was.

A peer's blocks (unlike an orderer's) carry the validation code of every transaction, which the
peer wrote when it committed the block (the TRANSACTIONS_FILTER metadata). Reading them needs the
channel's Readers policy: the client signs a SeekInfo envelope as in Fabric's deliver clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, events_pb2_grpc, proposal_pb2, transaction_pb2

from fabkube.gateway.proposal import TransactionContext, _timestamp


@dataclass(frozen=True)
class BlockTransaction:
    tx_id: str
    type: str  # ENDORSER_TRANSACTION, CONFIG, ...
    chaincode: str  # "" unless an endorser transaction
    function: str  # its first argument
    validation_code: str  # VALID, MVCC_READ_CONFLICT, ...
    timestamp: float  # seconds since the epoch, as the client stamped it


@dataclass(frozen=True)
class BlockSummary:
    number: int
    transactions: list[BlockTransaction]


def seek_envelope(identity, signer, channel: str, start: int, stop: int) -> common_pb2.Envelope:
    """Blocks start..stop (inclusive), waiting for those not yet committed."""

    def position(n: int) -> ab_pb2.SeekPosition:
        return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=n))

    seek = ab_pb2.SeekInfo(start=position(start), stop=position(stop), behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY)
    ctx = TransactionContext.new(identity.serialize())
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.DELIVER_SEEK_INFO, channel_id=channel, tx_id=ctx.transaction_id,
        timestamp=_timestamp(None),
    )  # fmt: skip
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(creator=ctx.creator, nonce=ctx.nonce).SerializeToString(),
    )
    payload = common_pb2.Payload(header=header, data=seek.SerializeToString()).SerializeToString()
    return common_pb2.Envelope(payload=payload, signature=signer.sign(payload))


def read_blocks(gateway, channel: str, start: int, stop: int, timeout: float = 10.0) -> list[common_pb2.Block]:
    """Blocks start..stop from the peer a (synchronous) Gateway is connected to."""
    stub = events_pb2_grpc.DeliverStub(gateway._channel)
    envelope = seek_envelope(gateway.identity, gateway.signer, channel, start, stop)
    blocks = []
    for response in stub.Deliver(iter([envelope]), timeout=timeout):
        if response.HasField("block"):
            blocks.append(response.block)
        elif response.HasField("status"):
            if response.status != common_pb2.Status.SUCCESS:
                raise RuntimeError(f"deliver {channel} {start}..{stop}: {common_pb2.Status.Name(response.status)}")
            break
    return blocks


def summarize(block: common_pb2.Block) -> BlockSummary:
    """Each transaction of a block: its ID, type, chaincode and function, and validation code."""
    flags = block.metadata.metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER]
    out = []
    for i, data in enumerate(block.data.data):
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        chaincode = function = ""
        if header.type == common_pb2.HeaderType.ENDORSER_TRANSACTION:
            chaincode, function = _invocation(payload.data)
        code = transaction_pb2.TxValidationCode.Name(flags[i]) if i < len(flags) else "NOT_VALIDATED"
        stamp = header.timestamp.seconds + header.timestamp.nanos / 1e9
        out.append(
            BlockTransaction(header.tx_id, common_pb2.HeaderType.Name(header.type), chaincode, function, code, stamp)
        )
    return BlockSummary(block.header.number, out)


def _invocation(data: bytes) -> tuple[str, str]:
    """The chaincode name and function an endorser transaction invoked (its first action's proposal)."""
    try:
        tx = transaction_pb2.Transaction.FromString(data)
        action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        proposal = proposal_pb2.ChaincodeProposalPayload.FromString(action.chaincode_proposal_payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(proposal.input).chaincode_spec
    except Exception:  # a malformed transaction is still listed, without them
        return "", ""
    args = spec.input.args
    return spec.chaincode_id.name, args[0].decode(errors="replace") if args else ""
