"""A real Kubernetes control plane on loopback, with kwok simulating nodes and pod lifecycles.

etcd (embedded server), kube-apiserver, kube-controller-manager and kube-scheduler are the
real programs, built from the Go module proxy by tooling/k8s_sim_build.py (`build` below);
kwok plays the kubelets. So the Kubernetes backend meets real validation, defaulting,
server-side apply, workload controllers and the scheduler, with no container runtime.

    cd tests && python -m tooling.k8s_sim build                      # once per version, cached
    cd tests && python -m tooling.k8s_sim up DIR [--nodes seed|single|ha]   # prints the kubeconfig path
    cd tests && python -m tooling.k8s_sim down DIR [--purge]

Job pods are left Running, never completed: kwok cannot run the lifecycle script, and a
simulated success would be a lie.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import ssl
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from fabkube.backends.local.supervisor import Supervisor, tail
from fabkube.components import Component, Health
from fabkube.crypto.certs import CA, new_key, write_cert, write_key
from fabkube.errors import RuntimeFailure
from fabkube.health import port_free, tcp_open
from fabkube.toolchain import Toolchain
from fabkube.topology import Endpoint
from tooling.k8s_sim_build import K8sSimBuild

HOST = "127.0.0.1"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


PRELOADED_IMAGES = [
    f"docker.io/fabkube/{name}-chaincode:{version}"
    for name, version in (("mycc", "1.0"), ("mycc", "2.0"), ("abcc", "1.0"))
]


@dataclass
class SimNode:
    name: str
    cpu: str = "2"
    memory: str = "4Gi"
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)


# The user's cluster: hw1 runs the control plane (and carries its taint), hw2 is a worker.
NODE_SETS = {
    "seed": [
        SimNode(
            "hw1", labels={"type": "hw1", "node-role.kubernetes.io/control-plane": ""}, taints=[CONTROL_PLANE_TAINT]
        ),
        SimNode("hw2", labels={"type": "hw2"}),
    ],
    "single": [SimNode("small", labels={"type": "hw1"})],
    "ha": [SimNode(f"node{i}", cpu="4", memory="8Gi", labels={"type": "worker"}) for i in range(1, 4)],
}


class _Places:
    """Where the sim keeps state, logs and data (what the Supervisor needs of a layout)."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def data_dir(self, name: str) -> Path:
        return self.root / "data" / name


class SimCluster:
    ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

    def __init__(self, root: Path, base_port: int = 18400, tools: Toolchain | None = None, api_host: str = HOST):
        self.root = root.resolve()
        self.api_host = api_host  # where the API server listens (real nodes reach it on their bridge)
        self.tools = tools or Toolchain()
        self.build = K8sSimBuild(self.tools)
        self.places = _Places(self.root)
        self.supervisor = Supervisor(self.places)  # type: ignore[arg-type]
        self.ports = {
            "etcd": base_port,
            "etcd-peer": base_port + 1,
            "apiserver": base_port + 2,
            "controller-manager": base_port + 3,
            "scheduler": base_port + 4,
            "kwok": base_port + 5,
        }

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.api_host}:{self.ports['apiserver']}"

    # ------------------------------------------------------------ certificates
    def _certs(self) -> None:
        if (self.pki / "admin.crt").exists():
            return
        ca = CA.create(self.pki, "fabkube-sim-ca", "fabkube-sim")
        key = new_key()
        write_key(self.pki / "apiserver.key", key)
        write_cert(
            self.pki / "apiserver.crt",
            ca.issue(
                "kube-apiserver",
                key.public_key(),
                tls=True,
                sans=[
                    "localhost",
                    HOST,
                    self.api_host,
                    "10.96.0.1",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                ],
            ),
        )
        admin = new_key()
        write_key(self.pki / "admin.key", admin)
        write_cert(
            self.pki / "admin.crt", ca.issue("fabkube-admin", admin.public_key(), tls=True, org="system:masters")
        )
        sa = new_key()
        write_key(self.pki / "sa.key", sa)
        (self.pki / "sa.pub").write_bytes(
            sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        self.kubeconfig_for("admin", self.kubeconfig)

    def kubeconfig_for(self, user: str, path: Path) -> Path:
        """A kubeconfig for the client pair pki/USER.{crt,key}, trusting the cluster CA (mode 0600)."""
        b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "fabkube-sim",
            "clusters": [
                {
                    "name": "fabkube-sim",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(self.pki / "fabkube-sim-ca-cert.pem"),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(self.pki / f"{user}.crt"),
                        "client-key-data": b64(self.pki / f"{user}.key"),
                    },
                }
            ],
            "contexts": [{"name": "fabkube-sim", "context": {"cluster": "fabkube-sim", "user": user}}],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    # ------------------------------------------------------------ components
    def components(self) -> list[Component]:
        b = self.build.bin
        kc, pki, p = str(self.kubeconfig), self.pki, self.ports
        comps = [
            (
                "etcd",
                [
                    str(b / "etcd"),
                    f"--data-dir={self.places.data_dir('etcd')}",
                    f"--listen-client-url=http://{HOST}:{p['etcd']}",
                    f"--listen-peer-url=http://{HOST}:{p['etcd-peer']}",
                ],
                p["etcd"],
            ),
            (
                "kube-apiserver",
                [
                    str(b / "kube-apiserver"),
                    f"--etcd-servers=http://{HOST}:{p['etcd']}",
                    f"--bind-address={self.api_host}",
                    f"--advertise-address={self.api_host}",
                    f"--secure-port={p['apiserver']}",
                    f"--tls-cert-file={pki / 'apiserver.crt'}",
                    f"--tls-private-key-file={pki / 'apiserver.key'}",
                    f"--client-ca-file={pki / 'fabkube-sim-ca-cert.pem'}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={pki / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki / 'sa.key'}",
                    "--service-cluster-ip-range=10.96.0.0/16",
                    "--authorization-mode=RBAC",
                    "--endpoint-reconciler-type=none",
                    "--enable-priority-and-fairness=false",
                    "--profiling=false",
                ],
                p["apiserver"],
            ),
            (
                "kube-controller-manager",
                [
                    str(b / "kube-controller-manager"),
                    f"--kubeconfig={kc}",
                    f"--authentication-kubeconfig={kc}",
                    f"--authorization-kubeconfig={kc}",
                    "--leader-elect=false",
                    f"--bind-address={HOST}",
                    f"--secure-port={p['controller-manager']}",
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={pki / 'fabkube-sim-ca-cert.pem'}",
                    "--controllers=*,-nodeipam",
                    "--profiling=false",
                ],
                p["controller-manager"],
            ),
            (
                "kube-scheduler",
                [
                    str(b / "kube-scheduler"),
                    f"--kubeconfig={kc}",
                    f"--authentication-kubeconfig={kc}",
                    f"--authorization-kubeconfig={kc}",
                    "--leader-elect=false",
                    f"--bind-address={HOST}",
                    f"--secure-port={p['scheduler']}",
                    "--profiling=false",
                ],
                p["scheduler"],
            ),
            (
                "kwok",
                [
                    str(b / "kwok"),
                    f"--kubeconfig={kc}",
                    f"--config={self.root / 'kwok.yaml'}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    "--node-lease-duration-seconds=40",
                    "--cidr=10.244.0.1/16",
                    "--node-ip=10.0.0.1",
                    f"--server-address={HOST}:{p['kwok']}",
                ],
                p["kwok"],
            ),
        ]
        hosts = {"kube-apiserver": self.api_host}
        return [
            Component(
                name,
                "k8s",
                cmd,
                {},
                {},
                [Endpoint(hosts.get(name, HOST), port)],
                Health("tcp", Endpoint(hosts.get(name, HOST), port)),
                self.root,
            )
            for name, cmd, port in comps
        ]

    def _kwok_config(self) -> None:
        """kwok's own fast node and pod stages (from its module), minus pod-complete for Job pods."""
        stages = self.build.kwok_stage_dir
        docs = []
        for rel in (
            "node/fast/node-initialize.yaml",
            "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
            "pod/fast/pod-ready.yaml",
            "pod/fast/pod-delete.yaml",
        ):
            docs.append((stages / rel).read_text())
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "kwok.yaml").write_text("\n---\n".join(d.strip() for d in docs) + "\n")

    # ------------------------------------------------------------ up / down
    def up(self, nodes: list[SimNode], progress=lambda _m: None) -> Path:
        self.build.require()
        self.root.mkdir(parents=True, exist_ok=True)
        self._certs()
        self._kwok_config()
        comps = self.components()
        busy = [str(c.ports[0]) for c in comps if not self.supervisor.running(c.name) and not port_free(c.ports[0])]
        if busy:
            raise RuntimeFailure(f"ports {', '.join(busy)} needed by the simulated cluster are in use")
        try:
            for comp in comps:
                if not self.supervisor.running(comp.name):
                    progress(f"starting {comp.name}")
                    self.supervisor.start(comp)
                self._wait(
                    comp, self._api_ready if comp.name == "kube-apiserver" else (lambda c=comp: tcp_open(c.ports[0]))
                )
            progress("creating nodes, DNS, storage")
            self._seed_objects(nodes)
        except BaseException:
            self.down()
            raise
        return self.kubeconfig

    def _wait(self, comp: Component, probe, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            if self.supervisor.exited(comp.name):
                log = self.places.log(comp.name)
                raise RuntimeFailure(f"{comp.name} exited while starting{tail(log)}", log)
            time.sleep(0.5)
        raise RuntimeFailure(f"{comp.name} not ready within {int(timeout)}s", self.places.log(comp.name))

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "fabkube-sim-ca-cert.pem"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _api_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.server}/readyz", context=self._ssl(), timeout=3) as r:
                return r.status == 200
        except OSError:
            return False

    def _seed_objects(self, nodes: list[SimNode]) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        core, storage, apps = client.CoreV1Api(api), client.StorageV1Api(api), client.AppsV1Api(api)
        for n in nodes:
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": n.name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {
                        "kubernetes.io/hostname": n.name,
                        "kubernetes.io/os": "linux",
                        "type": "kwok",
                        **n.labels,
                    },
                },
                "spec": {"taints": n.taints},
                "status": {
                    "capacity": {"cpu": n.cpu, "memory": n.memory, "pods": "110"},
                    "allocatable": {"cpu": n.cpu, "memory": n.memory, "pods": "110"},
                    # As if the chaincode images the tests' specs use had been loaded (preflight asks).
                    "images": [{"names": [i], "sizeBytes": 1} for i in PRELOADED_IMAGES],
                },
            }
            _create(lambda b=body: core.create_node(b))
        # Cluster DNS as kubeadm sets it up: a kube-dns Service backed by coredns pods (kwok runs them).
        labels = {"k8s-app": "kube-dns"}
        _create(
            lambda: core.create_namespaced_service(
                "kube-system",
                {
                    "metadata": {"name": "kube-dns", "labels": labels},
                    "spec": {
                        "selector": labels,
                        "clusterIP": "10.96.0.10",
                        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
                    },
                },
            )
        )
        _create(
            lambda: apps.create_namespaced_deployment(
                "kube-system",
                {
                    "metadata": {"name": "coredns", "labels": labels},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "tolerations": [{"operator": "Exists"}],
                                "containers": [
                                    {
                                        "name": "coredns",
                                        "image": "registry.k8s.io/coredns/coredns:v1.12.0",
                                        "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}},
                                    }
                                ],
                            },
                        },
                    },
                },
            )
        )
        # Storage: a default class and a pool of volumes the PV controller binds claims to.
        _create(
            lambda: storage.create_storage_class(
                {
                    "metadata": {"name": "sim", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "provisioner": "kubernetes.io/no-provisioner",
                    "volumeBindingMode": "Immediate",
                }
            )
        )
        for i in range(40):
            _create(
                lambda i=i: core.create_persistent_volume(
                    {
                        "metadata": {"name": f"sim-pv-{i:02d}"},
                        "spec": {
                            "capacity": {"storage": "10Gi"},
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": "sim",
                            "persistentVolumeReclaimPolicy": "Delete",
                            "csi": {"driver": "sim.fabkube.local", "volumeHandle": f"sim-{i}"},
                        },
                    }
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = [
                n
                for n in core.list_node().items
                if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            ]
            eps = core.read_namespaced_endpoints("kube-dns", "kube-system") if ready else None
            if len(ready) == len(nodes) and eps is not None and eps.subsets:
                return
            time.sleep(1)
        raise RuntimeFailure("simulated nodes or cluster DNS not ready within 60s", self.places.log("kwok"))

    def down(self, purge: bool = False) -> None:
        self.supervisor.stop_many(list(reversed(self.ORDER)), timeout=15)
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)


def _create(call) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        call()
    except ApiException as exc:
        if exc.status != 409:  # already there: `up` is idempotent
            raise RuntimeFailure(f"creating a simulated cluster object failed: {exc.reason}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.k8s_sim", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("build", help="build the control plane and kwok into the toolchain cache (once per version)")
    up = sub.add_parser("up", help="start the control plane and kwok nodes")
    up.add_argument("dir", type=Path)
    up.add_argument("--nodes", choices=sorted(NODE_SETS), default="seed")
    up.add_argument("--base-port", type=int, default=18400)
    down = sub.add_parser("down", help="stop everything (and --purge the directory)")
    down.add_argument("dir", type=Path)
    down.add_argument("--purge", action="store_true")
    down.add_argument("--base-port", type=int, default=18400)
    args = parser.parse_args(argv)
    if args.verb == "build":
        seconds = K8sSimBuild().install(lambda m: print(m, file=sys.stderr))
        print(f"test control plane: {f'built in {seconds:.0f}s' if seconds else 'cached'}", file=sys.stderr)
        return 0
    sim = SimCluster(args.dir, args.base_port)
    try:
        if args.verb == "up":
            print(sim.up(NODE_SETS[args.nodes], progress=lambda m: print(m, file=sys.stderr)))
        else:
            sim.down(args.purge)
    except RuntimeFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
