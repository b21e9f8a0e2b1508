"""Builds the real test nodes need beyond Kubernetes itself: containerd and CoreDNS, from the Go
module proxy into the toolchain cache, once per version (test tooling, not the product).

containerd 2.1.4: kubelet 1.36 accepts it and it reports its cgroup driver itself (1.6 from
Debian is end-of-life). `go install ...@v2.1.4` is refused (its go.mod has exclude directives),
so its commands are built inside a copy of the downloaded module. runc and the CNI plugins come
from Debian (runc 1.1.5, containernetworking-plugins 1.1.1).
CoreDNS 1.12.4: the cluster DNS kubeadm installs; built as a dependency of a stub module.
kube-router 2.1.0: the NetworkPolicy enforcer, run in firewall-only mode (iptables + ipset). It is the
only version the module proxy serves; its advisories concern the service proxy and BGP router,
which stay off. kube-network-policies, the other candidate served, needs NFQUEUE, which this
kernel lacks (`nft add rule ... queue` is refused).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.toolchain import Toolchain, sha256_file

CONTAINERD_VERSION = "2.1.4"
COREDNS_VERSION = "1.12.4"
KUBE_ROUTER_VERSION = "2.1.0"


@dataclass(frozen=True)
class GoBuild:
    name: str
    module: str
    version: str
    packages: tuple[str, ...]  # relative to the module's source (in_module) or import paths
    commands: tuple[str, ...]
    ldflags: str
    tags: str = ""
    in_module: bool = False  # build inside a copy of the module's own source

    def dir(self, tools: Toolchain) -> Path:
        return tools.root / f"{self.name}-{self.version}"

    def bin(self, tools: Toolchain) -> Path:
        return self.dir(tools) / "bin"

    def ready(self, tools: Toolchain) -> bool:
        stamp = tools.stamp(self.dir(tools))
        if not stamp or stamp.get("version") != self.version:
            return False
        b = self.bin(tools)
        return all((b / c).is_file() and sha256_file(b / c) == stamp["sha256"].get(c) for c in self.commands)

    def install(self, tools: Toolchain, progress: Callable[[str], None]) -> float:
        if self.ready(tools):
            return 0.0
        start = time.monotonic()
        progress(f"building {self.name} {self.version} (first time: minutes)")
        go = tools._check_go()
        env = {**tools._go_env(), "CGO_ENABLED": "0"}
        log = tools.logs / f"{self.name}-{self.version}-build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        work = self.dir(tools) / "src"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with log.open("w") as fh:

            def run(cmd: list[str], cwd: Path) -> str:
                proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=fh, text=True)
                if proc.returncode != 0:
                    raise RuntimeFailure(f"building {self.name} {self.version} failed", log)
                return proc.stdout

            (work / "go.mod").write_text(f"module fabkube.local/{self.name}build\n\ngo 1.26.0\n")
            if self.in_module:
                info = json.loads(run([go, "mod", "download", "-json", f"{self.module}@v{self.version}"], work))
                src = work / "module"
                shutil.copytree(info["Dir"], src)
                subprocess.run(["chmod", "-R", "u+w", str(src)], check=True)
            else:
                (work / "tools.go").write_text(f'package tools\n\nimport _ "{self.module}"\n')
                run([go, "get", f"{self.module}@v{self.version}"], work)
                src = work
            staging = self.dir(tools) / "bin.partial"
            shutil.rmtree(staging, ignore_errors=True)
            cmd = [go, "build", "-trimpath", "-ldflags", self.ldflags, "-o", f"{staging}/"]
            if self.tags:
                cmd += ["-tags", self.tags]
            run([*cmd, *self.packages], src)
        tools.publish(staging, self.bin(tools), self.commands, {"version": self.version})
        shutil.rmtree(work, ignore_errors=True)
        return time.monotonic() - start


CONTAINERD = GoBuild(
    "containerd",
    "github.com/containerd/containerd/v2",
    CONTAINERD_VERSION,
    ("./cmd/containerd", "./cmd/containerd-shim-runc-v2", "./cmd/ctr"),
    ("containerd", "containerd-shim-runc-v2", "ctr"),
    f"-s -w -X github.com/containerd/containerd/v2/version.Version=v{CONTAINERD_VERSION}",
    tags="no_btrfs no_devmapper no_zfs",
    in_module=True,
)
COREDNS = GoBuild(
    "coredns",
    "github.com/coredns/coredns",
    COREDNS_VERSION,
    ("github.com/coredns/coredns",),
    ("coredns",),
    "-s -w",
)
KUBE_ROUTER = GoBuild(
    "kube-router",
    "github.com/cloudnativelabs/kube-router/v2",
    KUBE_ROUTER_VERSION,
    ("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",),
    ("kube-router",),
    f"-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v{KUBE_ROUTER_VERSION}",
)
NODE_BUILDS = (CONTAINERD, COREDNS, KUBE_ROUTER)
