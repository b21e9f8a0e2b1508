"""BFT's model (Fabric 3.1): the ConsenterMapping of configtx.yaml (each orderer's ID from 1, host,
port, MSP ID, enrollment certificate as its Identity, TLS certificate as client and server) and
SmartBFT's options, every one written (configtxgen applies its defaults only to an absent block).

The node finds itself in the mapping by its enrollment certificate (orderer/consensus/smartbft/
consenter.go at 3.1.1); the cluster talks on each orderer's own listener, as for Raft.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fabkube.consensus.model import ParticipationModel, register_model
from fabkube.nodes import OrdererNode

# SmartBFT's defaults (hyperledger-labs/SmartBFT pkg/types DefaultConfig, what 3.1.1 pins) but a
# 10 s leader heartbeat timeout in place of 1 min, as Fabric's own BFT integration tests run it:
# a dead leader is replaced in seconds, not after a minute without blocks.
SMARTBFT_OPTIONS = {
    "RequestBatchMaxCount": 100,
    "RequestBatchMaxBytes": 10 * 1024 * 1024,
    "RequestBatchMaxInterval": "50ms",
    "IncomingMessageBufferSize": 200,
    "RequestPoolSize": 400,
    "RequestForwardTimeout": "2s",
    "RequestComplainTimeout": "20s",
    "RequestAutoRemoveTimeout": "3m0s",
    "ViewChangeResendInterval": "5s",
    "ViewChangeTimeout": "20s",
    "LeaderHeartbeatTimeout": "10s",
    "LeaderHeartbeatCount": 10,
    "CollectTimeout": "1s",
    "SyncOnStart": False,
    "SpeedUpViewChange": False,
}


def tolerated(n: int) -> int:
    """Faulty consenters n tolerate: f with n >= 3f + 1."""
    return (n - 1) // 3


def enrollment_cert(tls_dir: Path, node: OrdererNode) -> Path:
    """The node's enrollment certificate beside its TLS dir (msp/signcerts/<fqdn>-cert.pem)."""
    return tls_dir.parent / "msp" / "signcerts" / f"{node.fqdn}-cert.pem"


@register_model
class BftModel(ParticipationModel):
    type = "bft"
    title = "BFT"
    # A SmartBFT node finds itself in the channel's ConsenterMapping by its enrollment certificate
    # (consenter.go detectSelfID at 3.1.1): a renewed one must go into every channel's mapping, one
    # consenter per update, before that node restarts. Not built yet; renewing without it would
    # take each rolled orderer out of its channels.
    renewal_refused = (
        "certs renew: not on BFT networks yet (a BFT consenter is known by its enrollment certificate in "
        "every channel's ConsenterMapping, which the renewal would have to update first); `fabkube certs` "
        "lists what ends when"
    )

    def quorum(self, orderers: int) -> int:
        # common/policies/bft.go at 3.1.1: q = ceil((n + f + 1) / 2)
        return -(-(orderers + tolerated(orderers) + 1) // 2)

    def configtx_orderer(self, orderers: list[OrdererNode], tls_dir: Callable[[OrdererNode], Path]) -> dict:
        mapping = [
            {
                "ID": i,
                "Host": o.address.host,
                "Port": o.address.port,
                "MSPID": o.org.msp_id,
                "Identity": str(enrollment_cert(tls_dir(o), o)),
                "ClientTLSCert": str(tls_dir(o) / "server.crt"),
                "ServerTLSCert": str(tls_dir(o) / "server.crt"),
            }
            for i, o in enumerate(orderers, start=1)
        ]
        return {"OrdererType": "BFT", "ConsenterMapping": mapping, "SmartBFT": dict(SMARTBFT_OPTIONS)}
