"""The Kubernetes backend against a real API server (official `kubernetes` client).

Server-side apply with field manager `fabkube`, rollouts waited for with progress, the
lifecycle Job followed, and `down` removing exactly what fabkube created (PVCs only with
--purge). KUBECONFIG and contexts are honoured like kubectl does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fabkube.backends.k8s.monitors import API_GROUP, API_VERSION
from fabkube.backends.k8s.objects import FIELD_MANAGER, MANAGED_BY
from fabkube.backends.k8s.preflight import ClusterSnapshot
from fabkube.errors import RuntimeFailure, UserError
from fabkube.waiting import wait_until

# Apply order: what others refer to comes first; the Job comes last, after the rollout.
APPLY_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "Secret",
    "ConfigMap",
    "Service",
    "PodDisruptionBudget",
    "StatefulSet",
    "Deployment",
    "PodMonitor",
    "Job",
)
WORKLOADS = ("StatefulSet", "Deployment")
PODMONITORS = (API_GROUP, API_VERSION, "podmonitors")


@dataclass
class Applied:
    kind: str
    namespace: str | None
    name: str
    changed: bool


def _template_changed(live, obj: dict) -> bool:
    """Whether the Job we render runs something else than the live one (the lifecycle digest differs)."""
    want = obj["spec"]["template"].get("metadata", {}).get("annotations", {})
    template = live.to_dict().get("spec", {}).get("template", {})
    have = template.get("metadata", {}).get("annotations") or {}
    return any(have.get(k) != v for k, v in want.items())


def api_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if body:
        import json

        try:
            return json.loads(body).get("message", str(body))[:300]
        except (ValueError, AttributeError):
            return str(body)[:300]
    return str(getattr(exc, "reason", None) or exc)[:300]


class Cluster:
    def __init__(self, context: str | None = None, kubeconfig: Path | None = None):
        from kubernetes import client, config, dynamic

        # KUBECONFIG as it is now: the client reads it once, when it is first imported.
        config_file = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
        try:
            self.api = config.new_client_from_config(config_file=config_file, context=context)
        except (config.ConfigException, FileNotFoundError, OSError) as exc:
            where = f"--context {context}" if context else f"--kubeconfig {kubeconfig}" if kubeconfig else "KUBECONFIG"
            raise UserError(f"{where}: cannot load a cluster configuration: {exc}") from None
        self.host = self.api.configuration.host
        self.core = client.CoreV1Api(self.api)
        self.storage = client.StorageV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self._version = client.VersionApi(self.api)
        self.dyn = None
        self._dynamic = dynamic

    def _dyn(self):
        if self.dyn is None:
            self.dyn = self._dynamic.DynamicClient(self.api)
        return self.dyn

    def _resource(self, obj: dict):
        return self._dyn().resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

    def version(self) -> str:
        try:
            return self._version.get_code(_request_timeout=10).git_version
        except Exception as exc:  # urllib3 and API errors alike: the cluster is not reachable
            raise RuntimeFailure(f"cluster at {self.host} is not reachable: {api_message(exc)}") from None

    def serves_podmonitors(self) -> bool:
        """Whether the API server serves PodMonitors (the Prometheus Operator's CRD installed), asked
        of the API itself: the client's discovery cache outlives clusters and removed CRDs."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.custom.list_cluster_custom_object(*PODMONITORS, limit=1, _request_timeout=10)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            if exc.status == 403:
                return True  # served; this user may not list them cluster-wide
            raise RuntimeFailure(f"cannot read PodMonitors from {self.host}: {api_message(exc)}") from None
        except Exception as exc:
            raise RuntimeFailure(f"cannot read PodMonitors from {self.host}: {api_message(exc)}") from None

    def delete_monitoring(self, namespaces: list[str], network: str) -> list[str]:
        """Remove what `kubernetes.monitoring` applied (when the spec turns it off): the PodMonitors,
        their client Secrets (org admins' TLS keys) and the dashboard ConfigMap; what was removed."""
        selector = f"app.kubernetes.io/part-of={network},app.kubernetes.io/component=monitoring"
        gone = []
        podmonitors = self.serves_podmonitors()
        for ns in namespaces:
            for s in self.core.list_namespaced_secret(ns, label_selector=selector).items:
                self.core.delete_namespaced_secret(s.metadata.name, ns)
                gone.append(f"Secret {ns}/{s.metadata.name}")
            for c in self.core.list_namespaced_config_map(ns, label_selector=selector).items:
                self.core.delete_namespaced_config_map(c.metadata.name, ns)
                gone.append(f"ConfigMap {ns}/{c.metadata.name}")
            if podmonitors:
                group, version, plural = PODMONITORS
                found = self.custom.list_namespaced_custom_object(group, version, ns, plural, label_selector=selector)
                for m in found["items"]:
                    self.custom.delete_namespaced_custom_object(group, version, ns, plural, m["metadata"]["name"])
                    gone.append(f"PodMonitor {ns}/{m['metadata']['name']}")
        return gone

    def snapshot(self) -> ClusterSnapshot:
        version = self.version()
        s = self.api.sanitize_for_serialization
        nodes = s(self.core.list_node().items)
        pods = s(self.core.list_pod_for_all_namespaces(field_selector="status.phase!=Succeeded").items)
        classes = s(self.storage.list_storage_class().items)
        dns_services = [
            svc
            for svc in s(self.core.list_namespaced_service("kube-system").items)
            if svc["metadata"]["name"] in ("kube-dns", "coredns")
        ]
        endpoints = [
            e
            for e in s(self.core.list_namespaced_endpoints("kube-system").items)
            if e["metadata"]["name"] in ("kube-dns", "coredns")
        ]
        return ClusterSnapshot(version, nodes, pods, classes, endpoints, dns_services)

    # ------------------------------------------------------------ apply
    def apply(self, objects: list[dict], kinds: tuple[str, ...] = APPLY_ORDER) -> list[Applied]:
        out = []
        for kind in kinds:
            for obj in (o for o in objects if o["kind"] == kind):
                res = self._resource(obj)
                meta = obj["metadata"]
                before = self._get(res, meta)
                if kind == "Job" and before is not None and _template_changed(before, obj):
                    # A Job's pod template is immutable: a changed one is a new Job.
                    self._replace(res, meta)
                    before = None
                try:
                    after = self._dyn().server_side_apply(
                        res,
                        body=obj,
                        name=meta["name"],
                        namespace=meta.get("namespace"),
                        field_manager=FIELD_MANAGER,
                        force_conflicts=True,
                    )
                except Exception as exc:
                    raise RuntimeFailure(
                        f"applying {kind} {meta.get('namespace', '')}/{meta['name']} failed: {api_message(exc)}"
                    ) from None
                changed = before is None or before.metadata.resourceVersion != after.metadata.resourceVersion
                out.append(Applied(kind, meta.get("namespace"), meta["name"], changed))
        return out

    def restart(self, obj: dict) -> None:
        """Replace a workload's pods with its template unchanged, as `kubectl rollout restart` does
        (an annotation under its own field manager, which fabkube's apply leaves alone)."""
        import datetime as dt

        meta = obj["metadata"]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
        self._resource(obj).patch(
            name=meta["name"],
            namespace=meta.get("namespace"),
            body=patch,
            content_type="application/strategic-merge-patch+json",
            field_manager=f"{FIELD_MANAGER}-restart",
        )

    def _replace(self, res, meta: dict) -> None:
        """Delete a Job (and its pods) and wait until it is gone, so it can be created anew."""
        res.delete(name=meta["name"], namespace=meta.get("namespace"), body={"propagationPolicy": "Foreground"})
        wait_until(lambda: self._get(res, meta) is None, 120, f"Job {meta.get('namespace')}/{meta['name']} to go")

    def _get(self, res, meta: dict):
        from kubernetes.dynamic.exceptions import NotFoundError

        try:
            return res.get(name=meta["name"], namespace=meta.get("namespace"))
        except NotFoundError:
            return None

    # ------------------------------------------------------------ wait
    def workload_ready(self, obj: dict) -> tuple[bool, str]:
        live = self._get(self._resource(obj), obj["metadata"])
        if live is None:
            return False, "missing"
        want = obj["spec"].get("replicas", 1)
        status = live.status or {}
        ready = (
            (status.get("readyReplicas") or 0)
            if obj["kind"] == "StatefulSet"
            else (status.get("availableReplicas") or 0)
        )
        # Ready means rolled out too: right after a changed template is applied, the old pods are
        # still the ready ones until the controller has seen the change and replaced them.
        seen = (status.get("observedGeneration") or 0) >= (live.metadata.generation or 0)
        updated = (status.get("updatedReplicas") or 0) >= want
        old_left = obj["kind"] == "Deployment" and (status.get("replicas") or 0) > want
        if want and not (seen and updated and not old_left):
            return False, f"{ready}/{want} ready, rolling out"
        return ready >= want, f"{ready}/{want} ready"

    def pod_problem(self, obj: dict) -> str:
        """Why the workload's first unready pod is not ready, as the kubelet or scheduler says it."""
        labels = obj["spec"]["selector"]["matchLabels"]
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        for pod in self.pods(obj["metadata"]["namespace"], selector):
            name, status = pod["metadata"]["name"], pod.get("status") or {}
            why = pod_reason(status)
            if why:
                return f"{name} {why}"
        return ""

    def wait_rollout(self, objects: list[dict], timeout: float, progress=lambda _m: None) -> None:
        pending = [o for o in objects if o["kind"] in WORKLOADS]
        waiting: dict[str, str] = {}
        shown = ""

        def ready() -> bool:
            nonlocal waiting, shown
            waiting = {}
            for o in pending:
                ok, count = self.workload_ready(o)
                if not ok:
                    problem = self.pod_problem(o)
                    waiting[f"{o['metadata']['namespace']}/{o['metadata']['name']}"] = (
                        f"{count}{f'; {problem}' if problem else ''}"
                    )
            line = "waiting for " + ", ".join(f"{k} ({v})" for k, v in list(waiting.items())[:4])
            if waiting and line != shown:  # say it when it changes, not every poll
                progress(line)
                shown = line
            return not waiting

        wait_until(
            ready,
            timeout,
            "the workloads to be ready",
            interval=2,
            pending=lambda: (
                ", ".join(f"{k} ({v})" for k, v in waiting.items())
                + " (see `fabkube logs COMPONENT` or kubectl describe pod)"
            ),
        )

    def job_state(self, job: dict) -> str:
        live = self._get(self._resource(job), job["metadata"])
        if live is None:
            return "missing"
        status = live.status or {}
        if status.get("succeeded"):
            return "succeeded"
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                return "failed"
        return "running" if status.get("active") else "pending"

    def pods(self, namespace: str, selector: str, timeout: float | None = None) -> list[dict]:
        return self.api.sanitize_for_serialization(
            self.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=timeout).items
        )

    def pod_log(
        self, namespace: str, name: str, tail: int | None = None, previous: bool = False, timeout: float | None = None
    ) -> str:
        """A pod's log (`previous`: of its container's run before the last restart)."""
        try:
            # The client answers None for an empty body (kwok's pods print nothing).
            got = self.core.read_namespaced_pod_log(
                name, namespace, tail_lines=tail, previous=previous, _request_timeout=timeout
            )
            return got or ""
        except Exception as exc:
            raise RuntimeFailure(f"cannot read the log of {namespace}/{name}: {api_message(exc)}") from None

    def follow_log(self, namespace: str, name: str) -> Iterator[str]:
        """New log text of a pod as the kubelet streams it, until interrupted."""
        try:
            resp = self.core.read_namespaced_pod_log(name, namespace, follow=True, tail_lines=0, _preload_content=False)
        except Exception as exc:
            raise RuntimeFailure(f"cannot follow the log of {namespace}/{name}: {api_message(exc)}") from None
        for chunk in resp.stream(4096):
            yield chunk.decode(errors="replace")

    # ------------------------------------------------------------ delete
    def delete(self, objects: list[dict], network: str, purge: bool) -> list[str]:
        """Remove what fabkube applied (reverse order); with purge, PVCs and namespaces too."""
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        removed = []
        kinds = [k for k in reversed(APPLY_ORDER) if k != "Namespace"]
        for kind in kinds:
            for obj in (o for o in objects if o["kind"] == kind):
                meta = obj["metadata"]
                try:
                    self._resource(obj).delete(
                        name=meta["name"], namespace=meta.get("namespace"), body={"propagationPolicy": "Background"}
                    )
                    removed.append(f"{kind} {meta.get('namespace')}/{meta['name']}")
                except (NotFoundError, ResourceNotFoundError):  # gone, or its CRD is (PodMonitor)
                    continue
        if purge:
            selector = f"app.kubernetes.io/part-of={network}"
            # Every namespace the network used, its own and a shared one it was given (its PVCs there go too).
            namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
            namespaces |= {ns for o in objects if (ns := o["metadata"].get("namespace"))}
            for ns in sorted(namespaces):
                for pvc in self.core.list_namespaced_persistent_volume_claim(ns, label_selector=selector).items:
                    self.core.delete_namespaced_persistent_volume_claim(pvc.metadata.name, ns)
                    removed.append(f"PersistentVolumeClaim {ns}/{pvc.metadata.name}")
            # A claim is only released once no pod uses it (pvc-protection): wait for that, bounded.
            with contextlib.suppress(RuntimeFailure):  # still held after 90 s: the namespaces go anyway
                wait_until(
                    lambda: (
                        not any(
                            self.core.list_namespaced_persistent_volume_claim(ns, label_selector=selector).items
                            for ns in namespaces
                        )
                    ),
                    90,
                    "the PVCs to be released",
                    interval=1,
                )
            for obj in (o for o in objects if o["kind"] == "Namespace"):
                name = obj["metadata"]["name"]
                if name not in self.own_namespaces([name], network):
                    continue  # a namespace fabkube did not create (kafkaNamespace named an existing one) stays
                try:
                    self._resource(obj).delete(name=name)
                    removed.append(f"Namespace {name}")
                except NotFoundError:
                    continue
        return removed

    def delete_network_policies(self, namespaces: list[str], network: str) -> list[str]:
        """Remove the network's NetworkPolicies (when the spec turns them off); what was removed."""
        from kubernetes import client

        api = client.NetworkingV1Api(self.api)
        gone = []
        selector = f"app.kubernetes.io/part-of={network},app.kubernetes.io/component=network-policy"
        for ns in namespaces:
            for pol in api.list_namespaced_network_policy(ns, label_selector=selector).items:
                api.delete_namespaced_network_policy(pol.metadata.name, ns)
                gone.append(f"NetworkPolicy {ns}/{pol.metadata.name}")
        return gone

    def own_namespaces(self, names: list[str], network: str) -> list[str]:
        """Of `names`, those that do not exist yet or that fabkube created for `network` (its labels):
        the only namespaces it may label (Pod Security) or delete."""
        from kubernetes.client.exceptions import ApiException

        out = []
        for name in names:
            try:
                labels = self.core.read_namespace(name).metadata.labels or {}
            except ApiException as exc:
                if exc.status == 404:
                    out.append(name)
                    continue
                raise RuntimeFailure(f"reading namespace {name} failed: {api_message(exc)}") from None
            if (
                labels.get("app.kubernetes.io/managed-by") == MANAGED_BY
                and labels.get("app.kubernetes.io/part-of") == network
            ):
                out.append(name)
        return out


def pod_reason(status: dict) -> str:
    """A pod's blocking condition: unschedulable, a waiting or crashing container, or not yet ready."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"unschedulable: {cond.get('message') or cond.get('reason')}"
    for kind in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(kind) or []:
            state = cs.get("state") or {}
            waiting = state.get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if waiting.get("reason") and waiting["reason"] not in ("PodInitializing", "ContainerCreating"):
                exit_info = f", last exit {last.get('exitCode')}" if last else ""
                restarts = f", {cs.get('restartCount')} restarts" if cs.get("restartCount") else ""
                return f"{cs['name']}: {waiting['reason']}{exit_info}{restarts}"
            if kind == "initContainerStatuses" and not cs.get("ready") and state.get("running"):
                return f"init container {cs['name']} running"
            if kind == "containerStatuses" and state.get("running") and not cs.get("ready"):
                return f"{cs['name']} running, not ready yet"
    phase = status.get("phase")
    return "" if phase == "Running" else (phase or "")
