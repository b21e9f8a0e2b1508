"""A Kubernetes network as a migration drives it: orderers reached through port-forwards, workloads
stopped by scaling their StatefulSets to zero and started by applying the recorded type's manifests,
each data volume copied to a backup volume of its own by a Job, Kafka's objects deleted at the end
(their volumes and namespace stay until `down --purge`)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabkube.backends.k8s.network import K8sNetwork, _ref_meta
from fabkube.backends.k8s.objects import image, labels
from fabkube.backends.k8s.workloads import locked
from fabkube.errors import RuntimeFailure
from fabkube.generate import network_toolchain
from fabkube.migration.host import MigrationHost, OrdererReach
from fabkube.reporter import Reporter
from fabkube.spec import parse_spec
from fabkube.waiting import wait_until

SERVICE_KINDS = ("kafka", "zookeeper")  # stopped in this order: brokers flush while ZooKeeper runs
JOB_WAIT = 600.0


class K8sMigrationHost(MigrationHost):
    def __init__(self, net: K8sNetwork, report: Reporter):
        self.report = report
        self._use(net)

    def _use(self, net: K8sNetwork) -> None:
        net.tools = net.tools or network_toolchain(net.loaded.spec).ensure(self.report.info)
        self.net, self.layout, self.tools = net, net.layout, net.tools

    @property
    def recorded_type(self) -> str:
        return self.net.topo.ordering.type

    # ------------------------------------------------------------ reaching the orderers
    @contextmanager
    def reach(self) -> Iterator[list[OrdererReach]]:
        with self.net.orderer_reach() as reach:
            yield reach

    # ------------------------------------------------------------ workloads
    def _objects(self) -> list[dict]:
        """The recorded type's objects in full, as `up` renders them (applied.json keeps names only)."""
        return self.net.rendered().objects()

    def _statefulsets(self, kinds: tuple[str, ...], objects: list[dict] | None = None) -> list[dict]:
        objs = objects if objects is not None else self._objects()
        return [o for o in objs if o["kind"] == "StatefulSet" and _component(o) in kinds]

    def _scale_to_zero(self, sets: list[dict]) -> list[str]:
        from kubernetes import client

        apps = client.AppsV1Api(self.net.cluster.api)
        from kubernetes.client.exceptions import ApiException

        scaled = []
        for sts in sets:
            m = sts["metadata"]
            try:
                apps.patch_namespaced_stateful_set_scale(m["name"], m["namespace"], {"spec": {"replicas": 0}})
                scaled.append(m["name"])
            except ApiException as exc:
                if exc.status != 404:
                    raise RuntimeFailure(f"scaling {m['namespace']}/{m['name']} to 0 failed: {exc.reason}") from None
        for sts in sets:
            m = sts["metadata"]
            sel = ",".join(f"{k}={v}" for k, v in sts["spec"]["selector"]["matchLabels"].items())
            wait_until(lambda ns=m["namespace"], s=sel: not self.net.cluster.pods(ns, s), 180.0,
                       f"the pods of {m['namespace']}/{m['name']} to stop", interval=2.0)  # fmt: skip
        return scaled

    def _apply_and_wait(self, kinds: tuple[str, ...]) -> None:
        """Apply the recorded type's manifests (no Job) and wait for the workloads of `kinds`."""
        objects = self.net.applicable(self._objects(), self.report)
        self.net._record_applied(objects)  # merged with what was there: `down --purge` still finds Kafka's
        self.net.cluster.apply([o for o in objects if o["kind"] != "Job"])
        self.net.cluster.wait_rollout(self._statefulsets(kinds, objects), 600.0, self.report.info)

    def ensure_running(self) -> None:
        kinds = ("orderer", *SERVICE_KINDS) if self.recorded_type == "kafka" else ("orderer",)
        self.report.info(f"applying {self.recorded_type}'s manifests; waiting for {', '.join(kinds)}")
        self._apply_and_wait(kinds)

    def stop_orderers(self) -> None:
        self._scale_to_zero(self._statefulsets(("orderer",)))

    def stop_services(self) -> list[str]:
        stopped = []
        for kind in SERVICE_KINDS:
            stopped += self._scale_to_zero(self._statefulsets((kind,), self._kafka_objects()))
        return stopped

    def start_kafka(self) -> None:
        self._apply_and_wait(("orderer", *SERVICE_KINDS))

    def start_raft_orderers(self) -> None:
        self._apply_and_wait(("orderer",))

    def _kafka_saved(self) -> dict:
        """The Kafka network's objects (workloads in full, the rest by name) and Kafka's namespaces:
        rendered while the network is recorded as Kafka, and kept in the work dir from the switch on
        (no Secret's data)."""
        if self.recorded_type == "kafka":
            objects = [o if o["kind"] == "StatefulSet" else {"apiVersion": o["apiVersion"], "kind": o["kind"],
                       "metadata": _ref_meta(o["metadata"])} for o in self._objects()]  # fmt: skip
            return {"namespaces": self.net.topo.ordering.namespaces, "objects": objects}
        saved = self.layout.root / "applied-kafka.json"
        return json.loads(saved.read_text()) if saved.is_file() else {"namespaces": [], "objects": []}

    def _kafka_objects(self) -> list[dict]:
        return self._kafka_saved()["objects"]

    def record_type(self, type_name: str, spec_text: str) -> None:
        loaded = parse_spec(spec_text)
        assert loaded.spec.ordering.type == type_name
        if self.recorded_type == "kafka":
            (self.layout.root / "applied-kafka.json").write_text(json.dumps(self._kafka_saved()))
        # What `up` compares with first, then the spec copy (its type is what says the move happened).
        for copy in (self.layout.root / "applied-spec.yaml", self.layout.spec_copy):
            if copy.is_file() or copy == self.layout.spec_copy:
                tmp = copy.with_suffix(".tmp")
                tmp.write_text(spec_text)
                tmp.replace(copy)
        self._use(K8sNetwork(loaded, self.net.workdir, self.net.context, self.net.kubeconfig))

    def remove_services(self) -> str:
        """Every object fabkube rendered in Kafka's namespaces but the volumes and the namespaces."""
        from kubernetes.dynamic.exceptions import NotFoundError

        if self.recorded_type == "kafka":
            return "Kafka is still the network's ordering: nothing removed"
        cluster = self.net.cluster
        saved = self._kafka_saved()
        gone = []
        for obj in saved["objects"]:
            if obj["metadata"].get("namespace") not in saved["namespaces"]:
                continue
            if obj["kind"] in ("Namespace", "PersistentVolumeClaim"):
                continue
            with contextlib.suppress(NotFoundError):
                cluster._resource(obj).delete(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
                gone.append(f"{obj['kind']} {obj['metadata']['name']}")
        if not gone:
            return "Kafka and ZooKeeper were removed before"
        return f"deleted {', '.join(gone)}; their volumes stay until `down --purge`"

    # ------------------------------------------------------------ backup and restore: one Job per volume
    def _volumes(self, sets: list[dict] | None = None) -> list[tuple[dict, str]]:
        """(StatefulSet, claim name) for every data volume of `sets` (default: the orderers',
        brokers' and ZooKeeper's)."""
        out = []
        for sts in sets if sets is not None else self._statefulsets(("orderer", *SERVICE_KINDS), self._kafka_objects()):
            for tmpl in sts["spec"].get("volumeClaimTemplates", []):
                for i in range(sts["spec"].get("replicas", 1)):
                    out.append((sts, f"{tmpl['metadata']['name']}-{sts['metadata']['name']}-{i}"))
        return out

    def _copy_jobs(self, tag: str, restore: bool, sets: list[dict] | None = None) -> list[str]:
        spec = self.net.loaded.spec
        cluster = self.net.cluster
        jobs = []
        volumes = self._volumes(sets)
        for sts, claim in volumes:
            ns = sts["metadata"]["namespace"]
            backup_claim = f"backup-{tag.lower()}-{claim}"[:63].rstrip("-")
            if not restore:
                size = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
                pvc = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": backup_claim,
                        "namespace": ns,
                        "labels": labels(spec, "backup", "backup"),
                    },
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
                }
                if spec.kubernetes.storageClass:
                    pvc["spec"]["storageClassName"] = spec.kubernetes.storageClass
                cluster.apply([pvc], ("PersistentVolumeClaim",))
            src, dst = ("/backup", "/data") if restore else ("/data", "/backup")
            # Not root: a volume's lost+found (root's, 0700, as on ext4) is neither copied nor emptied.
            keep = "-mindepth 1 -maxdepth 1 ! -name lost+found"
            # `-exec ... +`: find fails when a copy fails (with `\;` it would not, and set -e would pass).
            script = (
                f"set -e; find {dst} {keep} -exec rm -rf {{}} +; "
                f"find {src} {keep} -exec sh -c 'cp -a \"$@\" {dst}/' sh {{}} +; sync; ls -la {dst}"
            )
            pod_spec = sts["spec"]["template"]["spec"]
            job_name = f"{'restore' if restore else 'backup'}-{claim}"[:63].rstrip("-")
            job = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": job_name, "namespace": ns, "labels": labels(spec, "backup", "backup")},
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "metadata": {"labels": labels(spec, "backup", "backup")},
                        # As every pod of the network (one user owns every volume): restricted.
                        "spec": locked(
                            {
                                "restartPolicy": "Never",
                                # Where the volume's own pod ran (a local volume is bound to its node).
                                **{k: pod_spec[k] for k in ("nodeSelector", "tolerations") if k in pod_spec},
                                "containers": [
                                    {
                                        "name": "copy",
                                        "image": image(spec, "tools"),
                                        "command": ["sh", "-c", script],
                                        "volumeMounts": [
                                            {"name": "data", "mountPath": "/data"},
                                            {"name": "backup", "mountPath": "/backup"},
                                        ],
                                    }
                                ],
                                "volumes": [
                                    {"name": "data", "persistentVolumeClaim": {"claimName": claim}},
                                    {"name": "backup", "persistentVolumeClaim": {"claimName": backup_claim}},
                                ],
                            }
                        ),
                    },
                },
            }
            res = cluster._resource(job)
            if cluster._get(res, job["metadata"]) is not None:
                cluster._replace(res, job["metadata"])
            cluster.apply([job], ("Job",))
            jobs.append(job)
        deadline = time.monotonic() + JOB_WAIT
        for job in jobs:
            while (state := cluster.job_state(job)) not in ("succeeded", "failed"):
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"Job {job['metadata']['name']} did not finish in {JOB_WAIT:.0f}s")
                time.sleep(2)
            if state == "failed":
                raise RuntimeFailure(
                    f"Job {job['metadata']['namespace']}/{job['metadata']['name']} failed: "
                    f"kubectl logs -n {job['metadata']['namespace']} job/{job['metadata']['name']}"
                )
        for job in jobs:
            cluster._replace(cluster._resource(job), job["metadata"])
        return [f"{j['metadata']['namespace']}/{c}" for j, (_s, c) in zip(jobs, volumes, strict=True)]

    def backup(self, dest: Path) -> list[str]:
        dest.mkdir(parents=True, exist_ok=True)
        return self._copy_jobs(dest.name, restore=False)

    def restore(self, src: Path) -> None:
        self._copy_jobs(src.name, restore=True)

    @property
    def backups(self) -> Path:
        return self.layout.root / "backups"


def _component(obj: dict) -> str | None:
    """What a workload runs: its own label, else its pods' (a StatefulSet may label only its pods)."""
    own = (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
    if own or obj["kind"] != "StatefulSet":
        return own
    return (obj["spec"]["template"]["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
