"""Builders for the workload objects every component uses: StatefulSet, Service, container, probes."""

from __future__ import annotations

from fabkube.backends.k8s.objects import NETWORK_UID, labels, meta, pod_security, resources, security_context, selector
from fabkube.topology import Topology


def pvc(name: str, size: str, storage_class: str | None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name}, "spec": spec}


def statefulset(
    name: str,
    ns: str,
    topo: Topology,
    kind: str,
    component: str,
    pod: dict,
    replicas: int,
    service: str,
    pvc_size: str | None,
    data_mount: str = "data",
) -> dict:
    spec = topo.spec
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(spec, name, ns, component, kind),
        "spec": {
            "serviceName": service,
            "replicas": replicas,
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": selector(spec, component)},
            "template": {"metadata": {"labels": labels(spec, component, kind)}, "spec": locked(pod)},
        },
    }
    if pvc_size:
        sts["spec"]["volumeClaimTemplates"] = [pvc(data_mount, pvc_size, spec.kubernetes.storageClass)]
        # Ledgers, WALs and Kafka logs outlive their pods: scaling to zero (a migration) or deleting
        # the StatefulSet (`down`) keeps the volumes; only `down --purge` deletes them.
        sts["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    return sts


TMP = {"name": "tmp", "mountPath": "/tmp"}


def locked(pod: dict, uid: int = NETWORK_UID) -> dict:
    """A pod as Pod Security "restricted" wants it: non-root `uid`, seccomp, every container locked
    (security_context unless it brings its own), a writable /tmp for read-only roots; and no
    service-account token, since no pod of a network talks to the Kubernetes API."""

    def lock(c: dict) -> dict:
        sc = c.get("securityContext") or security_context()
        return {**c, "securityContext": sc, "volumeMounts": [*c.get("volumeMounts", []), TMP]}

    out = {
        "automountServiceAccountToken": False,
        **pod,
        "securityContext": pod_security(uid),
        "volumes": [*pod.get("volumes", []), {"name": "tmp", "emptyDir": {}}],
    }
    for key in ("initContainers", "containers"):
        if pod.get(key):
            out[key] = [lock(c) for c in pod[key]]
    return out


def service(
    topo: Topology, name: str, ns: str, component: str, kind: str, ports: dict[str, int], headless: bool = False
) -> dict:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(topo.spec, name, ns, component, kind),
        "spec": {
            "selector": selector(topo.spec, component),
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports.items()],
        },
    }
    if headless:
        svc["spec"]["clusterIP"] = "None"
        svc["spec"]["publishNotReadyAddresses"] = True
    return svc


def make_container(
    name: str,
    img: str,
    res,
    command: list[str],
    env: dict[str, str],
    ports: dict[str, int],
    mounts: list[dict],
    readiness: dict,
    liveness: dict | None = None,
) -> dict:
    c = {
        "name": name,
        "image": img,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
        "volumeMounts": mounts,
        "resources": resources(res),
        "readinessProbe": readiness,
        "securityContext": security_context(),
    }
    if liveness:
        c["livenessProbe"] = liveness
    return c


def tcp_probe(port: int, delay: int = 5) -> dict:
    return {"tcpSocket": {"port": port}, "initialDelaySeconds": delay, "periodSeconds": 5}
