"""What `top` and the console see of a network on Kubernetes.

Each look lists the network's pods (one call per namespace) and reads the kubelets' resource
metrics through the API server's node proxy (as `bench` does: no metrics-server needed), only on
the nodes the network's pods run on. A component runs when its pod is Running, every container
is ready and nothing is deleting it; otherwise the pod says why (a waiting or terminated
container's reason and message, the scheduler's word on a pending pod) and, for a container that
restarted, the last line it wrote before.

The kubelet refreshes its figures every 10 to 30 s (cAdvisor's housekeeping), each pod's with its own
timestamp: CPU is the rate between the last two distinct points it served for the pod (its pod-level
counter, which goes on across a container's restart), not between two looks (which would mostly
read 0). Memory is the pod's working set (what the kubelet evicts on), not RSS.

An orderer's or peer's operations endpoint is read through a port-forward to its pod, opened at
the first read and kept (a StatefulSet's pod comes back under its name, and each connection opens
its own stream), so one look costs a websocket stream per node, not a new listener.
"""

from __future__ import annotations

import contextlib
import threading

from fabkube.backends.base import Observed, Watch
from fabkube.backends.k8s.cluster import api_message
from fabkube.backends.k8s.metrics import parse_pod_usage
from fabkube.errors import RuntimeFailure
from fabkube.nodes import Endpoint

API_TIMEOUT = 10  # seconds for each call of a look: a stalled API server must not hang `top`


def matches(labels: dict, selector: str) -> bool:
    """Whether `labels` satisfy an equality selector (key=value[,key=value])."""
    return all(labels.get(k) == v for k, _, v in (part.partition("=") for part in selector.split(",")))


def _container_why(c: dict) -> str:
    """Why one container is not ready, from its status."""
    state = c.get("state") or {}
    if "waiting" in state:
        w = state["waiting"] or {}
        why = w.get("reason") or "waiting"
        why += f": {w['message']}" if w.get("message") else ""
    elif "terminated" in state:
        t = state["terminated"] or {}
        why = f"exited {t.get('exitCode')} ({t.get('reason') or 'terminated'})"
    else:
        why = "running, not ready yet"
    last = (c.get("lastState") or {}).get("terminated") or {}
    if last and c.get("restartCount"):
        why += f"; restarted {c['restartCount']}x, last exit {last.get('exitCode')} ({last.get('reason')})"
    return why


def _ready_condition(status: dict) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)


def why_not_running(pod: dict | None) -> str:
    """One line on why a pod is not serving, from its status: what deletes or ended it, an init
    container still at work or failing, a container waiting or exited, the scheduler's word, or
    the Ready condition (a node gone NotReady leaves containers' flags as they were)."""
    if pod is None:
        return "no pod"
    if pod["metadata"].get("deletionTimestamp"):
        return "pod deleted, terminating"
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if phase in ("Failed", "Succeeded") and (status.get("reason") or status.get("message")):
        return f"{phase}: " + ": ".join(x for x in (status.get("reason"), status.get("message")) if x)
    for c in status.get("initContainerStatuses") or []:
        terminated = (c.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode") == 0:
            continue
        return f"init {c.get('name')}: " + ("running" if "running" in (c.get("state") or {}) else _container_why(c))
    for c in status.get("containerStatuses") or []:
        if not c.get("ready"):
            return _container_why(c)
    for cond in status.get("conditions") or []:
        if cond.get("status") == "False" and cond.get("type") == "PodScheduled" and cond.get("message"):
            return f"{phase}: {cond['message']}"
    ready = _ready_condition(status)
    if ready is not None and ready.get("status") != "True":
        return "not ready: " + (ready.get("message") or ready.get("reason") or "Ready is " + str(ready.get("status")))
    return phase


def serving(pod: dict | None) -> bool:
    if pod is None or pod["metadata"].get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = _ready_condition(status)
    return (
        status.get("phase") == "Running"
        and bool(statuses)
        and all(c.get("ready") for c in statuses)
        and (ready is None or ready.get("status") == "True")
    )


def newest(pods: list[dict]) -> dict | None:
    """The pod that stands for a component: one not being deleted if there is one, else the newest
    (a Deployment's rollout briefly has two)."""
    if not pods:
        return None
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")] or pods
    return max(live, key=lambda p: p["metadata"].get("creationTimestamp") or "")


class CpuRates:
    """CPU % of one core per pod, between the last two distinct kubelet points of it."""

    def __init__(self) -> None:
        self._points: dict[str, list[tuple[float, float]]] = {}  # "ns/pod" -> [(stamp, cpu seconds)]

    def add(self, key: str, stamp: float, cpu: float) -> None:
        points = self._points.setdefault(key, [])
        if points and points[-1][0] == stamp:
            return
        if points and cpu < points[-1][1]:  # a pod made again under its name: its counter starts again
            points.clear()
        points.append((stamp, cpu))
        del points[:-2]

    def keep(self, keys: set[str]) -> None:
        """Forget pods no longer there (a Deployment's rollout leaves its old pods' names behind)."""
        for key in set(self._points) - keys:
            del self._points[key]

    def percent(self, key: str) -> float | None:
        points = self._points.get(key, [])
        if len(points) < 2 or points[1][0] <= points[0][0]:
            return None
        return max(0.0, (points[1][1] - points[0][1]) / (points[1][0] - points[0][0]) * 100)


class K8sWatch(Watch):
    # Two distinct kubelet points: cAdvisor's housekeeping runs every 10 s with up to 100% jitter,
    # stretched to 15 s (so up to 30 s) for a container whose figures do not change.
    settle_seconds = 45.0

    def __init__(self, net) -> None:
        super().__init__()
        self.net = net
        self.cluster = net.cluster
        self.placed = net.placed()
        self.namespaces = sorted({p.namespace for p in self.placed})
        self.cpu = CpuRates()
        self.pods: dict[str, tuple[str, str]] = {}  # component -> (namespace, pod) of its last look
        # (namespace, pod) -> (its restarts and last terminations, the last line its previous
        # container wrote): read once per run that ended, not at every look (every 1-2 s).
        self._last_words: dict[tuple[str, str], tuple[tuple, str]] = {}
        self._forwards: dict[str, tuple[str, contextlib.ExitStack, Endpoint]] = {}  # node -> (pod, ...)
        self._lock = threading.Lock()  # close() may come from another thread than the looks
        self._closed = False

    def observe(self) -> list[Observed]:
        with self._lock:
            self.errors, self.usage_errors = [], []
            part_of = f"app.kubernetes.io/part-of={self.net.name}"
            listed = {}
            for ns in self.namespaces:
                try:
                    listed[ns] = self.cluster.pods(ns, part_of, timeout=API_TIMEOUT)
                except Exception as exc:  # nothing to show without the pods: say so, the next look tries again
                    raise RuntimeFailure(f"cannot list the pods of namespace {ns}: {_first_line(exc)}") from None
            out, hosts = [], set()
            for p in self.placed:
                candidates = [q for q in listed[p.namespace] if matches(q["metadata"].get("labels") or {}, p.selector)]
                pod = newest(candidates)
                if pod is None:
                    self.pods.pop(p.name, None)
                    out.append(Observed(p.name, p.kind, False, "no pod"))
                    continue
                self.pods[p.name] = (p.namespace, pod["metadata"]["name"])
                if (pod.get("spec") or {}).get("nodeName"):
                    hosts.add(pod["spec"]["nodeName"])
                running = serving(pod)
                out.append(Observed(p.name, p.kind, running, "" if running else self._reason(p.namespace, pod)))
            shown = set(self.pods.values())
            self._last_words = {k: v for k, v in self._last_words.items() if k in shown}
            memory = self._read_usage(sorted(hosts))
            for seen in out:
                where = self.pods.get(seen.name)
                if seen.running and where:
                    key = "/".join(where)
                    seen.cpu_percent, seen.memory_bytes = self.cpu.percent(key), memory.get(key)
            return out

    def _reason(self, namespace: str, pod: dict) -> str:
        why = why_not_running(pod)
        containers = (pod.get("status") or {}).get("containerStatuses") or []
        restarts = sum(c.get("restartCount") or 0 for c in containers)
        if restarts and not pod["metadata"].get("deletionTimestamp"):
            key = (namespace, pod["metadata"]["name"])
            # Which run `--previous` reads: while a restarted container runs, the one before it; once
            # that one has ended too (CrashLoopBackOff), that one, with the same restart count.
            ended = tuple(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt") for c in containers)
            if self._last_words.get(key, (None,))[0] != (restarts, ended):
                try:
                    log = self.cluster.pod_log(namespace, key[1], 20, previous=True, timeout=API_TIMEOUT)
                except RuntimeFailure:
                    return why  # not kept: the next look tries again
                lines = [x for x in log.splitlines() if x.strip()]
                self._last_words[key] = ((restarts, ended), lines[-1][:300] if lines else "")
            if last := self._last_words[key][1]:
                why += f": {last}"
        return why

    def _read_usage(self, hosts: list[str]) -> dict[str, float]:
        """Feed the CPU rates from each host's kubelet; return "ns/pod" -> working set bytes."""
        memory: dict[str, float] = {}
        seen: set[str] = set()
        for host in hosts:
            try:
                text = self.cluster.core.connect_get_node_proxy_with_path(
                    host, "metrics/resource", _request_timeout=API_TIMEOUT
                )
            except Exception as exc:  # a kubelet that serves no metrics, or no nodes/proxy right: no figures
                self.usage_errors.append(f"resource metrics of node {host}: {_first_line(exc)}")
                continue
            for key, (cpu, mem, stamp) in parse_pod_usage(text, set(self.namespaces)).items():
                self.cpu.add(key, stamp, cpu)
                memory[key] = mem
                seen.add(key)
        self.errors.extend(self.usage_errors)
        if not self.usage_errors:
            self.cpu.keep(seen)
        return memory

    def operations(self, node) -> Endpoint | None:
        from fabkube.backends.k8s.portforward import port_forward

        with self._lock:
            where = self.pods.get(node.name)
            if where is None or self._closed:
                return None
            held = self._forwards.get(node.name)
            if held is not None and held[0] == where[1]:
                return held[2]
            self._drop(node.name)
            stack = contextlib.ExitStack()
            try:
                local = stack.enter_context(port_forward(self.cluster.core, where[0], where[1], node.operations.port))
            except RuntimeFailure as exc:
                stack.close()
                self.errors.append(str(exc))
                return None
            ep = Endpoint.parse(local)
            self._forwards[node.name] = (where[1], stack, ep)
            return ep

    def _drop(self, name: str) -> None:
        held = self._forwards.pop(name, None)
        if held is not None:
            held[1].close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for name in list(self._forwards):
                self._drop(name)


def _first_line(exc: Exception) -> str:
    """The API server's own message (it names a missing permission, e.g. nodes/proxy), one line."""
    return (api_message(exc).splitlines() or [type(exc).__name__])[0][:200]
