"""A dynamic host-path volume provisioner for the test cluster (what local-path-provisioner does).

For each Pending claim of our StorageClass that the scheduler has placed (annotation
volume.kubernetes.io/selected-node), create a directory under DIR and a PersistentVolume pinned
to that node and pre-bound to the claim; the PV controller binds them. Released volumes of ours
are deleted with their directory (reclaimPolicy Delete). Nodes share this machine's filesystem,
so the directory is where the kubelet on that node mounts it.

    python -m tooling.provisioner KUBECONFIG DIR
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

PROVISIONER = "fabkube.local/host-path"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def _ours(core: client.CoreV1Api, storage: client.StorageV1Api) -> set[str]:
    return {sc.metadata.name for sc in storage.list_storage_class().items if sc.provisioner == PROVISIONER}


def provision(core: client.CoreV1Api, classes: set[str], root: Path) -> None:
    for pvc in core.list_persistent_volume_claim_for_all_namespaces().items:
        ann = pvc.metadata.annotations or {}
        if pvc.status.phase != "Pending" or pvc.spec.storage_class_name not in classes or SELECTED_NODE not in ann:
            continue
        name = f"pvc-{pvc.metadata.uid}"
        path = root / f"{pvc.metadata.namespace}-{pvc.metadata.name}-{pvc.metadata.uid[:8]}"
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # any pod user may write, as local-path-provisioner does
        # A volume's root is a filesystem's root on a real disk: ext4 puts lost+found there.
        (path / "lost+found").mkdir(mode=0o700, exist_ok=True)
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER}},
            "spec": {
                "capacity": {"storage": pvc.spec.resources.requests["storage"]},
                "accessModes": pvc.spec.access_modes,
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": pvc.spec.storage_class_name,
                "hostPath": {"path": str(path), "type": "Directory"},
                "claimRef": {
                    "namespace": pvc.metadata.namespace,
                    "name": pvc.metadata.name,
                    "uid": pvc.metadata.uid,
                },
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [ann[SELECTED_NODE]]}
                                ]
                            }
                        ]
                    }
                },
            },
        }
        try:
            core.create_persistent_volume(pv)
            print(f"provisioned {name} for {pvc.metadata.namespace}/{pvc.metadata.name} on {ann[SELECTED_NODE]}")
        except ApiException as exc:
            if exc.status != 409:
                print(f"creating {name} failed: {exc.reason}", file=sys.stderr)


def reclaim(core: client.CoreV1Api) -> None:
    for pv in core.list_persistent_volume().items:
        ann = pv.metadata.annotations or {}
        if ann.get(PROVISIONED_BY) != PROVISIONER or pv.status.phase not in ("Released", "Failed"):
            continue
        if pv.spec.host_path:
            shutil.rmtree(pv.spec.host_path.path, ignore_errors=True)
        try:
            core.delete_persistent_volume(pv.metadata.name)
            print(f"deleted {pv.metadata.name}")
        except ApiException as exc:
            if exc.status != 404:
                print(f"deleting {pv.metadata.name} failed: {exc.reason}", file=sys.stderr)


def main(argv: list[str]) -> int:
    kubeconfig, root = argv
    api = config.new_client_from_config(config_file=kubeconfig)
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        try:
            classes = _ours(core, storage)
            provision(core, classes, Path(root))
            reclaim(core)
        except (ApiException, OSError) as exc:  # the API server may be restarting: try again
            print(f"provisioner: {exc}", file=sys.stderr)
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
