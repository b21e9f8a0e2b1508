"""Raft orderers on Kubernetes: no backing services; probes on the operations endpoint's /healthz
(safe on Raft, unlike Kafka's), and a liveness that gives a restarted consenter time to catch up."""

from __future__ import annotations

from fabkube.consensus.k8s import K8sOrdering, register_k8s
from fabkube.consensus.raft.probes import describe
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode


class RaftK8s(K8sOrdering):
    type = "raft"

    def orderer_probes(self, node: OrdererNode, tls: bool) -> tuple[dict, dict, dict]:
        scheme = "HTTPS" if tls else "HTTP"
        get = {"httpGet": {"path": "/healthz", "port": node.operations.port, "scheme": scheme}, "timeoutSeconds": 3}
        startup = {**get, "periodSeconds": 2, "failureThreshold": 150}
        ready = {**get, "periodSeconds": 5}
        live = {**get, "periodSeconds": 10, "failureThreshold": 6}
        return startup, ready, live

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        return describe(layout, node, channels)


RAFT_K8S = register_k8s(RaftK8s())
