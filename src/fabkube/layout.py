"""Every path under a network's work dir, in one place (like nwo's PeerDir/OrdererConfigPath)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fabkube.consensus.model import TlsPair
from fabkube.crypto import msp
from fabkube.topology import ChaincodeInfo, ChannelInfo, OrdererNode, Org, PeerNode, Topology


def fabkube_home() -> Path:
    return Path(os.environ.get("FABKUBE_HOME") or Path.home() / ".fabkube").expanduser()


def default_workdir(name: str) -> Path:
    return fabkube_home() / "networks" / name


MARKER = ".fabkube"  # in every work dir fabkube made: what `down --purge` may delete whole
# What fabkube writes in a work dir: all `down --purge` deletes from a directory it did not make.
WORKDIR_ENTRIES = (
    "crypto", "artifacts", "config", "nodes", "logs", "builders", "backups", "configtx.yaml", "spec.yaml",
    "state.json", "target.json", "applied.json", "applied-kafka.json", "applied-spec.yaml", "applied-spec.tmp",
    "migrate.lock", "manifests", MARKER,
)  # fmt: skip


def is_workdir(path: Path) -> bool:
    """Made by fabkube: its marker, or (a work dir from before the marker) a spec copy beside
    fabkube's state."""
    if (path / MARKER).is_file():
        return True
    return (path / "spec.yaml").is_file() and any((path / n).exists() for n in ("state.json", "target.json", "crypto"))


def claim_workdir(path: Path, name: str) -> None:
    """Make `path` a work dir: new, empty or fabkube's already; anything else is refused before a
    file is written (`up -w .` in a project would otherwise mix with it, and `down --purge` delete it)."""
    from fabkube.errors import UserError

    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: not a directory; give a new or empty directory for the work dir")
    if path.is_dir() and any(path.iterdir()) and not is_workdir(path):
        raise UserError(f"{path}: not empty and not a fabkube work dir; give a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKER
    if not marker.is_file():
        marker.write_text(f"fabkube work dir of network {name}\n")


def purge_workdir(path: Path) -> list[str]:
    """Delete a work dir fabkube made; from any other directory only what fabkube wrote there.
    Returns what is left behind (not fabkube's)."""
    import shutil

    if (path / MARKER).is_file():
        shutil.rmtree(path, ignore_errors=True)
        return []
    for name in WORKDIR_ENTRIES:
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()
    left = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    if not left and path.is_dir():
        path.rmdir()
    return left


@dataclass
class Layout:
    root: Path
    topo: Topology

    # ---- generated artifacts
    @property
    def crypto(self) -> Path:
        return self.root / "crypto"

    @property
    def configtx(self) -> Path:
        return self.root / "configtx.yaml"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def genesis_block(self) -> Path:
        return self.artifacts / "system-genesis.block"

    def channel_tx(self, ch: ChannelInfo | str) -> Path:
        return self.artifacts / f"{getattr(ch, 'name', ch)}.tx"

    def channel_block(self, ch: ChannelInfo | str) -> Path:
        return self.artifacts / f"{getattr(ch, 'name', ch)}.block"

    def anchors_tx(self, ch: ChannelInfo | str, org: Org) -> Path:
        return self.artifacts / f"{getattr(ch, 'name', ch)}-{org.name}-anchors.tx"

    @property
    def peer_core(self) -> Path:
        """The core.yaml peers on Kubernetes mount (Fabric's own, vm.endpoint empty)."""
        return self.root / "config" / "core.yaml"

    def collections_config(self, cc: ChaincodeInfo) -> Path:
        return self.artifacts / f"{cc.name}-{cc.sequence}-collections.json"

    def chaincode_package(self, cc: ChaincodeInfo, org: Org) -> Path:
        return self.artifacts / "chaincode" / f"{cc.label}-{org.name}.tar.gz"

    @property
    def spec_copy(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    # ---- crypto
    def org_dir(self, org: Org) -> Path:
        return msp.org_dir(self.crypto, org)

    def node_crypto(self, node: OrdererNode | PeerNode) -> Path:
        return msp.node_dir(self.crypto, node.org, node.fqdn)

    def node_msp(self, node: OrdererNode | PeerNode) -> Path:
        return self.node_crypto(node) / "msp"

    def node_tls(self, node: OrdererNode | PeerNode) -> Path:
        return self.node_crypto(node) / "tls"

    def admin_msp(self, org: Org) -> Path:
        return msp.user_dir(self.crypto, org, org.admin) / "msp"

    def admin_tls(self, org: Org) -> Path:
        """The admin's TLS client pair (client.crt, client.key)."""
        return msp.user_dir(self.crypto, org, org.admin) / "tls"

    def tls_pair(self, pair: TlsPair) -> Path:
        """The folder of a TLS pair the ordering type asked for (Kafka: the brokers')."""
        return msp.tls_pair_dir(self.crypto, pair)

    def chaincode_tls(self, cc: ChaincodeInfo, org: Org) -> Path:
        return msp.chaincode_tls_dir(self.crypto, org, cc.name)

    def tls_ca(self, org: Org) -> Path:
        return self.org_dir(org) / "tlsca" / f"{org.tlsca_name}-cert.pem"

    # ---- running components
    def node_dir(self, name: str) -> Path:
        return self.root / "nodes" / name

    def data_dir(self, name: str) -> Path:
        return self.node_dir(name) / "data"

    def config_dir(self, name: str) -> Path:
        return self.node_dir(name) / "config"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def builders(self) -> Path:
        return self.root / "builders"
