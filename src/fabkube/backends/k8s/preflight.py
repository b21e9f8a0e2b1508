"""Preflight: can this cluster run this network? Checked before anything is created.

Pure logic over a snapshot of the cluster (plain dicts, as the API returns them), so it is
tested on captured objects and on a real API server alike. One Finding per line; blockers
make `preflight` and `up --target k8s` exit 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fabkube.backends.k8s.objects import DEFAULT_IMAGE


@dataclass
class Finding:
    level: str  # "ok" | "warn" | "block"
    what: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.what}: {self.message}"


@dataclass
class ClusterSnapshot:
    version: str
    nodes: list[dict]
    pods: list[dict] = field(default_factory=list)
    storage_classes: list[dict] = field(default_factory=list)
    dns_endpoints: list[dict] = field(default_factory=list)  # Endpoints of kube-system/kube-dns
    dns_services: list[dict] = field(default_factory=list)
    podmonitor_api: bool = True  # monitoring.coreos.com/v1 is served (asked only when PodMonitors are rendered)


_CPU = re.compile(r"^([0-9.]+)(m?)$")
_MEM_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "m": 0.001,
}


def cpu_millis(q: str | int | float) -> int:
    m = _CPU.match(str(q))
    if not m:
        raise ValueError(f"not a CPU quantity: {q!r}")
    value = float(m.group(1))
    return int(value if m.group(2) else value * 1000)


def mem_bytes(q: str | int) -> int:
    m = re.match(r"^([0-9.]+)([a-zA-Z]*)$", str(q))
    if not m or m.group(2) not in _MEM_UNITS:
        raise ValueError(f"not a memory quantity: {q!r}")
    return int(float(m.group(1)) * _MEM_UNITS[m.group(2)])


def fmt_cpu(millis: int) -> str:
    return f"{millis / 1000:.2f} CPU"


def fmt_mem(b: int) -> str:
    return f"{b / 1024**3:.2f} GiB" if b >= 1024**3 else f"{b / 1024**2:.0f} MiB"


@dataclass
class Workload:
    """Pods that share a placement: what they need and where they may go."""

    names: list[str]
    node_selector: dict[str, str]
    tolerations: list[dict]
    cpu: int = 0
    mem: int = 0
    largest_cpu: int = 0
    largest_mem: int = 0


def workloads(objects: list[dict]) -> list[Workload]:
    """Group the long-running pods of rendered objects by placement (selector + tolerations)."""
    groups: dict[str, Workload] = {}
    for obj in objects:
        if obj["kind"] not in ("StatefulSet", "Deployment"):
            continue
        pod = obj["spec"]["template"]["spec"]
        replicas = obj["spec"].get("replicas", 1)
        cpu = sum(cpu_millis(c["resources"]["requests"]["cpu"]) for c in pod["containers"])
        mem = sum(mem_bytes(c["resources"]["requests"]["memory"]) for c in pod["containers"])
        selector = pod.get("nodeSelector", {})
        tolerations = pod.get("tolerations", [])
        key = repr((sorted(selector.items()), tolerations))
        group = groups.setdefault(key, Workload([], selector, tolerations))
        group.names.append(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        group.cpu += replicas * cpu
        group.mem += replicas * mem
        group.largest_cpu = max(group.largest_cpu, cpu)
        group.largest_mem = max(group.largest_mem, mem)
    return list(groups.values())


def node_ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def tolerated(taint: dict, tolerations: list[dict]) -> bool:
    if taint.get("effect") == "PreferNoSchedule":
        return True
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value") == taint.get("value"):
            return True
    return False


def _labels(node: dict) -> dict[str, str]:
    return node.get("metadata", {}).get("labels", {}) or {}


def _selector_text(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "any node"


def _requested_on(node_name: str, pods: list[dict], network: str | None) -> tuple[int, int]:
    """What other pods already request on a node; this network's own pods (a re-run) do not count."""
    cpu = mem = 0
    for pod in pods:
        if pod.get("spec", {}).get("nodeName") != node_name:
            continue
        labels = pod.get("metadata", {}).get("labels") or {}
        if (
            network
            and labels.get("app.kubernetes.io/part-of") == network
            and labels.get("app.kubernetes.io/managed-by") == "fabkube"
        ):
            continue
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for c in pod["spec"].get("containers", []):
            req = (c.get("resources") or {}).get("requests") or {}
            cpu += cpu_millis(req.get("cpu", "0"))
            mem += mem_bytes(req.get("memory", "0"))
    return cpu, mem


def check(
    objects: list[dict], cluster: ClusterSnapshot, storage_class: str | None, network: str | None = None
) -> list[Finding]:
    out = [Finding("ok", "cluster", f"reachable, Kubernetes {cluster.version}")]
    ready = [n for n in cluster.nodes if node_ready(n)]
    names = lambda nodes: ", ".join(n["metadata"]["name"] for n in nodes)  # noqa: E731
    not_ready = [n for n in cluster.nodes if not node_ready(n)]
    if not ready:
        out.append(Finding("block", "nodes", "no node is Ready"))
        return out
    out.append(
        Finding(
            "ok" if not not_ready else "warn",
            "nodes",
            f"{len(ready)} Ready ({names(ready)})" + (f"; not Ready: {names(not_ready)}" if not_ready else ""),
        )
    )
    no_net = [
        n
        for n in ready
        if any(
            c["type"] == "NetworkUnavailable" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    ]
    if no_net:
        out.append(
            Finding(
                "block",
                "network",
                f"the CNI reports NetworkUnavailable on {names(no_net)} "
                "(after `kubeadm reset`, reinstall the CNI plugin)",
            )
        )
    out += _default_images(objects, ready)
    if any(o["kind"] == "PodMonitor" for o in objects) and not cluster.podmonitor_api:
        out.append(
            Finding(
                "block",
                "monitoring",
                "kubernetes.monitoring: prometheus-operator needs the PodMonitor CRD (monitoring.coreos.com/v1): "
                "install kube-prometheus-stack (or the operator's CRDs) first, or set kubernetes.monitoring: none",
            )
        )
    if not cluster.dns_services:
        out.append(
            Finding(
                "block",
                "dns",
                "no kube-dns/coredns Service in kube-system: pods cannot resolve kafka-N.kafka-headless names",
            )
        )
    else:
        addresses = sum(len(s.get("addresses") or []) for e in cluster.dns_endpoints for s in e.get("subsets") or [])
        out.append(
            Finding(
                "ok" if addresses else "block",
                "dns",
                f"cluster DNS has {addresses} ready endpoint(s)"
                if addresses
                else "cluster DNS has no ready endpoints: pods cannot resolve Service names",
            )
        )
    if storage_class:
        found = any(sc["metadata"]["name"] == storage_class for sc in cluster.storage_classes)
        out.append(
            Finding(
                "ok" if found else "block",
                "storage",
                f"StorageClass {storage_class} "
                + (
                    "exists"
                    if found
                    else "does not exist; known: "
                    + (", ".join(sc["metadata"]["name"] for sc in cluster.storage_classes) or "(none)")
                ),
            )
        )
    else:
        default = [
            sc["metadata"]["name"]
            for sc in cluster.storage_classes
            if (sc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
        ]
        out.append(
            Finding(
                "ok" if default else "block",
                "storage",
                f"default StorageClass {default[0]}"
                if default
                else "no default StorageClass: PVCs would stay Pending; set kubernetes.storageClass",
            )
        )

    placed: list[tuple[Workload, frozenset[str]]] = []
    for group in workloads(objects):
        what = f"placement {_selector_text(group.node_selector)}"
        matching = [n for n in ready if all(_labels(n).get(k) == v for k, v in group.node_selector.items())]
        if not matching:
            out.append(
                Finding(
                    "block",
                    what,
                    f"no Ready node has labels {_selector_text(group.node_selector)} "
                    f"(needed by {', '.join(group.names)}); label a node or change "
                    "kubernetes.placement",
                )
            )
            continue
        eligible = []
        for n in matching:
            blocking = [t for t in (n.get("spec", {}).get("taints") or []) if not tolerated(t, group.tolerations)]
            if blocking:
                taint = blocking[0]
                out.append(
                    Finding(
                        "warn" if len(matching) > 1 else "block",
                        what,
                        f"node {n['metadata']['name']} has taint {taint['key']}:{taint.get('effect')} "
                        "that these pods do not tolerate; add it to kubernetes.placement.<kind>.tolerations "
                        "(no need to remove the taint)",
                    )
                )
            else:
                eligible.append(n)
        if eligible:
            placed.append((group, frozenset(n["metadata"]["name"] for n in eligible)))

    out += _single_node_replicas(objects, ready)

    # Capacity per set of eligible nodes: every group that can only use nodes of that set must
    # fit there together (zk+kafka and orderer+peers may share hw1 on a single-node cluster).
    by_name = {n["metadata"]["name"]: n for n in ready}
    for node_set in sorted({s for _, s in placed}, key=sorted):
        groups = [g for g, s in placed if s <= node_set]
        cpu, mem = sum(g.cpu for g in groups), sum(g.mem for g in groups)
        largest_cpu, largest_mem = max(g.largest_cpu for g in groups), max(g.largest_mem for g in groups)
        free_cpu = free_mem = best_cpu = best_mem = 0
        for name in node_set:
            alloc = by_name[name].get("status", {}).get("allocatable", {})
            used_cpu, used_mem = _requested_on(name, cluster.pods, network)
            c, m = cpu_millis(alloc.get("cpu", "0")) - used_cpu, mem_bytes(alloc.get("memory", "0")) - used_mem
            free_cpu, free_mem = free_cpu + c, free_mem + m
            best_cpu, best_mem = max(best_cpu, c), max(best_mem, m)
        fits = cpu <= free_cpu and mem <= free_mem and largest_cpu <= best_cpu and largest_mem <= best_mem
        nodes = ", ".join(sorted(node_set))
        placements = " + ".join(dict.fromkeys(_selector_text(g.node_selector) for g in groups))
        detail = (
            f"needs {fmt_cpu(cpu)} / {fmt_mem(mem)} on {nodes} for {placements}, "
            f"has {fmt_cpu(free_cpu)} / {fmt_mem(free_mem)} free"
        )
        if not fits:
            detail += ": lower resources.<kind>.requests, add nodes, or change kubernetes.placement"
        out.append(Finding("ok" if fits else "block", f"capacity {nodes}", detail))
    return out


# Replicas that keep a channel alive together: Kafka's brokers (a topic's copies), ZooKeeper's
# ensemble (its quorum), Raft's consenters (one StatefulSet each, labelled orderer).
REPLICATED = {"kafka": "brokers", "zookeeper": "ZooKeeper nodes", "orderer": "orderers"}


def _single_node_replicas(objects: list[dict], ready: list[dict]) -> list[Finding]:
    """Warn when placement lets every replica of a kind run on one node only: that node's loss
    stops every channel (and with Kafka can lose blocks already cut)."""
    out = []
    for kind, noun in REPLICATED.items():
        sets = [o for o in objects if o["kind"] == "StatefulSet"
                and o["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == kind]  # fmt: skip
        replicas = sum(o["spec"].get("replicas", 1) for o in sets)
        if replicas < 2:
            continue
        nodes: set[str] = set()
        for o in sets:
            pod = o["spec"]["template"]["spec"]
            selector, tolerations = pod.get("nodeSelector", {}), pod.get("tolerations", [])
            nodes |= {
                n["metadata"]["name"]
                for n in ready
                if all(_labels(n).get(k) == v for k, v in selector.items())
                and not [t for t in (n.get("spec", {}).get("taints") or []) if not tolerated(t, tolerations)]
            }
        if len(nodes) == 1:
            node = next(iter(nodes))
            out.append(
                Finding(
                    "warn",
                    f"spread {kind}",
                    f"all {replicas} {noun} can only run on node {node}: losing {node} stops every channel"
                    + (" and can lose blocks already cut" if kind == "kafka" else "")
                    + f"; let kubernetes.placement.{kind} match more nodes",
                )
            )
    return out


def _default_images(objects: list[dict], nodes: list[dict]) -> list[Finding]:
    """A chaincode image named by fabkube's default (nobody publishes it) must already be on a node."""
    present = {
        name for n in nodes for img in n.get("status", {}).get("images") or [] for name in img.get("names") or []
    }
    out = []
    for o in objects:
        if o["kind"] != "Deployment" or o["metadata"].get("annotations", {}).get(DEFAULT_IMAGE) != "true":
            continue
        image = o["spec"]["template"]["spec"]["containers"][0]["image"]
        name = o["metadata"]["name"].removeprefix("cc-")
        if image in present:
            out.append(Finding("ok", f"chaincode {name}", f"image {image} is on a node"))
        else:
            out.append(
                Finding(
                    "block",
                    f"chaincode {name}",
                    f"the spec names no image, and fabkube's default {image} is published nowhere and on no node: "
                    f"build one from `fabkube chaincode dockerfile SPEC {name} -o DIR`, push it, "
                    "and set the chaincode's `image` (an image already on the nodes: set `image` to its name, "
                    "as kubelets list only their 50 largest)",
                )
            )
    return out


def blockers(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "block"]
