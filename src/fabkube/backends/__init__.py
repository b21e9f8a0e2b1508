"""Targets behind one Network interface (base.py): local processes (local/) and Kubernetes (k8s/).

A new target is a new subpackage with a Network subclass, named in TARGETS and in `open_network`.
"""

from __future__ import annotations

import json
from pathlib import Path

from fabkube.backends.base import Network
from fabkube.spec import LoadedSpec, load_spec

TARGETS = ("local", "k8s")


def new_network(
    loaded: LoadedSpec,
    target: str,
    workdir: Path,
    *,
    spec_dir: Path | None = None,
    context: str | None = None,
    kubeconfig: Path | None = None,
) -> Network:
    """A network to bring up from a spec on `target`."""
    if target == "k8s":
        from fabkube.backends.k8s.network import K8sNetwork

        return K8sNetwork(loaded, workdir, context, kubeconfig)
    from fabkube.backends.local.network import LocalNetwork

    return LocalNetwork(loaded, workdir, spec_dir=spec_dir)


def open_network(workdir: Path) -> Network:
    """The network a work dir holds: local processes or, when target.json says so, a Kubernetes deployment."""
    loaded = load_spec(workdir / "spec.yaml")
    target = workdir / "target.json"
    if target.is_file():
        info = json.loads(target.read_text())
        kubeconfig = Path(info["kubeconfig"]) if info.get("kubeconfig") else None
        return new_network(loaded, "k8s", workdir, context=info.get("context"), kubeconfig=kubeconfig)
    return new_network(loaded, "local", workdir)


def migration_host(net: Network, report):
    """The network as a migration of its ordering type drives it (fabkube.migration.host), on its target."""
    if net.target == "k8s":
        from fabkube.backends.k8s.migration import K8sMigrationHost

        return K8sMigrationHost(net, report)  # type: ignore[arg-type]
    from fabkube.backends.local.migration import LocalMigrationHost

    return LocalMigrationHost(net, report)  # type: ignore[arg-type]


def upgrade_host(net: Network, report):
    """The network as an upgrade of its Fabric binaries drives it (fabkube.migration.host), on its target."""
    if net.target == "k8s":
        from fabkube.backends.k8s.upgrade import K8sUpgradeHost

        return K8sUpgradeHost(net, report)  # type: ignore[arg-type]
    from fabkube.backends.local.upgrade import LocalUpgradeHost

    return LocalUpgradeHost(net, report)  # type: ignore[arg-type]
