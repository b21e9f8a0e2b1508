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
