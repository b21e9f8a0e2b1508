"""Small builders for Kubernetes objects shared by every component (labels, secrets, scheduling)."""

from __future__ import annotations

import base64
from pathlib import Path

from fabkube.spec import ComponentResources, NetworkSpec, PlacementSpec
from fabkube.toolchain.versions import FABRIC_VERSIONS

MANAGED_BY = "fabkube"
DEFAULT_IMAGE = "fabkube.io/default-image"  # on chaincode Deployments whose image the spec does not name
FIELD_MANAGER = "fabkube"

# Pinned image tags; every reference goes through kubernetes.images.registry.
IMAGES = {
    "zookeeper": "library/zookeeper:3.8.4",
    "kafka": "apache/kafka:3.9.1",
    "orderer": "hyperledger/fabric-orderer:{fabric}",
    "peer": "hyperledger/fabric-peer:{fabric}",
    "tools": "hyperledger/fabric-tools:{fabric}",
    "chaincode": "fabkube/{name}-chaincode:{version}",
}


# Fabric publishes no fabric-tools image from 3.0 on (release_notes/v3.0.0.md). The Jobs of a 3.x
# network run the newest 2.5 tools: their peer CLI and osnadmin speak the same APIs to 3.x nodes.
TOOLS_FOR_FABRIC3 = "2.5.9"


def image(spec: NetworkSpec, kind: str, **fmt: str) -> str:
    registry = spec.kubernetes.images.registry.rstrip("/")
    fabric = spec.fabric.version
    if kind == "tools" and FABRIC_VERSIONS[fabric].major >= 3:
        fabric = TOOLS_FOR_FABRIC3
    return f"{registry}/{IMAGES[kind].format(fabric=fabric, **fmt)}"


def labels(spec: NetworkSpec, component: str, kind: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/component": kind,
        "app.kubernetes.io/part-of": spec.name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector(spec: NetworkSpec, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": spec.name}


def meta(spec: NetworkSpec, name: str, namespace: str | None, component: str, kind: str) -> dict:
    m = {"name": name, "labels": labels(spec, component, kind)}
    if namespace:
        m["namespace"] = namespace
    return m


def resources(res: ComponentResources) -> dict:
    return {
        "requests": {"cpu": res.requests.cpu, "memory": res.requests.memory},
        "limits": {"cpu": res.limits.cpu, "memory": res.limits.memory},
    }


def memory_mib(quantity: str) -> int:
    number, unit = int(quantity[:-2]), quantity[-2:]
    return {"Ki": number // 1024, "Mi": number, "Gi": number * 1024}[unit]


def heap_for(res: ComponentResources) -> str:
    """Half of the container's memory limit, leaving room for metaspace, threads and page cache."""
    return f"{max(64, memory_mib(res.limits.memory) // 2)}m"


# Every pod of a network runs as this user (Fabric's images run as root; Kafka's and ZooKeeper's
# images run as 1000): one owner for every volume, so a backup Job can copy any of them as it.
NETWORK_UID = 1000
CHAINCODE_UID = 65534  # USER in the Dockerfile `fabkube chaincode dockerfile` writes

# Pod Security Standards, "restricted" (v1.33 rules): enforced on the namespaces fabkube creates,
# and what every pod below satisfies.
POD_SECURITY_LABELS = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")} | {
    f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce", "audit", "warn")
}


def security_context(read_only: bool = True) -> dict:
    """A container's: no privilege, no escalation, no capability, and (where the image allows) a
    read-only root filesystem, /tmp being an emptyDir."""
    return {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only,
    }


def pod_security(uid: int) -> dict:
    """A pod's: a non-root user and group (also the group that owns its volumes, so secrets mounted
    0440 are readable to it) and the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scheduling(spec: NetworkSpec, placement: PlacementSpec, spread_label: dict[str, str] | None) -> dict:
    pod: dict = {}
    if placement.nodeSelector:
        pod["nodeSelector"] = dict(placement.nodeSelector)
    if placement.tolerations:
        pod["tolerations"] = [t.model_dump(exclude_none=True) for t in placement.tolerations]
    if placement.priorityClassName:
        pod["priorityClassName"] = placement.priorityClassName
    if placement.spread and spread_label:
        # Preferred, not required: the seed's two-node cluster still schedules all brokers on hw1.
        pod["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": spread_label},
                        },
                    }
                ]
            }
        }
    if spec.kubernetes.images.pullSecrets:
        pod["imagePullSecrets"] = [{"name": s} for s in spec.kubernetes.images.pullSecrets]
    return pod


def secret_key(relpath: str) -> str:
    """Secret keys are flat ([-._a-zA-Z0-9]); the file's path is restored by the volume's items."""
    return relpath.replace("/", ".").replace("@", "-at-")


def files_secret(
    spec: NetworkSpec, name: str, namespace: str, component: str, kind: str, files: dict[str, Path]
) -> tuple[dict, list[dict]]:
    """A Secret holding files, and the volume items that lay them out again under a mount."""
    data = {secret_key(rel): base64.b64encode(path.read_bytes()).decode() for rel, path in sorted(files.items())}
    items = [{"key": secret_key(rel), "path": rel} for rel in sorted(files)]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(spec, name, namespace, component, kind),
        "type": "Opaque",
        "data": data,
    }
    return secret, items


def files_under(root: Path, base: Path) -> dict[str, Path]:
    return {str(p.relative_to(base)): p for p in sorted(root.rglob("*")) if p.is_file()}
