"""`up`, `status`, `logs` and `down` for the Kubernetes target, over Cluster and the renderer."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from fabkube.backends.k8s.cluster import Cluster
from fabkube.backends.k8s.preflight import Finding, blockers, check
from fabkube.backends.k8s.render import Rendered, render
from fabkube.errors import RuntimeFailure, UserError
from fabkube.reporter import Reporter, SilentReporter
from fabkube.spec import LoadedSpec
from fabkube.toolchain import Toolchain


@dataclass
class PodRow:
    name: str
    kind: str
    namespace: str
    node: str
    state: str


class K8sNetwork:
    def __init__(
        self,
        loaded: LoadedSpec,
        workdir: Path,
        context: str | None = None,
        kubeconfig: Path | None = None,
        tools: Toolchain | None = None,
    ):
        self.loaded = loaded
        self.workdir = workdir.resolve()
        self.context, self.kubeconfig = context, kubeconfig
        self.tools = tools
        self._cluster: Cluster | None = None
        self._rendered: Rendered | None = None

    @property
    def target_file(self) -> Path:
        return self.workdir / "target.json"

    def remember(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.target_file.write_text(
            json.dumps(
                {
                    "target": "k8s",
                    "context": self.context,
                    "kubeconfig": str(self.kubeconfig) if self.kubeconfig else None,
                }
            )
        )

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = Cluster(self.context, self.kubeconfig)
        return self._cluster

    def rendered(self) -> Rendered:
        if self._rendered is None:
            self._rendered = render(self.loaded, self.workdir, self.tools)
        return self._rendered

    @property
    def topo(self):
        return self.rendered().layout.topo

    def preflight(self) -> list[Finding]:
        snapshot = self.cluster.snapshot()  # a bad kubeconfig or unreachable cluster fails before anything is written
        return check(
            self.rendered().objects(), snapshot, self.loaded.spec.kubernetes.storageClass, self.loaded.spec.name
        )

    def up(self, report: Reporter | None = None, rollout_timeout: float = 600, job_timeout: float = 600) -> dict:
        report = report or SilentReporter()
        self.cluster.version()  # bad kubeconfig or unreachable cluster: fail before anything is written
        with report.step("render manifests") as s:
            objects = self.rendered().objects()
            s.detail = f"{len(objects)} objects"
        with report.step(f"preflight against {self.cluster.host}") as s:
            findings = self.preflight()
            for f in findings:
                if f.level != "ok":
                    report.info(str(f))
            if blockers(findings):
                raise UserError([str(f) for f in blockers(findings)])
            s.detail = f"{len(findings)} checks passed"
        self.remember()
        with report.step("server-side apply (field manager fabkube)") as s:
            applied = self.cluster.apply([o for o in objects if o["kind"] != "Job"])
            changed = sum(a.changed for a in applied)
            s.detail = f"{len(applied)} objects, {changed} changed"
        with report.step("wait for rollouts") as s:
            self.cluster.wait_rollout(objects, rollout_timeout, report.info)
            s.detail = f"{sum(o['kind'] in ('StatefulSet', 'Deployment') for o in objects)} workloads ready"
        job = next(o for o in objects if o["kind"] == "Job")
        with report.step("lifecycle Job (create, join, anchors, chaincode, smoke query)") as s:
            job_applied = self.cluster.apply([job], ("Job",))
            state = self._follow_job(job, job_timeout, report)
            s.detail = state
        return {
            "applied": len(applied) + len(job_applied),
            "changed": changed + sum(a.changed for a in job_applied),
            "job": state,
        }

    def _follow_job(self, job: dict, timeout: float, report: Reporter) -> str:
        """Wait for the Job, streaming its pod's new log lines as they appear (when a kubelet serves them)."""
        deadline = time.monotonic() + timeout
        ns = job["metadata"]["namespace"]
        shown = 0
        state = self.cluster.job_state(job)
        while True:
            shown = self._stream_job_log(ns, shown, report)
            if state not in ("pending", "running", "missing") or time.monotonic() >= deadline:
                break
            if not shown:
                report.info(f"lifecycle Job is {state}")
            time.sleep(2)
            state = self.cluster.job_state(job)
        if state == "failed":
            raise RuntimeFailure(f"the lifecycle Job failed:{self._job_log_tail(ns)}")
        if state != "succeeded":
            return f"still {state} after {int(timeout)}s: follow it with `fabkube logs lifecycle`"
        return "succeeded" + self._job_log_tail(ns, 1)

    def _stream_job_log(self, ns: str, shown: int, report: Reporter) -> int:
        """Print the log lines of the newest Job pod past the first `shown`; returns the new count."""
        pods = self.cluster.pods(ns, "app.kubernetes.io/name=lifecycle")
        if not pods:
            return shown
        try:
            lines = self.cluster.pod_log(ns, pods[-1]["metadata"]["name"]).splitlines()
        except RuntimeFailure:
            return shown  # no kubelet serving logs (yet)
        for line in lines[shown:]:
            report.info(line)
        return max(shown, len(lines))

    def _job_log_tail(self, ns: str, lines: int = 5) -> str:
        pods = self.cluster.pods(ns, "app.kubernetes.io/name=lifecycle")
        if not pods:
            return ""
        log = self.cluster.pod_log(ns, pods[-1]["metadata"]["name"], tail=lines)
        return "".join(f"\n  {line}" for line in log.splitlines())

    # ------------------------------------------------------------ day to day
    def pod_of(self, name: str) -> tuple[str, str]:
        """Component name (as locally: kafka-0, orderer0, peer0.org1, lifecycle) -> (namespace, pod selector)."""
        topo = self.topo
        for z in topo.zookeepers + topo.kafkas:
            if z.name == name:
                return z.namespace, f"statefulset.kubernetes.io/pod-name={name}"
        for node in topo.orderers + topo.peers:
            if node.name == name:
                return node.namespace, f"statefulset.kubernetes.io/pod-name={node.hostname}-0"
        if name == "lifecycle":
            return topo.orgs[0].namespace, "app.kubernetes.io/name=lifecycle"
        for cc in topo.chaincodes:
            if name == f"chaincode-{cc.name}":
                return cc.orgs[0].namespace, f"app.kubernetes.io/name=cc-{cc.name}"
        known = [c.name for c in topo.zookeepers + topo.kafkas + topo.orderers + topo.peers]
        raise UserError(f"unknown component {name!r}; known: {', '.join([*known, 'lifecycle'])}")

    def logs(self, name: str, lines: int) -> str:
        ns, selector = self.pod_of(name)
        pods = self.cluster.pods(ns, selector)
        if not pods:
            raise RuntimeFailure(f"{name} has no pod in namespace {ns} yet")
        return self.cluster.pod_log(ns, pods[-1]["metadata"]["name"], tail=lines)

    def status(self) -> list[PodRow]:
        rows = []
        namespaces = {o["metadata"]["name"] for o in self.rendered().objects() if o["kind"] == "Namespace"}
        for ns in sorted(namespaces):
            for pod in self.cluster.pods(ns, f"app.kubernetes.io/part-of={self.loaded.spec.name}"):
                labels = pod["metadata"].get("labels", {})
                statuses = pod.get("status", {}).get("containerStatuses") or []
                ready = bool(statuses) and all(c.get("ready") for c in statuses)
                phase = pod.get("status", {}).get("phase", "Unknown")
                rows.append(
                    PodRow(
                        pod["metadata"]["name"],
                        labels.get("app.kubernetes.io/component", ""),
                        ns,
                        pod.get("spec", {}).get("nodeName") or "-",
                        f"{phase}{' ready' if ready else ''}",
                    )
                )
        return rows

    def down(self, purge: bool = False, report: Reporter | None = None) -> list[str]:
        report = report or SilentReporter()
        with report.step("delete what fabkube applied" + (" and the PVCs and namespaces" if purge else "")) as s:
            removed = self.cluster.delete(self.rendered().objects(), self.loaded.spec.name, purge)
            s.detail = f"{len(removed)} objects"
        if purge:
            with report.step(f"remove {self.workdir}"):
                shutil.rmtree(self.workdir, ignore_errors=True)
        return removed
