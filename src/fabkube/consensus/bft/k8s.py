"""BFT orderers on Kubernetes: no backing services; probes on the operations endpoint's /healthz,
as for Raft."""

from __future__ import annotations

from fabkube.consensus.k8s import K8sOrdering, healthz_probes, register_k8s
from fabkube.consensus.participation import BFT_LEADER, describe
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode


class BftK8s(K8sOrdering):
    type = "bft"

    def orderer_probes(self, node: OrdererNode, tls: bool) -> tuple[dict, dict, dict]:
        return healthz_probes(node, tls)

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        return describe(layout, node, channels, BFT_LEADER)


BFT_K8S = register_k8s(BftK8s())
