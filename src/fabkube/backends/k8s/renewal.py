"""`certs renew` on a Kubernetes network: sign the due certificates again in the work dir (same CAs,
same keys, as locally), apply the Secrets that carry them, then roll each workload whose pods
mount a changed Secret, one at a time and each ready before the next: ZooKeeper, the brokers
(their StatefulSets replace one pod at a time, waiting for it to be ready), each orderer (on Raft,
its consenter entry in every channel config first, through a port-forward), each peer, the
chaincode servers.

Which workloads still have to roll is read from the cluster: a pod template carries the digest of
what it mounts (manifests.stamp_mounted), so a workload whose live digest differs from the
rendered one runs old certificates. A renewal interrupted anywhere finishes when run again.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from fabkube.backends.k8s.manifests import CONNECTIONS_SECRET, MOUNTED_DIGEST, WORKLOAD_KINDS
from fabkube.crypto.renewal import Renewal, due_leaves, refresh_derived, renew
from fabkube.errors import UserError
from fabkube.reporter import Reporter
from fabkube.spec import duration_seconds

# The K8sNetwork that calls in here (network.py imports this module, not the other way).
K8sNetwork = Any

ROLLOUT = 600.0  # seconds for one workload to roll (a 3-broker StatefulSet restarts 3 JVMs)
MARKER = "renewal.json"  # in the work dir while a renewal has Secrets or workloads left to apply


def renew_k8s(net: K8sNetwork, within: dt.timedelta | None, report: Reporter) -> Renewal:
    """Renew what ends within `within` (None: every leaf) and roll what uses it (the caller,
    Network.renew_certificates, checks the type and holds the migration lock)."""
    return _renew(net, within, report)


def _kind(obj: dict) -> str:
    return (obj["spec"]["template"]["metadata"].get("labels") or {}).get("app.kubernetes.io/component", "")


def _rolling_order(net: K8sNetwork, objects: list[dict]) -> list[dict]:
    services = list(dict.fromkeys(s.kind for s in net.topo.ordering.services))  # in start order
    order = [*services, "orderer", "peer", "chaincode"]
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    return sorted(workloads, key=lambda o: order.index(_kind(o)) if _kind(o) in order else len(order))


def _live_digest(net: K8sNetwork, obj: dict) -> str | None:
    live = net.cluster._get(net.cluster._resource(obj), obj["metadata"])
    if live is None:
        return None
    annotations = (live.to_dict()["spec"]["template"]["metadata"] or {}).get("annotations") or {}
    return annotations.get(MOUNTED_DIGEST)


def _name(obj: dict) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _renew(net: K8sNetwork, within: dt.timedelta | None, report: Reporter) -> Renewal:
    if not net.was_up():
        raise UserError(f"network {net.name} was never brought up on Kubernetes: nothing to renew")
    marker_file = net.workdir / MARKER
    marker = json.loads(marker_file.read_text()) if marker_file.is_file() else None
    cluster = net.cluster
    if marker is None:
        _check_ready(net)
    result = Renewal()
    due = due_leaves(net.layout, within)
    if marker is not None:
        # Run again after an interruption: what that run signed already is not signed again.
        started = dt.datetime.fromtimestamp(marker["started"], dt.UTC) - dt.timedelta(minutes=1)
        due = [c for c in due if c.not_before < started]
    if due:
        spec = net.loaded.spec
        validity = dt.timedelta(seconds=duration_seconds(spec.crypto.validity))
        marker = marker or {"started": time.time(), "peers": []}
        marker_file.write_text(json.dumps(marker))  # before any file changes
        result.renewed = renew(net.layout, due, validity)
        report.info(f"renewed {len(result.renewed)} certificates (valid {spec.crypto.validity} from now)")
    refresh_derived(net.layout)  # also after a renewal cut short between the two
    if marker is None:
        return result  # nothing renewed now or left by an earlier run
    net._rendered = None  # render again: the Secrets from the renewed files
    objects = net.rendered().objects()
    marker["peers"] += [p for p in _peers_with_new_connections(net, objects) if p not in marker["peers"]]
    marker_file.write_text(json.dumps(marker))
    held = [o for o in objects if o["kind"] in ("Secret", "ConfigMap")]
    changed = sum(a.changed for a in cluster.apply(held, ("Secret", "ConfigMap")))
    report.info(f"applied {len(held)} Secrets and ConfigMaps, {changed} changed")
    raft = not net.topo.ordering.system_channel
    for obj in _rolling_order(net, objects):
        wanted = obj["spec"]["template"]["metadata"].get("annotations", {}).get(MOUNTED_DIGEST)
        forced = _name(obj) in marker["peers"]
        if not forced and _live_digest(net, obj) == wanted and cluster.workload_ready(obj)[0]:
            if raft and _kind(obj) == "orderer":
                _wait_caught_up(net, obj, report)  # an earlier run may have stopped right after its roll
            continue
        if raft and _kind(obj) == "orderer":
            result.channel_updates += _consenter_certs(net, obj, report)
        report.info(f"roll {_name(obj)}")
        if forced and _live_digest(net, obj) == wanted:
            cluster.restart(obj)  # same template: a restart, as `kubectl rollout restart` makes it
        else:
            cluster.apply([obj], (obj["kind"],))
        cluster.wait_rollout([obj], ROLLOUT, report.info)
        if raft and _kind(obj) == "orderer":
            _wait_caught_up(net, obj, report)
        result.restarted.append(_name(obj))
        if forced:
            marker["peers"].remove(_name(obj))
            marker_file.write_text(json.dumps(marker))
    marker_file.unlink(missing_ok=True)
    return result


def _check_ready(net: K8sNetwork) -> None:
    """One workload rolls at a time while the others serve: all of them must serve first."""
    waiting = [
        f"{_name(o)} ({count})"
        for o in _rolling_order(net, net.rendered().objects())
        for ok, count in [net.cluster.workload_ready(o)]
        if not ok
    ]
    if waiting:
        raise UserError(
            f"certs renew rolls one workload at a time and needs the others ready: {', '.join(waiting[:4])} "
            "not ready; run `fabkube up` (or wait) first"
        )


def _peers_with_new_connections(net: K8sNetwork, objects: list[dict]) -> list[str]:
    """Peers of each org whose peer-connections Secret is about to change: they read their chaincode
    client certificate from it at a start only, and it is not in their digest, so they roll by name."""
    cluster, out = net.cluster, []
    for secret in (o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == CONNECTIONS_SECRET):
        live = cluster._get(cluster._resource(secret), secret["metadata"])
        if live is None or (live.to_dict().get("data") or {}) != secret["data"]:
            ns = secret["metadata"]["namespace"]
            peers = [o for o in objects if o["kind"] == "StatefulSet" and _kind(o) == "peer"]
            out += [_name(o) for o in peers if o["metadata"]["namespace"] == ns]
    return out


def _orderer_of(net: K8sNetwork, obj: dict):
    return next(o for o in net.topo.orderers if o.hostname == obj["metadata"]["name"])


def _membership(net: K8sNetwork, reach: list, report: Reporter):
    from fabkube.channel.config import orderer_admin_configs
    from fabkube.consensus.raft.membership import Membership
    from fabkube.generate import network_toolchain

    tools = net.tools or network_toolchain(net.loaded.spec).ensure(report.info)
    by_name = {r.name: r for r in reach}
    configs = orderer_admin_configs(net.layout, tools, net.workdir / "logs" / "renewal.log")
    return Membership(
        net.layout,
        configs,
        lambda *_a: None,
        report.info,
        reach=lambda node: (str(by_name[node.name].address), by_name[node.name].admin),
        operations=lambda node: by_name[node.name].operations,
    )


def _consenter_certs(net: K8sNetwork, obj: dict, report: Reporter) -> list[str]:
    """The orderer's renewed TLS certificate into its consenter entry in every channel, before its
    pod restarts with it (Fabric's Raft guide: one consenter's certificate per update)."""
    node = _orderer_of(net, obj)
    with net.orderer_reach() as reach:
        members = _membership(net, reach, report)
        return [f"{node.name} on {ch.name}" for ch in net.topo.channels if members.refresh_certs(ch.name, node)]


def _wait_caught_up(net: K8sNetwork, obj: dict, report: Reporter) -> None:
    node = _orderer_of(net, obj)
    with net.orderer_reach() as reach:
        members = _membership(net, reach, report)
        for ch in net.topo.channels:
            members.wait_caught_up(node, ch.name)
