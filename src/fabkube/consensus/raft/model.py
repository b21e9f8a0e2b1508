"""Raft's model: consenters (each orderer's host, port and TLS certificate, as both client and
server: fabkube's TLS certificates carry both usages), Raft's options, and the orderer settings
for the cluster and the channel participation API."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from fabkube.consensus.model import OrderingModel, ParticipationModel, register_model
from fabkube.nodes import OrdererNode
from fabkube.spec import size_bytes


@register_model
class RaftModel(ParticipationModel):
    type = "raft"
    title = "Raft"

    def quorum(self, orderers: int) -> int:
        return orderers // 2 + 1  # a majority

    def configtx_orderer(self, orderers: list[OrdererNode], tls_dir: Callable[[OrdererNode], Path]) -> dict:
        r = self.spec.ordering.raft
        consenters = [
            {
                # The cluster talks on each orderer's own listener: the address peers and clients use.
                "Host": o.address.host,
                "Port": o.address.port,
                "ClientTLSCert": str(tls_dir(o) / "server.crt"),
                "ServerTLSCert": str(tls_dir(o) / "server.crt"),
            }
            for o in orderers
        ]
        options = {
            "TickInterval": r.tickInterval,
            "ElectionTick": r.electionTick,
            "HeartbeatTick": r.heartbeatTick,
            "MaxInflightBlocks": r.maxInflightBlocks,
            "SnapshotIntervalSize": r.snapshotIntervalSize,
        }
        return {"OrdererType": "etcdraft", "EtcdRaft": {"Consenters": consenters, "Options": options}}

    def consensus_metadata(self, orderers: list[OrdererNode], tls_dir: Callable[[OrdererNode], Path]) -> dict:
        """The same consenters and options as ConsensusType metadata in configtxlator's JSON (an
        etcdraft.ConfigMetadata), for a channel config update such as a Kafka channel's migration:
        certificates are the PEM files' bytes, base64-encoded; sizes in bytes."""
        r = self.spec.ordering.raft

        def pem(o: OrdererNode) -> str:
            return base64.b64encode((tls_dir(o) / "server.crt").read_bytes()).decode()

        return {
            "consenters": [
                {"host": o.address.host, "port": o.address.port, "client_tls_cert": pem(o), "server_tls_cert": pem(o)}
                for o in orderers
            ],
            "options": {
                "tick_interval": r.tickInterval,
                "election_tick": r.electionTick,
                "heartbeat_tick": r.heartbeatTick,
                "max_inflight_blocks": r.maxInflightBlocks,
                "snapshot_interval_size": size_bytes(r.snapshotIntervalSize),
            },
        }


def raft_model(model: OrderingModel) -> RaftModel:
    assert isinstance(model, RaftModel)
    return model
