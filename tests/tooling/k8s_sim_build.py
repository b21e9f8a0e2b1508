"""Build the test Kubernetes (kube-apiserver, controller-manager, scheduler, kwok, embedded etcd, and
for real nodes kubelet, kube-proxy and a pause program) from the Go module proxy into the toolchain
cache, once per version (test tooling, not the product)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.toolchain import Toolchain, sha256_file

# kwok 0.8.0 is built against the Kubernetes 0.36 libraries, so the control plane is 1.36.
KUBERNETES_VERSION = "1.36.3"
KWOK_VERSION = "0.8.0"
ETCD_VERSION = "3.6.8"  # the etcd server module Kubernetes 1.36.3 pins; k8s-sim/go.mod
K8S_SIM_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "etcd",
    "kubelet",
    "kube-proxy",
    "pause",
)
SOURCE = Path(__file__).parent / "k8s-sim"


class K8sSimBuild:
    def __init__(self, tools: Toolchain | None = None):
        self.tools = tools or Toolchain()

    @property
    def dir(self) -> Path:
        return self.tools.root / f"k8s-sim-{KUBERNETES_VERSION}-kwok-{KWOK_VERSION}"

    @property
    def bin(self) -> Path:
        return self.dir / "bin"

    @property
    def kwok_stage_dir(self) -> Path:
        """kwok's stage definitions, copied from its module at build time."""
        return self.dir / "kwok-stages"

    def ready(self) -> bool:
        stamp = self.tools.stamp(self.dir)
        if not stamp or stamp.get("kubernetes") != KUBERNETES_VERSION or stamp.get("kwok") != KWOK_VERSION:
            return False
        return all(
            (self.bin / c).is_file() and sha256_file(self.bin / c) == stamp["sha256"].get(c) for c in K8S_SIM_COMMANDS
        )

    def require(self) -> K8sSimBuild:
        if not self.ready():
            raise RuntimeFailure("the test control plane is not built: run `./dev test` (or `./dev cluster build`)")
        return self

    def install(self, progress: Callable[[str], None] = lambda _m: None) -> float:
        """Build everything (0 s when the cache already holds this version)."""
        if self.ready():
            return 0.0
        start = time.monotonic()
        progress(
            f"building Kubernetes {KUBERNETES_VERSION} control plane and kwok {KWOK_VERSION} (first time: minutes)"
        )
        log = self.tools.logs / "k8s-sim-build.log"
        src = self.dir / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(SOURCE, src)
        staging = self.dir / "bin.partial"
        packages = [
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes/cmd/kube-scheduler",
            "sigs.k8s.io/kwok/cmd/kwok",
            "./cmd/etcd",
            "k8s.io/kubernetes/cmd/kubelet",
            "k8s.io/kubernetes/cmd/kube-proxy",
            "./cmd/pause",
        ]
        go = self.tools.go_build(src, packages, f"-s -w {_version_flags()}", log, staging)
        kwok_dir = self.tools.module_dir(go, src, "sigs.k8s.io/kwok")
        shutil.rmtree(self.kwok_stage_dir, ignore_errors=True)
        shutil.copytree(kwok_dir / "kustomize" / "stage", self.kwok_stage_dir)
        self.tools.publish(
            staging, self.bin, K8S_SIM_COMMANDS, {"kubernetes": KUBERNETES_VERSION, "kwok": KWOK_VERSION}
        )
        return time.monotonic() - start


def _version_flags() -> str:
    """-X flags so the binaries report v1.36.3, not v0.0.0-master."""
    major, minor, _ = KUBERNETES_VERSION.split(".")
    return " ".join(
        f"-X {pkg}.{k}={v}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for k, v in (
            ("gitVersion", f"v{KUBERNETES_VERSION}"),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    )
