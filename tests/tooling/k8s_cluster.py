"""A Kubernetes test cluster whose pods really run: the test control plane plus real nodes.

Each node is isolated the way kind isolates its node containers, here with plain kernel
features: its own network namespace with an address on one host bridge (10.200.0.0/24), its own
containerd (2.1.4, runc from Debian) with its own root, state and socket, its own cgroup root, a
kubelet and a kube-proxy (iptables mode) of the control plane's release, and a CNI bridge for its
pod range 10.244.N.0/24. The host routes each pod range to its node. CoreDNS serves cluster.local
(and nothing else: it forwards nowhere), and a host-path provisioner binds PVCs of the default
StorageClass `fabkube-local` on the node the pod lands on (WaitForFirstConsumer).

Shaped like the user's cluster: hw1 carries the control-plane label and taint, hw2 is a worker,
each labelled type=hwN with 2 CPU / 4 GiB allocatable. Three nodes (hw1..hw3) for the ha spec.

    cd tests && python -m tooling.k8s_cluster up [--nodes N]   # prints `export KUBECONFIG=...`
    cd tests && python -m tooling.k8s_cluster down             # removes everything it started
(`./dev cluster up|down` runs these.) Root is needed: namespaces, mounts, cgroups, iptables.
All traffic stays on the bridge and inside the namespaces this creates; the API server reaches
kubelets by their bridge address only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from fabkube.components import Component, Health
from fabkube.crypto.certs import CA, new_key, write_cert, write_key
from fabkube.errors import RuntimeFailure, UserError
from fabkube.health import tcp_open
from fabkube.toolchain import Toolchain
from fabkube.toolchain.versions import FABRIC_VERSIONS
from fabkube.topology import Endpoint
from tooling.images import ImageSet
from tooling.k8s_sim import CONTROL_PLANE_TAINT, SimCluster
from tooling.k8s_sim_build import K8sSimBuild
from tooling.node_build import CONTAINERD, COREDNS, KUBE_ROUTER, NODE_BUILDS
from tooling.oci import archive_index, write_archive

BRIDGE = "fkbr0"
BRIDGE_IP = "10.200.0.1"
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
CLUSTER_DNS = "10.96.0.10"
NODE_CPU = 2
NODE_MEMORY_MIB = 4096
DEFAULT_ROOT = Path(os.environ.get("FABKUBE_CLUSTER_DIR", "/var/tmp/fabkube-cluster"))
CGROUP_V1 = Path("/sys/fs/cgroup")
STORAGE_CLASS = "fabkube-local"
MIRROR = "mirror.fabkube.test"  # a registry name nothing resolves: its images are only ever preloaded
PROVISIONER = "fabkube.local/host-path"

Progress = Callable[[str], None]
# Set machine-wide by `up` (ip_forward) or by kubelet (kernel defaults it wants); restored by `down`.
HOST_SYSCTLS = (
    "net.ipv4.ip_forward",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
FORWARD_GUARD = (
    "-I",
    "FORWARD",
    "-i",
    BRIDGE,
    "!",
    "-o",
    BRIDGE,
    "-m",
    "comment",
    "--comment",
    "fabkube-cluster",
    "-j",
    "DROP",
)


@dataclass(frozen=True)
class Node:
    index: int

    @property
    def name(self) -> str:
        return f"hw{self.index}"

    @property
    def ip(self) -> str:
        return f"10.200.0.{10 + self.index}"

    @property
    def netns(self) -> str:
        return f"fk-{self.name}"

    @property
    def veth(self) -> str:
        return f"fkv-{self.name}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def cgroup(self) -> str:
        return f"fk-{self.name}"

    @property
    def control_plane(self) -> bool:
        return self.index == 1


def _sh(*cmd: str, check: bool = True, replace_first: str | None = None) -> subprocess.CompletedProcess:
    """Run a command; `replace_first` puts that flag in place of the first argument (e.g. -C for -I)."""
    if replace_first:
        cmd = (cmd[0], replace_first, *cmd[1:])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeFailure(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc


def _in_ns(node: Node, *cmd: str) -> list[str]:
    # nsenter, not `ip netns exec`: the latter makes a mount namespace that hides kubelet's mounts.
    return ["nsenter", f"--net=/run/netns/{node.netns}", "--", *cmd]


class RealCluster(SimCluster):
    """The control plane of SimCluster on the host bridge, with real nodes instead of kwok."""

    ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "provisioner")

    def __init__(self, root: Path = DEFAULT_ROOT, base_port: int = 19700, tools: Toolchain | None = None):
        super().__init__(root, base_port, tools, api_host=BRIDGE_IP)

    # ------------------------------------------------------------ layout
    def node_dir(self, node: Node) -> Path:
        return self.root / "nodes" / node.name

    def socket(self, node: Node) -> Path:
        return self.node_dir(node) / "containerd.sock"

    @property
    def nodes_file(self) -> Path:
        return self.root / "nodes.json"

    def nodes(self) -> list[Node]:
        if not self.nodes_file.is_file():
            return []
        return [Node(i) for i in json.loads(self.nodes_file.read_text())]

    # ------------------------------------------------------------ certificates
    def _issue(self, name: str, cn: str, org: str | None = None) -> None:
        if (self.pki / f"{name}.crt").exists():
            return
        ca = CA.load(self.pki, "fabkube-sim-ca")
        key = new_key()
        write_key(self.pki / f"{name}.key", key)
        write_cert(self.pki / f"{name}.crt", ca.issue(cn, key.public_key(), tls=True, org=org))

    # ------------------------------------------------------------ control plane
    def components(self) -> list[Component]:
        comps = [c for c in super().components() if c.name != "kwok"]
        for c in comps:
            if c.name == "kube-apiserver":
                # Real nodes: the kubernetes Service's endpoint is the API server's bridge address.
                c.command = [a for a in c.command if not a.startswith("--endpoint-reconciler-type")]
                c.command += [
                    "--authorization-mode=Node,RBAC",
                    "--enable-admission-plugins=NodeRestriction",
                    # Kubelets by their bridge address, never by name through the machine's resolver.
                    "--kubelet-preferred-address-types=InternalIP",
                    f"--kubelet-client-certificate={self.pki / 'apiserver-kubelet-client.crt'}",
                    f"--kubelet-client-key={self.pki / 'apiserver-kubelet-client.key'}",
                    "--allow-privileged=true",
                ]
                c.command = [a for a in c.command if a != "--authorization-mode=RBAC"]
        tests_dir = Path(__file__).resolve().parent.parent
        prov = Component(
            "provisioner",
            "k8s",
            [sys.executable, "-m", "tooling.provisioner", str(self.kubeconfig), str(self.root / "volumes")],
            {"PYTHONPATH": str(tests_dir)},
            {},
            [],
            Health("tcp", Endpoint("127.0.0.1", 1)),
            tests_dir,
        )
        return [*comps, prov]

    def _certs(self) -> None:
        super()._certs()
        self._issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
        self._issue("kube-proxy", "system:kube-proxy")
        self._issue("kube-router", "system:kube-router")

    # ------------------------------------------------------------ host network
    @property
    def host_file(self) -> Path:
        return self.root / "host-settings.json"

    def _host_settings(self) -> None:
        """Record the machine-wide settings `up` changes (ours, and the kernel ones kubelet sets), once."""
        if not self.host_file.exists():
            self.host_file.write_text(json.dumps({k: _sysctl(k) for k in HOST_SYSCTLS}))

    def _restore_host_settings(self) -> None:
        if not self.host_file.exists():
            return
        for key, value in json.loads(self.host_file.read_text()).items():
            if value is not None:
                _sh("sysctl", "-qw", f"{key}={value}", check=False)
        self.host_file.unlink()

    def _host_network(self) -> None:
        if _sh("ip", "link", "show", BRIDGE, check=False).returncode != 0:
            _sh("ip", "link", "add", BRIDGE, "type", "bridge")
        _sh("ip", "addr", "replace", f"{BRIDGE_IP}/24", "dev", BRIDGE)
        _sh("ip", "link", "set", BRIDGE, "up")
        _sh("sysctl", "-qw", "net.ipv4.ip_forward=1")  # routes between the nodes' pod ranges
        # Nothing from the cluster is forwarded anywhere but back onto its bridge.
        if _sh("iptables", *FORWARD_GUARD[1:], check=False, replace_first="-C").returncode != 0:
            _sh("iptables", *FORWARD_GUARD)

    def _node_network(self, node: Node) -> None:
        if not Path(f"/run/netns/{node.netns}").exists():
            _sh("ip", "netns", "add", node.netns)
        if _sh("ip", "link", "show", node.veth, check=False).returncode != 0:
            _sh("ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
        _sh("ip", "link", "set", node.veth, "master", BRIDGE, "up")
        ns = ["ip", "-n", node.netns]
        _sh(*ns, "addr", "replace", f"{node.ip}/24", "dev", "eth0")
        _sh(*ns, "link", "set", "eth0", "up")
        _sh(*ns, "link", "set", "lo", "up")
        # No default route: a node reaches the bridge, the other nodes' pods and (DNAT'ed by
        # kube-proxy) Service addresses, and nothing else.
        for cidr in (POD_CIDR, SERVICE_CIDR):
            _sh(*ns, "route", "replace", cidr, "via", BRIDGE_IP)
        _sh("ip", "route", "replace", node.pod_cidr, "via", node.ip)
        for key, value in (("net.ipv4.ip_forward", "1"), ("net.bridge.bridge-nf-call-iptables", "1")):
            _sh(*_in_ns(node, "sysctl", "-qw", f"{key}={value}"), check=False)

    def _node_cgroups(self, node: Node) -> None:
        """The node's cgroup root in every v1 controller (kubelet checks them all)."""
        for ctrl in sorted(p for p in CGROUP_V1.iterdir() if p.is_dir() and p.name != "unified"):
            d = ctrl / node.cgroup
            d.mkdir(exist_ok=True)
            if ctrl.name == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((ctrl / f).read_text())

    # ------------------------------------------------------------ per node processes
    def _containerd_config(self, node: Node) -> Path:
        d = self.node_dir(node)
        cni = d / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "1.0.0",
            "name": "fabkube",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": node.pod_cidr}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(cni / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (cni / "net.d" / "10-fabkube.conflist").write_text(json.dumps(conflist, indent=1))
        runtime = "plugins.'io.containerd.cri.v1.runtime'"
        config = f"""version = 3
root = "{d / "containerd" / "root"}"
state = "{d / "containerd" / "state"}"
[grpc]
  address = "{self.socket(node)}"
[ttrpc]
  address = "{d / "containerd.ttrpc.sock"}"
[plugins.'io.containerd.internal.v1.opt']
  path = "{d / "containerd" / "opt"}"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[{runtime}]
  # The machine's bounding set lacks CAP_SYS_RESOURCE: runc may not raise oom_score_adj.
  restrict_oom_score_adj = true
  # Pod network namespaces under this node's state dir, not the machine's /run/netns.
  netns_mounts_under_state_dir = true
[{runtime}.containerd]
  default_runtime_name = "runc"
[{runtime}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{runtime}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which("runc") or "/usr/sbin/runc"}"
  Root = "{d / "runc"}"
  SystemdCgroup = false
[{runtime}.cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = "{cni / "net.d"}"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "registry.k8s.io/pause:3.10"
"""
        path = d / "containerd.toml"
        path.write_text(config)
        return path

    def _kubelet_config(self, node: Node) -> Path:
        d = self.node_dir(node)
        mem_total_mib = _mem_total_mib()
        eviction_mib = 100
        reserved = max(0, mem_total_mib - NODE_MEMORY_MIB - eviction_mib)
        cpus = os.cpu_count() or NODE_CPU
        (d / "resolv.conf").write_text("")  # pods with dnsPolicy Default get no resolver off the cluster
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": node.ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "fabkube-sim-ca-cert.pem")},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{node.cgroup}",
            "failCgroupV1": False,
            "failSwapOn": False,
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": "cluster.local",
            "resolvConf": str(d / "resolv.conf"),
            "containerRuntimeEndpoint": f"unix://{self.socket(node)}",
            "podLogsDir": str(d / "pod-logs"),
            "staticPodPath": "",
            "serializeImagePulls": False,
            # Every node sees the whole machine; reserve all but 4 GiB (and CPUs beyond 2).
            "systemReserved": {"memory": f"{reserved}Mi", **({"cpu": f"{cpus - NODE_CPU}"} if cpus > NODE_CPU else {})},
            "evictionHard": {
                "memory.available": f"{eviction_mib}Mi",
                "nodefs.available": "2%",
                "imagefs.available": "2%",
            },
            "imageGCHighThresholdPercent": 99,
            "imageGCLowThresholdPercent": 98,
            "maxPods": 60,
        }
        path = d / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def node_components(self, node: Node) -> list[Component]:
        d, b = self.node_dir(node), self.build.bin
        cbin = CONTAINERD.bin(self.tools)
        env = {"PATH": f"{cbin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
        self._issue(f"node-{node.name}", f"system:node:{node.name}", "system:nodes")
        kubelet_kc = self.kubeconfig_for(f"node-{node.name}", d / "kubelet.kubeconfig")
        proxy_kc = self.kubeconfig_for("kube-proxy", d / "kube-proxy.kubeconfig")
        router_kc = self.kubeconfig_for("kube-router", d / "kube-router.kubeconfig")
        labels = f"type={node.name}"
        kubelet = [
            str(b / "kubelet"),
            f"--config={self._kubelet_config(node)}",
            f"--kubeconfig={kubelet_kc}",
            f"--root-dir={d / 'kubelet'}",
            f"--cert-dir={d / 'kubelet-pki'}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.ip}",
            f"--node-labels={labels}",
            "--v=1",
        ]
        if node.control_plane:
            taint = CONTROL_PLANE_TAINT
            kubelet.append(f"--register-with-taints={taint['key']}=:{taint['effect']}")
        proxy = [
            str(b / "kube-proxy"),
            f"--kubeconfig={proxy_kc}",
            "--proxy-mode=iptables",
            f"--cluster-cidr={POD_CIDR}",
            f"--hostname-override={node.name}",
            "--conntrack-max-per-core=0",
            "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0",
            "--metrics-bind-address=127.0.0.1:10249",
            "--healthz-bind-address=127.0.0.1:10256",
        ]
        # NetworkPolicies enforced as on a real cluster: kube-router's firewall only (no routing, no
        # service proxy), no health or metrics port; NODE_NAME, as every node shares the host's name.
        router = [
            str(KUBE_ROUTER.bin(self.tools) / "kube-router"),
            f"--kubeconfig={router_kc}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--health-port=0",
        ]
        containerd = [str(cbin / "containerd"), f"--config={self._containerd_config(node)}"]
        none = Health("tcp", Endpoint("127.0.0.1", 1))
        return [
            Component(f"{node.name}-containerd", "node", _in_ns(node, *containerd), env, {}, [], none, d),
            Component(f"{node.name}-kubelet", "node", _in_ns(node, *kubelet), env, {}, [], none, d),
            Component(f"{node.name}-kube-proxy", "node", _in_ns(node, *proxy), env, {}, [], none, d),
            Component(
                f"{node.name}-kube-router",
                "node",
                _in_ns(node, *router),
                {**env, "NODE_NAME": node.name},
                {},
                [],
                none,
                d,
            ),
        ]

    def _start_node(self, node: Node, archives: list[Path], progress: Progress) -> None:
        comps = self.node_components(node)
        containerd, rest = comps[0], comps[1:]
        if not self.supervisor.running(containerd.name):
            progress(f"{node.name}: starting containerd")
            self.supervisor.start(containerd)
        self._wait(containerd, lambda: self._ctr_ok(node))
        for archive in archives:
            self._import(node, archive)
        self._mirror_tags(node, archives[-1])
        for comp in rest:
            if comp.name.endswith("-kube-router"):
                continue  # started once its node is registered (_start_enforcers)
            if not self.supervisor.running(comp.name):
                progress(f"{node.name}: starting {comp.name.split('-', 1)[1]}")
                self.supervisor.start(comp)

    def _start_enforcers(self, nodes: list[Node], progress: Progress) -> None:
        """kube-router on every node, once the node object exists (it reads the node's address at
        start); ready when its filter chain is in the node's iptables."""
        for node in nodes:
            comp = next(c for c in self.node_components(node) if c.name.endswith("-kube-router"))
            if not self.supervisor.running(comp.name):
                progress(f"{node.name}: starting kube-router (NetworkPolicy enforcement)")
                self.supervisor.start(comp)
        for node in nodes:
            comp = next(c for c in self.node_components(node) if c.name.endswith("-kube-router"))
            self._wait(
                comp,
                lambda n=node: _sh(*_in_ns(n, "iptables", "-S", "KUBE-ROUTER-FORWARD"), check=False).returncode == 0,
            )

    def _ctr(self, node: Node, *args: str) -> list[str]:
        return [str(CONTAINERD.bin(self.tools) / "ctr"), "--address", str(self.socket(node)), "-n", "k8s.io", *args]

    def _ctr_ok(self, node: Node) -> bool:
        return self.socket(node).exists() and _sh(*self._ctr(node, "version"), check=False).returncode == 0

    def load_images(self, archive: Path, progress: Progress = lambda _m: None) -> None:
        """Import an OCI archive into every node's containerd (what `kind load` does)."""
        for node in self.nodes():
            progress(f"{node.name}: importing {archive.name}")
            self._import(node, archive)

    def _import(self, node: Node, archive: Path) -> None:
        """`ctr images import`, unless the node already holds every image of the archive, same digest."""
        held = {}
        for line in _sh(*self._ctr(node, "images", "ls")).stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3:
                held[fields[0]] = fields[2]
        wanted = archive_index(archive)
        if wanted and all(held.get(ref) == digest for ref, digest in wanted.items()):
            return
        _sh(*self._ctr(node, "images", "import", "--platform", "linux/amd64", str(archive)))

    def load_chaincode_images(self, spec_path: Path, progress: Progress = lambda _m: None) -> list[str]:
        """Build each chaincode's image from `fabkube chaincode dockerfile`'s context; load it on every node."""
        from fabkube.backends.k8s.objects import image
        from fabkube.backends.k8s.render import write_chaincode_context
        from fabkube.spec import load_spec
        from tooling.dockerfile import build_chaincode_image
        from tooling.images import BaseLayer

        loaded = load_spec(spec_path)
        refs, images = [], []
        for cc in loaded.spec.chaincodes:
            ref = cc.image or image(loaded.spec, "chaincode", name=cc.name, version=cc.version)
            context = self.root / "chaincode" / cc.name
            shutil.rmtree(context, ignore_errors=True)
            write_chaincode_context(loaded, cc.name, context, spec_path.resolve().parent, ref)
            progress(f"building chaincode image {ref}")
            images.append(
                build_chaincode_image(context, ref, BaseLayer(self.tools), self.root / "images" / "cc", progress)
            )
            refs.append(ref)
        archive = write_archive(images, self.root / "images" / f"chaincode-{loaded.spec.name}.tar")
        self.load_images(archive, progress)
        self.wait_images_reported(refs)
        return refs

    def wait_images_reported(self, refs: list[str], timeout: float = 120) -> None:
        """Until every node's status lists the images (kubelets report them within about 30 s)."""
        client, api = self._api()
        core = client.CoreV1Api(api)
        deadline = time.monotonic() + timeout
        while True:
            missing = [
                (n.metadata.name, r)
                for n in core.list_node().items
                for r in refs
                if not any(r in (img.names or []) for img in n.status.images or [])
            ]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"images not reported by the kubelets within {int(timeout)}s: {missing}")
            time.sleep(2)

    # ------------------------------------------------------------ up
    def require_builds(self) -> None:
        self.build.require()
        for b in NODE_BUILDS:
            if not b.ready(self.tools):
                raise RuntimeFailure(f"{b.name} is not built: run `./dev cluster build`")
        for tool in ("runc", "nsenter", "iptables", "debootstrap", "ipset"):
            if not shutil.which(tool):
                raise RuntimeFailure(f"{tool} is not installed: `./dev cluster up` installs it")
        if not Path("/usr/lib/cni/bridge").is_file():
            raise RuntimeFailure("the CNI plugins are not installed (/usr/lib/cni): `./dev cluster up` installs them")

    def images(self, progress: Progress) -> list[Path]:
        images = ImageSet(self.tools, self.build.bin, COREDNS.bin(self.tools) / "coredns")
        out = self.root / "images"
        system = write_archive(images.system_images(), out / "system.tar")
        # Fabric 3's peer and orderer images too, when its binaries are built (`./dev test` builds them).
        more = tuple(t for v in FABRIC_VERSIONS if v != self.tools.fabric.version and not FABRIC_VERSIONS[v].unavailable
                     and (t := Toolchain(v)).fabric_ready())  # fmt: skip
        network = write_archive(images.network_images(progress, more), out / "network.tar")
        return [system, network]

    def _mirror_tags(self, node: Node, archive: Path) -> None:
        """The network images also under MIRROR: a spec with `kubernetes.images.registry: MIRROR`
        runs the same manifests with only the registry changed (the user's mirror)."""
        for ref in archive_index(archive):
            if ref.startswith("docker.io/"):
                _sh(*self._ctr(node, "images", "tag", "--force", ref, f"{MIRROR}/{ref.removeprefix('docker.io/')}"))

    def up_real(self, count: int, progress: Progress = lambda _m: None) -> Path:
        if os.geteuid() != 0:
            raise UserError("the test cluster needs root (network namespaces, mounts, cgroups)")
        if count < 1 or count > 9:
            raise UserError(f"--nodes {count}: allowed: 1 to 9")
        known = self.nodes()
        if known and len(known) != count:
            raise UserError(
                f"a cluster with {len(known)} nodes is up in {self.root}: `./dev cluster down` first to change it"
            )
        if (CGROUP_V1 / "cgroup.controllers").exists():
            raise UserError("this machine uses cgroup v2 only: the test cluster supports cgroup v1 hosts (this kind)")
        self.require_builds()
        nodes = [Node(i) for i in range(1, count + 1)]
        self.root.mkdir(parents=True, exist_ok=True)
        self.nodes_file.write_text(json.dumps([n.index for n in nodes]))
        try:
            progress("building images (Fabric, Kafka, ZooKeeper, CoreDNS, pause)")
            archives = self.images(progress)
            self._certs()
            self.kubeconfig_admin()
            self._host_settings()
            self._host_network()
            for node in nodes:
                self._node_network(node)
                self._node_cgroups(node)
            for comp in self.components():
                if not self.supervisor.running(comp.name):
                    progress(f"starting {comp.name}")
                    self.supervisor.start(comp)
                if comp.name == "kube-apiserver":
                    self._wait(comp, self._api_ready)
                elif comp.ports:
                    self._wait(comp, lambda c=comp: tcp_open(c.ports[0]))
            self._cluster_objects()
            for node in nodes:
                self._start_node(node, archives, progress)
            progress("waiting for nodes and cluster DNS")
            self._wait_ready(nodes)
            self._start_enforcers(nodes, progress)
        except BaseException:
            if not known:  # a failed first `up` leaves nothing behind; a failed re-`up` leaves the cluster be
                self.down_real()
            raise
        return self.kubeconfig

    def kubeconfig_admin(self) -> None:
        self.kubeconfig_for("admin", self.kubeconfig)

    def _api(self):
        from kubernetes import client, config

        return client, config.new_client_from_config(config_file=str(self.kubeconfig))

    def _cluster_objects(self) -> None:
        from tooling.cluster_addons import addon_objects

        _apply_all(self, addon_objects(STORAGE_CLASS, PROVISIONER, CLUSTER_DNS, COREDNS_IMAGE))

    def _wait_ready(self, nodes: list[Node], timeout: float = 240) -> None:
        client, api = self._api()
        core = client.CoreV1Api(api)
        deadline = time.monotonic() + timeout
        labelled: set[str] = set()
        while time.monotonic() < deadline:
            ready = {
                n.metadata.name
                for n in core.list_node().items
                if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            }
            for node in nodes:
                if node.control_plane and node.name in ready and node.name not in labelled:
                    # kubelets may not set node-role labels themselves (NodeRestriction).
                    core.patch_node(node.name, {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}})
                    labelled.add(node.name)
            dns = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
            dns_ready = any(
                all(cs.ready for cs in (p.status.container_statuses or [])) and p.status.container_statuses for p in dns
            )
            if ready >= {n.name for n in nodes} and dns_ready:
                return
            for name in (c for node in nodes for c in _node_processes(node)):
                if self.supervisor.state.processes.get(name) and self.supervisor.exited(name):
                    raise RuntimeFailure(f"{name} exited", self.places.log(name))
            time.sleep(2)
        raise RuntimeFailure(
            f"nodes or cluster DNS not ready within {int(timeout)}s (ready: {sorted(ready) or 'none'})",
            self.places.log(f"{nodes[0].name}-kubelet"),
        )

    def running(self) -> bool:
        """Every process of the control plane and of each node is alive."""
        names = [*self.ORDER, *(c for n in self.nodes() for c in _node_processes(n))]
        return bool(self.nodes()) and all(self.supervisor.running(n) for n in names)

    def ensure(self, count: int, progress: Progress = lambda _m: None) -> Path:
        """A healthy cluster of `count` nodes: reuse one, or clear leftovers (another size, dead
        processes after a reboot or a killed run) and start afresh."""
        if self.nodes() and (len(self.nodes()) != count or not self.running()):
            progress("clearing a previous test cluster")
            self.down_real(progress)
        return self.up_real(count, progress)

    def for_tests(self, count: int):
        """A module fixture's body: the cluster up for the module's tests, removed after them."""
        start = time.monotonic()
        self.ensure(count, progress=print)
        print(f"{count}-node cluster up in {time.monotonic() - start:.0f}s")
        before = json.loads(self.host_file.read_text()) if self.host_file.exists() else {}
        try:
            yield self
        finally:
            self.down_real()
            left = self.leftovers(before)
            assert not left, f"down left behind: {left}"

    def leftovers(self, settings: dict[str, str | None]) -> list[str]:
        """What `down` should have removed or restored but did not."""
        left = [f"netns {p.name}" for p in Path("/run/netns").glob("fk-*")] if Path("/run/netns").is_dir() else []
        left += [f"cgroup {p}" for p in CGROUP_V1.glob("*/fk-hw*")]
        if _sh("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            left.append(f"bridge {BRIDGE}")
        if "fabkube-cluster" in _sh("iptables", "-S", "FORWARD").stdout:
            left.append("FORWARD guard")
        mounts = Path("/proc/self/mounts").read_text()
        if str(self.root) in mounts:
            left.append("mounts under the cluster dir")
        left += [f"sysctl {k}={_sysctl(k)} (was {v})" for k, v in settings.items() if _sysctl(k) != v]
        return left

    # ------------------------------------------------------------ down
    def down_real(self, progress: Progress = lambda _m: None) -> None:
        nodes = self.nodes() or [Node(i) for i in range(1, 10) if Path(f"/run/netns/fk-hw{i}").exists()]
        names = [c for n in nodes for c in _node_processes(n)[1:]]
        self.supervisor.stop_many(names, timeout=15)
        for node in nodes:
            progress(f"{node.name}: stopping pods")
            _kill_cgroup(node.cgroup)
        self.supervisor.stop_many([f"{n.name}-containerd" for n in nodes], timeout=10)
        for node in nodes:
            _kill_shims(str(self.node_dir(node)))
        self.supervisor.stop_many(list(reversed(self.ORDER)), timeout=15)
        _unmount_under(self.root)
        for node in nodes:
            _sh("ip", "route", "del", node.pod_cidr, check=False)
            _sh("ip", "link", "del", node.veth, check=False)
            _sh("ip", "netns", "del", node.netns, check=False)
            _remove_cgroup(node.cgroup)
        _sh("ip", "link", "del", BRIDGE, check=False)
        while _sh("iptables", *FORWARD_GUARD[1:], check=False, replace_first="-D").returncode == 0:
            pass
        self._restore_host_settings()
        if self.nodes_file.exists():
            self.nodes_file.unlink()
        # Everything but the built images and PKI goes: the next `up` starts a fresh cluster.
        for sub in ("nodes", "data", "volumes", "logs", "state.json"):
            p = self.root / sub
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()


COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.12.4"


def _apply_all(cluster: RealCluster, objects: list[dict]) -> None:
    """Create what is missing; leave what exists (a second `up` changes nothing)."""
    from kubernetes import config, dynamic
    from kubernetes.dynamic.exceptions import NotFoundError

    api = dynamic.DynamicClient(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    for obj in objects:
        res = api.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj["metadata"]
        try:
            res.get(name=meta["name"], namespace=meta.get("namespace"))
        except NotFoundError:
            res.create(body=obj, namespace=meta.get("namespace"))


def _node_processes(node: Node) -> list[str]:
    """Names of a node's processes, in start order (containerd first)."""
    return [f"{node.name}-{p}" for p in ("containerd", "kubelet", "kube-proxy", "kube-router")]


def _sysctl(key: str) -> str | None:
    try:
        return Path("/proc/sys", *key.split(".")).read_text().strip()
    except OSError:
        return None


def _mem_total_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeFailure("cannot read MemTotal from /proc/meminfo")


def _kill_cgroup(name: str) -> None:
    """SIGKILL every process in the node's cgroup tree (the pods' processes), then wait."""
    root = CGROUP_V1 / "pids" / name
    if not root.is_dir():
        return
    for _ in range(50):
        pids = _cgroup_pids(root)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def _cgroup_pids(root: Path) -> set[int]:
    """Every pid in a cgroup tree. Containers exit and containerd removes their cgroups while
    we walk, so a directory or file that vanishes is skipped, not an error."""
    pids: set[int] = set()
    for dirpath, _dirs, files in os.walk(root):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in Path(dirpath, "cgroup.procs").read_text().split())
    return pids


def _kill_shims(node_dir: str) -> None:
    """containerd's shims of this node outlive it (they re-parent): SIGKILL them."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and any(node_dir.encode() in a for a in cmdline):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _unmount_under(root: Path) -> None:
    prefix = str(root.resolve())
    for _ in range(3):
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        mine = sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True)
        if not mine:
            return
        for m in mine:
            subprocess.run(["umount", "-l", m], capture_output=True)


def _remove_cgroup(name: str) -> None:
    for ctrl in CGROUP_V1.iterdir():
        d = ctrl / name
        if not d.is_dir():
            continue
        # Deepest first; os.walk skips what vanishes while it walks (rglob raised on it).
        for dirpath, _dirs, _files in os.walk(d, topdown=False):
            if dirpath != str(d):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        with contextlib.suppress(OSError):
            d.rmdir()


def build(progress: Progress) -> dict[str, float]:
    tools = Toolchain()
    times = {"kubernetes": K8sSimBuild(tools).install(progress)}
    for b in NODE_BUILDS:
        times[b.name] = b.install(tools, progress)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.k8s_cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("build", help="build Kubernetes, containerd and CoreDNS into the toolchain cache (once)")
    up = sub.add_parser("up", help="start the control plane and N real nodes (idempotent)")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes, hw1..hwN (default 2; 3 for ha)")
    sub.add_parser("down", help="stop and remove everything the cluster started (idempotent)")
    cc = sub.add_parser("chaincode", help="build a spec's chaincode images and load them on every node")
    cc.add_argument("spec", type=Path)
    args = parser.parse_args(argv)
    say = lambda m: print(f"== {m}", file=sys.stderr)  # noqa: E731
    try:
        if args.verb == "build":
            times = build(say)
            say(", ".join(f"{k} {f'built in {v:.0f}s' if v else 'cached'}" for k, v in times.items()))
            return 0
        cluster = RealCluster(DEFAULT_ROOT)  # one per machine: bridge, namespaces and addresses are fixed
        if args.verb == "up":
            start = time.monotonic()
            kubeconfig = cluster.up_real(args.nodes, say)
            say(f"cluster up with {args.nodes} nodes in {time.monotonic() - start:.0f}s")
            print(f"export KUBECONFIG={kubeconfig}")
        elif args.verb == "chaincode":
            for ref in cluster.load_chaincode_images(args.spec.resolve(), say):
                print(ref)
        else:
            cluster.down_real(say)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # API or OS errors: one line, with where to look
        logs = DEFAULT_ROOT / "logs"
        print(f"error: {type(exc).__name__}: {str(exc)[:300]} (logs in {logs})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
