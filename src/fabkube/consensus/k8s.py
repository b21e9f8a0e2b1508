"""How an ordering type runs on Kubernetes: the objects of its backing services and its orderers'
probes. The Kubernetes backend loads the part of the network's type (fabkube.consensus.<type>.k8s
registers it); the topology never sees it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from fabkube.consensus.model import Registry, ServiceNode
from fabkube.layout import Layout
from fabkube.nodes import OrdererNode


class K8sOrdering(ABC):
    """The Kubernetes part of one ordering type."""

    type: ClassVar[str] = ""

    def files(self, layout: Layout) -> dict[str, list[dict]]:
        """Manifest file name -> objects of the backing services (in the services' namespaces)."""
        return {}

    def network_policies(self, layout: Layout) -> list[dict]:
        """NetworkPolicies opening the backing services' ports to their callers only
        (fabkube.backends.k8s.policies); the namespaces' default deny is the backend's."""
        return []

    def monitored_services(self, layout: Layout) -> list[tuple[str, str]]:
        """(namespace, kind) of the backing services whose pods serve Prometheus metrics on a
        container port named `metrics` (plain HTTP, opened to kubernetes.operationsFrom only)."""
        return []

    @abstractmethod
    def orderer_probes(self, node: OrdererNode, tls: bool) -> tuple[dict, dict, dict]:
        """Startup, readiness and liveness probes of an orderer container (`tls`: its operations
        endpoint serves HTTPS)."""

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        """What an orderer says of each channel (height, status, leader) for `status`, with node.admin
        and node.operations forwarded to this machine; {} when the type tells nothing per orderer."""
        return {}

    def pod_selector(self, node: ServiceNode) -> str:
        """The label selector of a backing service's pod (in node.namespace)."""
        return f"statefulset.kubernetes.io/pod-name={node.name}"


def healthz_probes(node: OrdererNode, tls: bool) -> tuple[dict, dict, dict]:
    """Probes on the operations endpoint's /healthz (safe where no backing service is checked by it,
    unlike Kafka's), and a liveness that gives a restarted consenter time to catch up."""
    scheme = "HTTPS" if tls else "HTTP"
    get = {"httpGet": {"path": "/healthz", "port": node.operations.port, "scheme": scheme}, "timeoutSeconds": 3}
    startup = {**get, "periodSeconds": 2, "failureThreshold": 150}
    ready = {**get, "periodSeconds": 5}
    live = {**get, "periodSeconds": 10, "failureThreshold": 6}
    return startup, ready, live


class ParticipationK8s(K8sOrdering):
    """A type whose orderers replicate among themselves (Raft, BFT): no backing services, /healthz
    probes, and what each orderer says of its channels through the channel participation API."""

    leader_metric: ClassVar[str] = ""  # the operations gauge saying this orderer leads a channel

    def orderer_probes(self, node: OrdererNode, tls: bool) -> tuple[dict, dict, dict]:
        return healthz_probes(node, tls)

    def orderer_channels(self, layout: Layout, node: OrdererNode, channels: list[str]) -> dict[str, dict]:
        from fabkube.consensus.participation import describe

        return describe(layout, node, channels, self.leader_metric)


K8S_PARTS: Registry[K8sOrdering] = Registry("k8s", "Kubernetes deployment")


def register_k8s(part: K8sOrdering) -> K8sOrdering:
    return K8S_PARTS.add(part.type, part)


def k8s_part(type_name: str) -> K8sOrdering:
    return K8S_PARTS.get(type_name)
