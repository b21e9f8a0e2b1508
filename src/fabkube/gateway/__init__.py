"""Client for the Fabric peer Gateway API (Fabric 2.4+), modelled on the fabric-gateway SDKs.

    identity, signer = identity_from_msp_dir("Org1MSP", admin_msp_dir)
    with Gateway.connect("localhost:7051", identity, signer, tls_root_cert_pem=ca_pem,
                         server_name_override="peer0.org1.example.com") as gateway:
        contract = gateway.network("mychannel").contract("mycc")
        contract.submit("move", "a", "b", "10")
        print(contract.evaluate("query", "a"))

Standalone: nothing here imports other fabkube modules.
"""

from fabkube.gateway.aio import (
    AsyncChaincodeEventStream,
    AsyncCommit,
    AsyncContract,
    AsyncGateway,
    AsyncNetwork,
    AsyncProposal,
    AsyncTransaction,
)
from fabkube.gateway.client import (
    ChaincodeEventStream,
    Commit,
    Contract,
    Gateway,
    Network,
    Proposal,
    Transaction,
)
from fabkube.gateway.connection import Deadlines
from fabkube.gateway.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    GatewayError,
    SubmitError,
)
from fabkube.gateway.identity import Identity, Signer, identity_from_msp_dir
from fabkube.gateway.proposal import ChaincodeEvent, Status, compute_transaction_id

__all__ = [
    "AsyncChaincodeEventStream",
    "AsyncCommit",
    "AsyncContract",
    "AsyncGateway",
    "AsyncNetwork",
    "AsyncProposal",
    "AsyncTransaction",
    "ChaincodeEvent",
    "ChaincodeEventStream",
    "Commit",
    "CommitError",
    "CommitStatusError",
    "Contract",
    "Deadlines",
    "EndorseError",
    "ErrorDetail",
    "Gateway",
    "GatewayError",
    "Identity",
    "Network",
    "Proposal",
    "Signer",
    "Status",
    "SubmitError",
    "Transaction",
    "compute_transaction_id",
    "identity_from_msp_dir",
]
