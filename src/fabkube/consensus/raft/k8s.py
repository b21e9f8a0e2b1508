"""Raft orderers on Kubernetes: no backing services; probes on the operations endpoint's /healthz
(safe on Raft, unlike Kafka's), and a liveness that gives a restarted consenter time to catch up."""

from __future__ import annotations

from fabkube.consensus.k8s import ParticipationK8s, register_k8s
from fabkube.consensus.participation import RAFT_LEADER


class RaftK8s(ParticipationK8s):
    type = "raft"
    leader_metric = RAFT_LEADER


RAFT_K8S = register_k8s(RaftK8s())
