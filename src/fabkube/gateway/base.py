"""What the sync and asyncio clients share: state, message building and which gRPC call to make.

Each step says which call it needs as a CallSpec (method, request, deadline, error type); the
sync client (client.py) makes it with grpc, the asyncio one (aio.py) awaits it with grpc.aio.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2_grpc

from fabkube.gateway import proposal as msg
from fabkube.gateway.connection import Deadlines, channel_credentials, channel_options
from fabkube.gateway.errors import CommitStatusError, EndorseError, GatewayError, SubmitError
from fabkube.gateway.identity import Identity, Signer
from fabkube.gateway.proposal import Arg, PreparedProposal, Status, Transient


class CallSpec(NamedTuple):
    method: str  # on the gateway stub: Evaluate, Endorse, Submit, CommitStatus
    request: Any
    timeout: float | None
    error: type[GatewayError]
    transaction_id: str | None


def pick(override: float | None, default: float | None) -> float | None:
    return default if override is None else override


class GatewayBase:
    """A connection to one peer's gateway service, signing as one client identity."""

    network_cls: ClassVar[type[NetworkBase]]

    def __init__(
        self,
        channel: Any,
        identity: Identity,
        signer: Signer,
        deadlines: Deadlines | None = None,
        *,
        close_channel=False,
    ) -> None:
        self.identity = identity
        self.signer = signer
        self.deadlines = deadlines or Deadlines()
        self._channel = channel
        self._close_channel = close_channel
        self.stub = gateway_pb2_grpc.GatewayStub(channel)

    @staticmethod
    def _open_channel(endpoint: str, credentials: grpc.ChannelCredentials | None, options: list) -> Any:
        raise NotImplementedError

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
    ) -> Any:
        """Open a channel to "host:port" (owned and closed by the gateway); no TLS root means plaintext.
        The asyncio client must be connected from inside the event loop that will use it."""
        credentials = channel_credentials(tls_root_cert_pem, tls_client_cert_pem, tls_client_key_pem)
        channel = cls._open_channel(endpoint, credentials, channel_options(server_name_override))
        deadlines = Deadlines(
            evaluate_timeout, endorse_timeout, submit_timeout, commit_status_timeout, chaincode_events_timeout
        )
        return cls(channel, identity, signer, deadlines, close_channel=True)

    def network(self, channel: str) -> Any:
        return self.network_cls(self, channel)

    def contract(self, channel: str, chaincode: str, contract_name: str | None = None) -> Any:
        return self.network(channel).contract(chaincode, contract_name)


class NetworkBase:
    """One channel seen through a gateway."""

    contract_cls: ClassVar[type[ContractBase]]

    def __init__(self, gateway: Any, name: str) -> None:
        self.gateway = gateway
        self.name = name

    def contract(self, chaincode: str, contract_name: str | None = None) -> Any:
        return self.contract_cls(self, chaincode, contract_name)

    def _events_call(
        self, chaincode_name: str, start_block: int | None, after_transaction_id: str | None, timeout: float | None
    ) -> Any:
        gw = self.gateway
        request = msg.chaincode_events_request(
            gw.identity, gw.signer, self.name, chaincode_name, start_block, after_transaction_id
        )
        return gw.stub.ChaincodeEvents(request, timeout=pick(timeout, gw.deadlines.chaincode_events))


class ContractBase:
    """A chaincode (and optionally one named contract inside it) on a channel."""

    proposal_cls: ClassVar[type[ProposalBase]]

    def __init__(self, network: Any, chaincode_name: str, contract_name: str | None = None) -> None:
        self.network = network
        self.chaincode_name = chaincode_name
        self.contract_name = contract_name

    def new_proposal(
        self, fn: str, *args: Arg, transient: Transient | None = None, endorsing_orgs: Sequence[str] | None = None
    ) -> Any:
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
        return self.proposal_cls(gw, prepared)


class ProposalBase:
    """A signed transaction proposal, ready to evaluate or endorse."""

    transaction_cls: ClassVar[type[TransactionBase]]

    def __init__(self, gateway: Any, prepared: PreparedProposal) -> None:
        self._gateway = gateway
        self.prepared = prepared

    @property
    def transaction_id(self) -> str:
        return self.prepared.transaction_id

    def _evaluate_call(self, timeout: float | None) -> CallSpec:
        deadline = pick(timeout, self._gateway.deadlines.evaluate)
        return CallSpec("Evaluate", self.prepared.evaluate_request(), deadline, GatewayError, self.transaction_id)

    def _endorse_call(self, timeout: float | None) -> CallSpec:
        deadline = pick(timeout, self._gateway.deadlines.endorse)
        return CallSpec("Endorse", self.prepared.endorse_request(), deadline, EndorseError, self.transaction_id)

    def _transaction(self, endorse_response: Any) -> Any:
        gw, prepared = self._gateway, self.prepared
        return self.transaction_cls(gw, prepared.channel, self.transaction_id, endorse_response.prepared_transaction)


class TransactionBase:
    """An endorsed transaction: the chaincode result is known, the ledger is not yet updated."""

    commit_cls: ClassVar[type[CommitBase]]

    def __init__(self, gateway: Any, channel: str, transaction_id: str, envelope: common_pb2.Envelope) -> None:
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id
        self.envelope = envelope
        self.result = msg.result_from_envelope(envelope)

    def _submit_call(self, timeout: float | None) -> CallSpec:
        gw = self._gateway
        signed = msg.sign_envelope(self.envelope, gw.signer)
        request = msg.submit_request(self.transaction_id, self.channel, signed)
        return CallSpec("Submit", request, pick(timeout, gw.deadlines.submit), SubmitError, self.transaction_id)

    def _commit(self) -> Any:
        return self.commit_cls(self._gateway, self.channel, self.transaction_id)


class CommitBase:
    """A submitted transaction whose validation result can be waited for."""

    def __init__(self, gateway: Any, channel: str, transaction_id: str) -> None:
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id

    def _status_call(self, timeout: float | None) -> CallSpec:
        gw = self._gateway
        request = msg.commit_status_request(gw.identity, gw.signer, self.channel, self.transaction_id)
        deadline = pick(timeout, gw.deadlines.commit_status)
        return CallSpec("CommitStatus", request, deadline, CommitStatusError, self.transaction_id)

    def _status(self, response: Any) -> Status:
        return msg.status_from_response(self.transaction_id, response)
