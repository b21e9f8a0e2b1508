"""fabkube.gateway: message building, signing, error parsing, and the call flow against a fake gateway.

The fake gateway is an in-process gateway.Gateway gRPC server on 127.0.0.1 that checks
signatures like a peer would; no Fabric process is started.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from fabkube.gateway import (
    AsyncGateway,
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    Gateway,
    GatewayError,
    Identity,
    Signer,
    SubmitError,
    identity_from_msp_dir,
)
from fabkube.gateway.errors import details_from_metadata, parse_status_details
from fabkube.gateway.identity import CURVE_ORDERS, normalize_low_s
from fabkube.gateway.proposal import TransactionContext, build_proposal, compute_transaction_id, prepare_proposal

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CHANNEL = "mychannel"
MVCC_READ_CONFLICT = 11


# ---------------------------------------------------------------- certificates


@dataclass
class Pki:
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o")])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def make_pki() -> Pki:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("ca.org1.example.com")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Pki(key, cert)


def issue(pki: Pki, cn: str, dns: list[str] | None = None) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name(cn), pki.ca_cert.subject, key.public_key())
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    cert = builder.sign(pki.ca_key, hashes.SHA256())
    return key, cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def client(pki: Pki) -> tuple[Identity, Signer]:
    key, cert = issue(pki, "User1@org1.example.com")
    return Identity("Org1MSP", cert), Signer(key)


def verify_with_creator(creator: bytes, data: bytes, signature: bytes) -> None:
    """What a peer does: the creator's certificate public key must verify the signature (raises if not)."""
    ident = identities_pb2.SerializedIdentity.FromString(creator)
    cert = x509.load_pem_x509_certificate(ident.id_bytes)
    cert.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))


# ---------------------------------------------------------------- hand-encoded google.rpc.Status


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def encode_rpc_status(code: int, message: str, details: list[tuple[str, bytes]]) -> bytes:
    """google.rpc.Status wire bytes written by hand, independent of the code under test."""
    out = _varint(1 << 3) + _varint(code) + _len_field(2, message.encode())
    for type_url, value in details:
        out += _len_field(3, _len_field(1, type_url.encode()) + _len_field(2, value))
    return out


def error_detail_any(address: str, msp_id: str, message: str) -> tuple[str, bytes]:
    detail = gateway_pb2.ErrorDetail(address=address, msp_id=msp_id, message=message)
    return "type.googleapis.com/gateway.ErrorDetail", detail.SerializeToString()


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, message: str, trailing: tuple = ()) -> None:
        self._code, self._message, self._trailing = code, message, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> tuple:
        return self._trailing


# ---------------------------------------------------------------- transaction ID, signatures, identity


def test_transaction_id_is_sha256_of_nonce_and_creator(client):
    identity, _ = client
    creator = identity.serialize()
    ctx = TransactionContext.new(creator)
    assert len(ctx.nonce) == 24
    assert ctx.transaction_id == hashlib.sha256(ctx.nonce + creator).hexdigest()
    assert len(ctx.transaction_id) == 64
    fixed = bytes(range(24))
    expected = hashlib.sha256()
    expected.update(fixed)
    expected.update(creator)
    assert compute_transaction_id(fixed, creator) == expected.hexdigest()
    # A fresh nonce per transaction: two contexts never share an ID.
    assert TransactionContext.new(creator).transaction_id != ctx.transaction_id


def test_identity_serializes_to_msp_serialized_identity(client):
    identity, _ = client
    decoded = identities_pb2.SerializedIdentity.FromString(identity.serialize())
    assert decoded.mspid == "Org1MSP"
    assert decoded.id_bytes == identity.cert_pem
    assert decoded.id_bytes.startswith(b"-----BEGIN CERTIFICATE-----")
    assert Identity("Org1MSP", identity.cert_pem.decode()).cert_pem == identity.cert_pem


def test_low_s_normalisation_flips_high_s():
    key = ec.generate_private_key(ec.SECP256R1())
    message = b"fabric"
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    low, high = min(s, P256_N - s), max(s, P256_N - s)
    assert low <= P256_N // 2 < high
    high_sig = encode_dss_signature(r, high)
    # Both forms verify (that malleability is why Fabric insists on one of them).
    key.public_key().verify(high_sig, message, ec.ECDSA(hashes.SHA256()))
    assert decode_dss_signature(normalize_low_s(high_sig, P256_N)) == (r, low)
    low_sig = encode_dss_signature(r, low)
    assert normalize_low_s(low_sig, P256_N) == low_sig
    assert CURVE_ORDERS["secp256r1"] == P256_N


def test_signer_always_emits_verifiable_low_s_signatures():
    key = ec.generate_private_key(ec.SECP256R1())
    signer = Signer.from_pem(key_pem(key))
    for i in range(64):
        message = f"message {i}".encode()
        signature = signer.sign(message)
        _, s = decode_dss_signature(signature)
        assert s <= P256_N // 2
        key.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signer.sign(b"a"), b"b", ec.ECDSA(hashes.SHA256()))


def _write_msp(root, cert_pem: bytes, keys: dict[str, bytes]):
    (root / "signcerts").mkdir(parents=True)
    (root / "keystore").mkdir()
    (root / "signcerts" / "User1@org1.example.com-cert.pem").write_bytes(cert_pem)
    for name, data in keys.items():
        (root / "keystore" / name).write_bytes(data)
    return root


def test_identity_from_cryptogen_msp_dir(tmp_path, pki):
    key, cert = issue(pki, "User1@org1.example.com")
    msp = _write_msp(tmp_path / "msp", cert, {"priv_sk": key_pem(key)})
    identity, signer = identity_from_msp_dir("Org1MSP", msp)
    assert identity.msp_id == "Org1MSP"
    assert identity.cert_pem == cert
    key.public_key().verify(signer.sign(b"x"), b"x", ec.ECDSA(hashes.SHA256()))


def test_identity_from_msp_dir_picks_the_key_matching_the_certificate(tmp_path, pki):
    key, cert = issue(pki, "User1@org1.example.com")
    other = ec.generate_private_key(ec.SECP256R1())
    # fabric-ca-client names keys <ski>_sk; a stale key sorts first here and must be skipped.
    msp = _write_msp(tmp_path / "msp", cert, {"0000_sk": key_pem(other), "ffff_sk": key_pem(key)})
    _, signer = identity_from_msp_dir("Org1MSP", msp)
    key.public_key().verify(signer.sign(b"y"), b"y", ec.ECDSA(hashes.SHA256()))


def test_identity_from_msp_dir_errors(tmp_path, pki):
    _, cert = issue(pki, "User1@org1.example.com")
    wrong = _write_msp(tmp_path / "wrong", cert, {"priv_sk": key_pem(ec.generate_private_key(ec.SECP256R1()))})
    with pytest.raises(ValueError, match="matches the certificate"):
        identity_from_msp_dir("Org1MSP", wrong)
    with pytest.raises(FileNotFoundError, match="signcerts"):
        identity_from_msp_dir("Org1MSP", tmp_path / "empty")
    no_key = _write_msp(tmp_path / "nokey", cert, {})
    with pytest.raises(FileNotFoundError, match="keystore"):
        identity_from_msp_dir("Org1MSP", no_key)


# ---------------------------------------------------------------- proposal structure


@dataclass
class DecodedProposal:
    channel_header: common_pb2.ChannelHeader
    signature_header: common_pb2.SignatureHeader
    header_chaincode: str
    spec: chaincode_pb2.ChaincodeSpec
    transient: dict[str, bytes]


def decode_proposal(proposal_bytes: bytes) -> DecodedProposal:
    proposal = proposal_pb2.Proposal.FromString(proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    return DecodedProposal(
        channel_header=channel_header,
        signature_header=common_pb2.SignatureHeader.FromString(header.signature_header),
        header_chaincode=extension.chaincode_id.name,
        spec=invocation.chaincode_spec,
        transient=dict(payload.TransientMap),
    )


def test_proposal_structure_decodes_back(client):
    identity, signer = client
    before = time.time()
    prepared = prepare_proposal(
        identity, signer, CHANNEL, "mycc", [b"move", b"a", b"b", b"10"], transient={"secret": "s3"}
    )
    decoded = decode_proposal(prepared.signed_proposal.proposal_bytes)
    ch = decoded.channel_header
    assert ch.type == common_pb2.HeaderType.ENDORSER_TRANSACTION == 3
    assert ch.channel_id == CHANNEL
    assert ch.tx_id == prepared.transaction_id
    assert ch.epoch == 0
    assert before - 1 <= ch.timestamp.ToNanoseconds() / 1e9 <= time.time() + 1
    assert decoded.header_chaincode == "mycc"
    assert decoded.signature_header.creator == identity.serialize()
    assert len(decoded.signature_header.nonce) == 24
    # The peer recomputes the transaction ID from the header and rejects a mismatch.
    assert ch.tx_id == hashlib.sha256(decoded.signature_header.nonce + decoded.signature_header.creator).hexdigest()
    assert decoded.spec.chaincode_id.name == "mycc"
    assert list(decoded.spec.input.args) == [b"move", b"a", b"b", b"10"]
    assert decoded.transient == {"secret": b"s3"}
    verify_with_creator(
        decoded.signature_header.creator, prepared.signed_proposal.proposal_bytes, prepared.signed_proposal.signature
    )


def test_build_proposal_with_fixed_context_is_deterministic(client):
    identity, _ = client
    ctx = TransactionContext.new(identity.serialize(), nonce=b"\x07" * 24)
    first = build_proposal(CHANNEL, "cc", [b"f"], ctx, now_ns=1_700_000_000_123_456_789)
    second = build_proposal(CHANNEL, "cc", [b"f"], ctx, now_ns=1_700_000_000_123_456_789)
    assert first.SerializeToString() == second.SerializeToString()
    ts = decode_proposal(first.SerializeToString()).channel_header.timestamp
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 123_456_789)


def test_contract_proposal_qualifies_named_contract_and_orgs(client):
    identity, signer = client
    channel = grpc.insecure_channel("127.0.0.1:1")  # never dialled: building a proposal is offline
    try:
        gateway = Gateway(channel, identity, signer)
        contract = gateway.contract(CHANNEL, "basic", "AssetContract")
        proposal = contract.new_proposal("Create", "id1", b"\x00\xff", endorsing_orgs=["Org1MSP", "Org2MSP"])
    finally:
        channel.close()
    decoded = decode_proposal(proposal.prepared.signed_proposal.proposal_bytes)
    assert list(decoded.spec.input.args) == [b"AssetContract:Create", b"id1", b"\x00\xff"]
    request = proposal.prepared.endorse_request()
    assert list(request.endorsing_organizations) == ["Org1MSP", "Org2MSP"]
    assert request.transaction_id == proposal.transaction_id == decoded.channel_header.tx_id
    assert request.channel_id == CHANNEL
    assert list(proposal.prepared.evaluate_request().target_organizations) == ["Org1MSP", "Org2MSP"]


# ---------------------------------------------------------------- error details


def test_error_details_parsed_from_fabricated_status():
    status = encode_rpc_status(
        10,
        "failed to endorse transaction, see attached details for more info",
        [
            error_detail_any("peer0.org1.example.com:7051", "Org1MSP", "chaincode response 500, asset a not found"),
            ("type.googleapis.com/google.rpc.DebugInfo", b"\x0a\x03abc"),
            error_detail_any("peer0.org2.example.com:9051", "Org2MSP", "policy not met"),
        ],
    )
    err = FakeRpcError(
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction, see attached details for more info",
        (("content-type", "application/grpc"), ("grpc-status-details-bin", status)),
    )
    endorse_error = EndorseError.from_rpc_error(err, "abc123")
    assert isinstance(endorse_error, GatewayError)
    assert endorse_error.code is grpc.StatusCode.ABORTED
    assert endorse_error.transaction_id == "abc123"
    assert endorse_error.details == [
        ErrorDetail("peer0.org1.example.com:7051", "Org1MSP", "chaincode response 500, asset a not found"),
        ErrorDetail("peer0.org2.example.com:9051", "Org2MSP", "policy not met"),
    ]
    text = str(endorse_error)
    for part in ("ABORTED", "abc123", "asset a not found", "policy not met", "peer0.org2.example.com:9051"):
        assert part in text


def test_error_without_details_and_garbage_details():
    plain = GatewayError.from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert plain.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert plain.details == []
    assert str(plain) == "DEADLINE_EXCEEDED: Deadline Exceeded"
    assert parse_status_details(b"\xff\xff\xff") == []
    assert details_from_metadata(None) == []


def test_commit_error_names_validation_code():
    from fabkube.gateway import Status

    status = Status(transaction_id="tx9", code=MVCC_READ_CONFLICT, block_number=4)
    assert not status.successful
    err = CommitError(status)
    assert isinstance(err, GatewayError)
    assert err.validation_code_name == status.code_name == "MVCC_READ_CONFLICT"
    assert "MVCC_READ_CONFLICT" in str(err)
    assert "tx9" in str(err)
    assert err.code is None
    assert Status("t", 0, 1).successful


# ---------------------------------------------------------------- fake gateway server


def prepared_envelope(signed: proposal_pb2.SignedProposal, result: bytes) -> common_pb2.Envelope:
    """The envelope a gateway returns from Endorse: the proposal header plus the endorsed chaincode action."""
    proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    action = proposal_pb2.ChaincodeAction(response=proposal_response_pb2.Response(status=200, payload=result))
    response_payload = proposal_response_pb2.ProposalResponsePayload(
        proposal_hash=hashlib.sha256(signed.proposal_bytes).digest(), extension=action.SerializeToString()
    )
    endorsed = transaction_pb2.ChaincodeEndorsedAction(
        proposal_response_payload=response_payload.SerializeToString(),
        endorsements=[proposal_response_pb2.Endorsement(endorser=b"peer0", signature=b"sig")],
    )
    action_payload = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=proposal.payload, action=endorsed
    )
    transaction = transaction_pb2.Transaction(
        actions=[
            transaction_pb2.TransactionAction(
                header=header.signature_header, payload=action_payload.SerializeToString()
            )
        ]
    )
    payload = common_pb2.Payload(header=header, data=transaction.SerializeToString())
    return common_pb2.Envelope(payload=payload.SerializeToString())


def abort_with_details(context, code: grpc.StatusCode, message: str, details: list[tuple[str, bytes]]) -> None:
    status = encode_rpc_status(code.value[0], message, details)
    context.set_trailing_metadata((("grpc-status-details-bin", status),))
    context.abort(code, message)


def idle_while_active(context, seconds: float) -> None:
    end = time.monotonic() + seconds
    while context.is_active() and time.monotonic() < end:
        time.sleep(0.02)


class FakeGateway(gateway_pb2_grpc.GatewayServicer):
    """Plays the gateway peer: verifies signatures, endorses by echoing args, commits per function name."""

    def __init__(self) -> None:
        self.requests: dict[str, list] = defaultdict(list)
        self.validation: dict[str, int] = {}

    def _proposal(self, signed: proposal_pb2.SignedProposal, context) -> DecodedProposal:
        decoded = decode_proposal(signed.proposal_bytes)
        self._check(decoded.signature_header.creator, signed.proposal_bytes, signed.signature, context)
        return decoded

    @staticmethod
    def _check(creator: bytes, data: bytes, signature: bytes, context) -> None:
        try:
            verify_with_creator(creator, data, signature)
        except InvalidSignature:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")

    def _behave(self, args: list[bytes], context) -> None:
        if args[0] == b"slow":
            idle_while_active(context, 3.0)
        if args[0] == b"fail":
            abort_with_details(
                context,
                grpc.StatusCode.ABORTED,
                "failed to endorse transaction, see attached details for more info",
                [error_detail_any("peer0.org1.example.com:7051", "Org1MSP", "chaincode response 500, boom")],
            )

    def Evaluate(self, request, context):
        self.requests["evaluate"].append(request)
        args = list(self._proposal(request.proposed_transaction, context).spec.input.args)
        self._behave(args, context)
        return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(status=200, payload=b"|".join(args)))

    def Endorse(self, request, context):
        self.requests["endorse"].append(request)
        args = list(self._proposal(request.proposed_transaction, context).spec.input.args)
        self._behave(args, context)
        conflict = args[0] == b"conflict"
        self.validation[request.transaction_id] = MVCC_READ_CONFLICT if conflict else 0
        envelope = prepared_envelope(request.proposed_transaction, b"endorsed:" + b"|".join(args))
        return gateway_pb2.EndorseResponse(prepared_transaction=envelope)

    def Submit(self, request, context):
        self.requests["submit"].append(request)
        envelope = request.prepared_transaction
        header = common_pb2.Payload.FromString(envelope.payload).header
        creator = common_pb2.SignatureHeader.FromString(header.signature_header).creator
        self._check(creator, envelope.payload, envelope.signature, context)
        return gateway_pb2.SubmitResponse()

    def CommitStatus(self, request, context):
        self.requests["commit_status"].append(request)
        inner = gateway_pb2.CommitStatusRequest.FromString(request.request)
        self._check(inner.identity, request.request, request.signature, context)
        return gateway_pb2.CommitStatusResponse(result=self.validation[inner.transaction_id], block_number=7)

    def ChaincodeEvents(self, request, context):
        self.requests["events"].append(request)
        inner = gateway_pb2.ChaincodeEventsRequest.FromString(request.request)
        self._check(inner.identity, request.request, request.signature, context)
        first = inner.start_position.specified.number if inner.start_position.HasField("specified") else 100
        for block, names in ((first, ["created", "moved"]), (first + 1, ["deleted"])):
            events = [
                chaincode_event_pb2.ChaincodeEvent(
                    chaincode_id=inner.chaincode_id, tx_id=f"tx-{block}-{n}", event_name=n, payload=n.encode()
                )
                for n in names
            ]
            yield gateway_pb2.ChaincodeEventsResponse(events=events, block_number=block)
        # A real gateway keeps the stream open waiting for more blocks.
        idle_while_active(context, 10.0)


@dataclass
class Server:
    address: str
    servicer: FakeGateway


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    servicer = FakeGateway()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield Server(f"127.0.0.1:{port}", servicer)
    grpc_server.stop(0)


@pytest.fixture()
def gateway(server, client) -> Iterator[Gateway]:
    identity, signer = client
    with Gateway.connect(server.address, identity, signer) as gw:
        yield gw


def test_evaluate_round_trip(gateway, server):
    contract = gateway.network(CHANNEL).contract("mycc")
    assert contract.evaluate("query", "a", b"\x01") == b"query|a|\x01"
    request = server.servicer.requests["evaluate"][-1]
    assert request.channel_id == CHANNEL
    assert request.transaction_id == decode_proposal(request.proposed_transaction.proposal_bytes).channel_header.tx_id


def test_submit_endorses_signs_submits_and_waits_for_commit(gateway, server):
    contract = gateway.contract(CHANNEL, "mycc")
    assert contract.submit("move", "a", "b", "10") == b"endorsed:move|a|b|10"
    endorse = server.servicer.requests["endorse"][-1]
    submit = server.servicer.requests["submit"][-1]
    status_request = gateway_pb2.CommitStatusRequest.FromString(server.servicer.requests["commit_status"][-1].request)
    assert submit.transaction_id == endorse.transaction_id == status_request.transaction_id
    assert submit.channel_id == status_request.channel_id == CHANNEL
    assert status_request.identity == gateway.identity.serialize()
    # The envelope sent for ordering is the one the gateway prepared, now carrying our signature.
    expected = prepared_envelope(endorse.proposed_transaction, b"endorsed:move|a|b|10")
    assert submit.prepared_transaction.payload == expected.payload
    verify_with_creator(
        gateway.identity.serialize(), submit.prepared_transaction.payload, submit.prepared_transaction.signature
    )


def test_lower_level_flow_returns_status(gateway):
    proposal = gateway.contract(CHANNEL, "mycc").new_proposal("put", "k", "v")
    transaction = proposal.endorse()
    assert transaction.transaction_id == proposal.transaction_id
    assert transaction.result == b"endorsed:put|k|v"
    status = transaction.submit().status()
    assert status.successful
    assert (status.code_name, status.block_number, status.transaction_id) == ("VALID", 7, proposal.transaction_id)


def test_invalid_commit_raises_commit_error(gateway):
    contract = gateway.contract(CHANNEL, "mycc")
    with pytest.raises(CommitError) as caught:
        contract.submit("conflict", "a")
    err = caught.value
    assert err.validation_code == MVCC_READ_CONFLICT
    assert err.validation_code_name == "MVCC_READ_CONFLICT"
    assert len(err.transaction_id) == 64
    assert err.status.block_number == 7
    assert "MVCC_READ_CONFLICT" in str(err)


def test_endorse_failure_carries_peer_messages(gateway):
    with pytest.raises(EndorseError) as caught:
        gateway.contract(CHANNEL, "mycc").submit("fail")
    err = caught.value
    assert err.code is grpc.StatusCode.ABORTED
    assert err.details == [ErrorDetail("peer0.org1.example.com:7051", "Org1MSP", "chaincode response 500, boom")]
    assert "chaincode response 500, boom" in str(err)
    assert not isinstance(err, SubmitError | CommitStatusError)


def test_evaluate_failure_is_gateway_error_with_details(gateway):
    with pytest.raises(GatewayError) as caught:
        gateway.contract(CHANNEL, "mycc").evaluate("fail")
    assert type(caught.value) is GatewayError
    assert "boom" in str(caught.value)


def test_per_call_deadline_surfaces_as_deadline_exceeded(gateway):
    start = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        gateway.contract(CHANNEL, "mycc").evaluate("slow", timeout=0.3)
    assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 2.0


def test_default_deadline_from_connect_and_submit_budget(server, client):
    identity, signer = client
    with Gateway.connect(server.address, identity, signer, evaluate_timeout=0.3) as gw:
        assert gw.deadlines.evaluate == 0.3 and gw.deadlines.endorse == 15.0
        start = time.monotonic()
        with pytest.raises(GatewayError) as caught:
            gw.contract(CHANNEL, "mycc").evaluate("slow")
        assert caught.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        # submit's timeout bounds the whole sequence, so a slow endorsement fails as an EndorseError.
        with pytest.raises(EndorseError) as endorse:
            gw.contract(CHANNEL, "mycc").submit("slow", timeout=0.3)
        assert endorse.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 3.0


def test_default_deadlines_match_the_brief(gateway):
    d = gateway.deadlines
    assert (d.evaluate, d.endorse, d.submit, d.commit_status, d.chaincode_events) == (5.0, 15.0, 5.0, 60.0, None)


def test_chaincode_events_from_start_block_and_close(gateway, server):
    stream = gateway.network(CHANNEL).chaincode_events("mycc", start_block=5)
    events = [next(stream) for _ in range(3)]
    assert [(e.block_number, e.event_name, e.payload) for e in events] == [
        (5, "created", b"created"),
        (5, "moved", b"moved"),
        (6, "deleted", b"deleted"),
    ]
    assert {e.chaincode_name for e in events} == {"mycc"}
    assert events[0].transaction_id == "tx-5-created"
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    inner = gateway_pb2.ChaincodeEventsRequest.FromString(server.servicer.requests["events"][-1].request)
    assert (inner.channel_id, inner.chaincode_id, inner.start_position.specified.number) == (CHANNEL, "mycc", 5)


def test_chaincode_events_close_from_another_thread_ends_iteration(gateway, server):
    with gateway.network(CHANNEL).chaincode_events("mycc") as stream:
        timer = threading.Timer(0.5, stream.close)
        timer.start()
        start = time.monotonic()
        events = list(stream)  # blocks after the third event until close()
        timer.join()
    assert [e.block_number for e in events] == [100, 100, 101]
    assert time.monotonic() - start < 5.0
    inner = gateway_pb2.ChaincodeEventsRequest.FromString(server.servicer.requests["events"][-1].request)
    assert inner.start_position.HasField("next_commit")


def test_tls_with_server_name_override(pki, client):
    identity, signer = client
    key, cert = issue(pki, "peer0.org1.example.com", dns=["peer0.org1.example.com"])
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    gateway_pb2_grpc.add_GatewayServicer_to_server(FakeGateway(), grpc_server)
    port = grpc_server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem(key), cert)]))
    grpc_server.start()
    address = f"127.0.0.1:{port}"
    try:
        with Gateway.connect(address, identity, signer, pki.ca_pem, "peer0.org1.example.com") as gw:
            assert gw.contract(CHANNEL, "mycc").evaluate("ping") == b"ping"
        # Without the override the certificate (no 127.0.0.1 SAN) does not match and the call fails.
        with Gateway.connect(address, identity, signer, pki.ca_pem) as gw, pytest.raises(GatewayError) as caught:
            gw.contract(CHANNEL, "mycc").evaluate("ping", timeout=3)
        assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    finally:
        grpc_server.stop(0)


# ---------------------------------------------------------------- asyncio client


async def _async_flow(address: str, identity: Identity, signer: Signer) -> dict:
    out: dict = {}
    async with AsyncGateway.connect(address, identity, signer) as gw:
        contract = gw.network(CHANNEL).contract("mycc")
        out["evaluate"] = await contract.evaluate("query", "a")
        out["submit"] = await contract.submit("move", "a", "b", "1")
        try:
            await contract.submit("conflict")
        except CommitError as err:
            out["commit_error"] = err.validation_code_name
        try:
            await contract.evaluate("slow", timeout=0.3)
        except GatewayError as err:
            out["deadline"] = err.code
        try:
            await contract.submit("fail")
        except EndorseError as err:
            out["endorse_error"] = str(err)
        async with gw.network(CHANNEL).chaincode_events("mycc", start_block=9) as stream:
            asyncio.get_running_loop().call_later(0.5, stream.close)
            out["events"] = [(e.block_number, e.event_name) async for e in stream]
    return out


def test_async_client_flow(server, client):
    identity, signer = client
    out = asyncio.run(asyncio.wait_for(_async_flow(server.address, identity, signer), 20))
    assert out["evaluate"] == b"query|a"
    assert out["submit"] == b"endorsed:move|a|b|1"
    assert out["commit_error"] == "MVCC_READ_CONFLICT"
    assert out["deadline"] is grpc.StatusCode.DEADLINE_EXCEEDED
    assert "chaincode response 500, boom" in out["endorse_error"]
    assert out["events"] == [(9, "created"), (9, "moved"), (10, "deleted")]
