"""A Kubernetes network as an upgrade (or a move to BFT) drives it: each orderer's and peer's
StatefulSet scaled to zero to stop it, its volume copied by a Job (the migration's), and the
recorded spec's StatefulSet applied to start it (a new image, or BFT's settings), one at a time;
nodes read through port-forwards."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabkube.backends.k8s.migration import K8sMigrationHost, _component
from fabkube.backends.k8s.network import K8sNetwork
from fabkube.migration.host import NodeReach, OrdererReach, UpgradeHost
from fabkube.nodes import Endpoint
from fabkube.reporter import Reporter
from fabkube.spec import parse_spec

ROLLOUT = 600.0


class K8sUpgradeHost(UpgradeHost):
    def __init__(self, net: K8sNetwork, report: Reporter):
        # The migration's host knows how to scale, apply, copy volumes and record a spec.
        self.workloads = K8sMigrationHost(net, report)
        self.report = report
        self._sync()

    def _sync(self) -> None:
        self.net, self.layout, self.tools = self.workloads.net, self.workloads.layout, self.workloads.tools

    @property
    def recorded_version(self) -> str:
        return self.net.topo.spec.fabric.version

    @contextmanager
    def reach(self) -> Iterator[list[OrdererReach]]:
        with self.net.orderer_reach() as reach:
            yield reach

    @contextmanager
    def nodes(self) -> Iterator[list[NodeReach]]:
        from fabkube.backends.k8s.portforward import port_forward

        topo = self.net.topo
        with contextlib.ExitStack() as stack:
            out = []
            for kind, group in (("orderer", topo.orderers), ("peer", topo.peers)):
                for node in group:
                    ns, pod = self.net._pod_name(node.name)
                    local = stack.enter_context(port_forward(self.net.cluster.core, ns, pod, node.operations.port))
                    out.append(NodeReach(node.name, kind, node.org, Endpoint.parse(local)))
            yield out

    def _sets(self, kinds: tuple[str, ...] = ("orderer", "peer")) -> list[dict]:
        return self.workloads._statefulsets(kinds)

    def _set_of(self, name: str) -> dict:
        # Peers' StatefulSets share names across orgs (peer0 in each org's namespace).
        node = next(n for n in [*self.net.topo.orderers, *self.net.topo.peers] if n.name == name)
        return next(
            s
            for s in self._sets()
            if s["metadata"]["name"] == node.hostname and s["metadata"]["namespace"] == node.namespace
        )

    def _replicas(self, sts: dict) -> int:
        """The replicas the live StatefulSet asks for (0: stopped, or missing)."""
        live = self.net.cluster._get(self.net.cluster._resource(sts), sts["metadata"])
        return 0 if live is None else int((live.spec or {}).get("replicas") or 0)

    def _start(self, sets: list[dict]) -> None:
        # Only what these sets' namespaces hold: an org's peer core.yaml changes with the version,
        # and a peer not rolled yet that restarts should find its own.
        spaces = {s["metadata"]["namespace"] for s in sets}
        kinds = ("Secret", "ConfigMap", "Service")
        held = [
            o for o in self.net.rendered().objects() if o["kind"] in kinds and o["metadata"].get("namespace") in spaces
        ]
        self.net.cluster.apply([*held, *sets], ("Secret", "ConfigMap", "Service", "StatefulSet"))
        self.net.cluster.wait_rollout(sets, ROLLOUT, self.report.info)

    def ensure_running(self) -> list[str]:
        """Only the stopped ones (scaled to zero, or missing): applying a StatefulSet of a newly
        recorded version rolls it, and an unready pod is not a stopped one; those are waited for."""
        sets = self._sets()
        stopped = [s for s in sets if self._replicas(s) == 0]
        for kind in ("orderer", "peer"):
            group = [s for s in stopped if _component(s) == kind]
            if group:
                self._start(group)
        self.net.cluster.wait_rollout([s for s in sets if s not in stopped], ROLLOUT, self.report.info)
        return [f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in stopped]

    def record_spec(self, spec_text: str) -> None:
        self.workloads.record_type(parse_spec(spec_text).spec.ordering.type, spec_text)
        self._sync()

    def stop_orderers(self) -> None:
        self.workloads._scale_to_zero(self._sets(("orderer",)))

    def start_orderers(self) -> None:
        self._start(self._sets(("orderer",)))

    def running(self, name: str) -> bool:
        """Meant to run (not scaled to zero), ready or not: an unready pod may still write its volume."""
        return self._replicas(self._set_of(name)) > 0

    def stop_node(self, name: str) -> None:
        self.workloads._scale_to_zero([self._set_of(name)])

    def start_node(self, name: str) -> None:
        self._start([self._set_of(name)])

    def backup_node(self, name: str, dest: Path) -> None:
        self.backup_nodes([name], dest)

    def backup_nodes(self, names: list[str], dest: Path) -> None:
        """A Job per node copies its volume to a backup volume of its own, all side by side;
        `dest/<name>` then names it (written once the copy succeeded, so a copy cut short is never
        taken for one)."""
        sets = {name: self._set_of(name) for name in names}
        # Stopped first (a no-op when they are): a copy of a volume its pod still writes is no backup.
        self.workloads._scale_to_zero(list(sets.values()))
        copied = set(self.workloads._copy_jobs(dest.name, restore=False, sets=list(sets.values())))
        for name, sts in sets.items():
            own = [f"{sts['metadata']['namespace']}/{claim}" for _s, claim in self.workloads._volumes([sts])]
            self._name_backup(dest / name, [c for c in own if c in copied])

    def _name_backup(self, target: Path, copied: list[str]) -> None:
        part = target.with_name(target.name + ".partial")
        part.mkdir(parents=True, exist_ok=True)
        lines = [f"{c}  (copied to its backup volume: kubectl get pvc -n {c.split('/')[0]} -l "
                 "app.kubernetes.io/component=backup)" for c in copied]  # fmt: skip
        (part / "volumes.txt").write_text("\n".join(lines) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        part.rename(target)

    @property
    def backups(self) -> Path:
        return self.layout.root / "backups"
