"""BFT orderers on Kubernetes: no backing services; probes on the operations endpoint's /healthz,
as for Raft."""

from __future__ import annotations

from fabkube.consensus.k8s import ParticipationK8s, register_k8s
from fabkube.consensus.participation import BFT_LEADER


class BftK8s(ParticipationK8s):
    type = "bft"
    leader_metric = BFT_LEADER


BFT_K8S = register_k8s(BftK8s())
