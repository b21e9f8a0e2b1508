"""NetworkPolicies: every pod of the network refuses connections but the ones the network makes.

Per namespace, one policy selects all of the network's pods (never a shared namespace's other
pods) and allows nothing: ingress denied by default. Then one policy per kind opens its ports to
its callers only:
- peers' and orderers' gRPC ports to anyone (clients, other orgs' peers, gateways outside);
- an orderer's admin port (channel participation) only to the network's lifecycle and admin pods;
- chaincode servers only to the peers of their own org;
- the ordering type's services to their own callers (Kafka: brokers to orderers and brokers,
  ZooKeeper to brokers and to its own nodes);
- every operations port (/metrics, /logspec) only to the namespaces in kubernetes.operationsFrom.
Kubelet probes come from the node and `fabkube`'s port-forwards enter the pod's own network
namespace: neither passes through a policy. Egress is not restricted (a node's traffic out is
the cluster's own concern, and DNS and the peers' gossip go to many places).
"""

from __future__ import annotations

from fabkube.backends.k8s.objects import meta
from fabkube.spec import NetworkSpec

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # set by the API server on every namespace


def pods_of(spec: NetworkSpec, kind: str, namespace: str | None = None) -> dict:
    """A `from` peer: the network's pods of `kind`, in `namespace` (or the policy's own)."""
    peer: dict = {"podSelector": {"matchLabels": {PART_OF: spec.name, COMPONENT: kind}}}
    if namespace:
        peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME: namespace}}
    return peer


def anyone() -> list[dict]:
    """`from` that admits every source, in or outside the cluster."""
    return []


def policy(
    spec: NetworkSpec, name: str, namespace: str, kind: str | None, rules: list[tuple[list[int], list[dict]]]
) -> dict:
    """Pods of `kind` (all of the network's in `namespace` if None) accept each rule's ports from
    its sources; no rule: they accept nothing."""
    labels = {PART_OF: spec.name} | ({COMPONENT: kind} if kind else {})
    ingress = []
    for ports, sources in rules:
        rule: dict = {"ports": [{"protocol": "TCP", "port": p} for p in ports]}
        if sources:
            rule["from"] = sources
        ingress.append(rule)
    body: dict = {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"]}
    if ingress:  # none at all, not an empty list: the API server stores [] as absent, and a re-apply
        body["ingress"] = ingress  # of [] would write the object again every time
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(spec, name, namespace, name, "network-policy"),
        "spec": body,
    }


def operations_sources(spec: NetworkSpec) -> list[dict]:
    return [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: ns}}} for ns in spec.kubernetes.operationsFrom]


def operations_rule(spec: NetworkSpec, ports: list[int]) -> list[tuple[list[int], list[dict]]]:
    """The operations ports, to the monitoring namespaces only; none of them: no rule at all (an
    empty `from` would admit everyone)."""
    sources = operations_sources(spec)
    return [(ports, sources)] if sources else []


def default_deny(spec: NetworkSpec, namespace: str) -> dict:
    return policy(spec, f"{spec.name}-default-deny", namespace, None, [])
