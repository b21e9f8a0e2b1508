"""Typed `peer` command lines: one small value per command, its flags built in one place.

The local executor runs `peer <args>`; the Kubernetes Job script renders the same args; neither
builds flags itself (as Fabric's integration/nwo/commands keeps invocations apart from running).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OrdererFlags:
    address: str
    ca_file: str | None = None  # TLS on when set

    def args(self) -> list[str]:
        tls = ["--tls", "--cafile", self.ca_file] if self.ca_file else []
        return ["-o", self.address, *tls]


@dataclass(frozen=True)
class PeerTarget:
    """One endorsing peer for invoke and commit (--peerAddresses, --tlsRootCertFiles)."""

    address: str
    tls_root: str | None = None

    def args(self) -> list[str]:
        return ["--peerAddresses", self.address, *(["--tlsRootCertFiles", self.tls_root] if self.tls_root else [])]


def _targets(peers: tuple[PeerTarget, ...]) -> list[str]:
    return [a for p in peers for a in p.args()]


def ctor(args: list[str] | tuple[str, ...]) -> str:
    """The -c argument: {"Args": [...]}."""
    return json.dumps({"Args": list(args)})


@dataclass(frozen=True)
class ChannelCreate:
    channel: str
    tx_file: str
    output_block: str
    orderer: OrdererFlags

    def args(self) -> list[str]:
        # The orderer may take longer than the CLI's default 10 s to start a Kafka chain on a busy node.
        args = ["channel", "create", "-c", self.channel, "-f", self.tx_file, "--outputBlock", self.output_block]
        return [*args, "--timeout", "60s", *self.orderer.args()]


@dataclass(frozen=True)
class ChannelFetch:
    block: str  # "0", "newest", "config" ...
    output: str
    channel: str
    orderer: OrdererFlags

    def args(self) -> list[str]:
        return ["channel", "fetch", self.block, self.output, "-c", self.channel, *self.orderer.args()]


@dataclass(frozen=True)
class ChannelJoin:
    block_file: str

    def args(self) -> list[str]:
        return ["channel", "join", "-b", self.block_file]


@dataclass(frozen=True)
class ChannelInfo:
    channel: str

    def args(self) -> list[str]:
        return ["channel", "getinfo", "-c", self.channel]


@dataclass(frozen=True)
class ChannelUpdate:
    channel: str
    tx_file: str
    orderer: OrdererFlags

    def args(self) -> list[str]:
        return ["channel", "update", "-c", self.channel, "-f", self.tx_file, *self.orderer.args()]


@dataclass(frozen=True)
class Definition:
    """A chaincode definition as approve and commit state it (V2_5 lifecycle)."""

    channel: str
    name: str
    version: str
    sequence: int
    init_required: bool = False
    signature_policy: str | None = None
    collections_config: str | None = None  # the JSON file of private data collections

    def args(self) -> list[str]:
        flags = ["--channelID", self.channel, "--name", self.name, "--version", self.version]
        flags += ["--sequence", str(self.sequence)]
        if self.init_required:
            flags.append("--init-required")
        if self.signature_policy:
            flags += ["--signature-policy", self.signature_policy]
        if self.collections_config:
            flags += ["--collections-config", self.collections_config]
        return flags


@dataclass(frozen=True)
class ChaincodeInstall:
    package_file: str

    def args(self) -> list[str]:
        return ["lifecycle", "chaincode", "install", self.package_file]


@dataclass(frozen=True)
class ChaincodeQueryInstalled:
    def args(self) -> list[str]:
        return ["lifecycle", "chaincode", "queryinstalled"]


@dataclass(frozen=True)
class ChaincodeApprove:
    definition: Definition
    package_id: str
    orderer: OrdererFlags

    def args(self) -> list[str]:
        return [
            "lifecycle",
            "chaincode",
            "approveformyorg",
            *self.orderer.args(),
            *self.definition.args(),
            "--package-id",
            self.package_id,
            "--waitForEvent",
        ]


@dataclass(frozen=True)
class ChaincodeQueryApproved:
    channel: str
    name: str
    sequence: int

    def args(self) -> list[str]:
        return ["lifecycle", "chaincode", "queryapproved", "-C", self.channel, "-n", self.name] + [
            "--sequence",
            str(self.sequence),
        ]


@dataclass(frozen=True)
class ChaincodeCommit:
    definition: Definition
    orderer: OrdererFlags
    peers: tuple[PeerTarget, ...]

    def args(self) -> list[str]:
        return ["lifecycle", "chaincode", "commit", *self.orderer.args(), *self.definition.args()] + _targets(
            self.peers
        )


@dataclass(frozen=True)
class ChaincodeQueryCommitted:
    channel: str
    name: str

    def args(self) -> list[str]:
        return ["lifecycle", "chaincode", "querycommitted", "-C", self.channel, "-n", self.name]


@dataclass(frozen=True)
class ChaincodeInvoke:
    channel: str
    name: str
    call: tuple[str, ...]  # function and arguments
    orderer: OrdererFlags
    peers: tuple[PeerTarget, ...] = field(default_factory=tuple)
    is_init: bool = False
    wait: bool = True

    def args(self) -> list[str]:
        argv = ["chaincode", "invoke", *self.orderer.args(), "-C", self.channel, "-n", self.name]
        if self.is_init:
            argv.append("--isInit")
        argv += ["-c", ctor(self.call), *_targets(self.peers)]
        return [*argv, "--waitForEvent"] if self.wait else argv


@dataclass(frozen=True)
class ChaincodeQuery:
    channel: str
    name: str
    call: tuple[str, ...]

    def args(self) -> list[str]:
        return ["chaincode", "query", "-C", self.channel, "-n", self.name, "-c", ctor(self.call)]


# ---------------------------------------------------------------- osnadmin (channel participation)


@dataclass(frozen=True)
class AdminTarget:
    """An orderer's admin endpoint, reached with mutual TLS as the orderer org's admin."""

    address: str
    ca_file: str
    client_cert: str
    client_key: str

    def args(self) -> list[str]:
        tls = ["--ca-file", self.ca_file, "--client-cert", self.client_cert, "--client-key", self.client_key]
        return ["-o", self.address, *tls]


@dataclass(frozen=True)
class OsnChannelJoin:
    channel: str
    block: str
    target: AdminTarget

    def args(self) -> list[str]:
        return ["channel", "join", "--channelID", self.channel, "--config-block", self.block, *self.target.args()]


@dataclass(frozen=True)
class OsnChannelList:
    channel: str
    target: AdminTarget

    def args(self) -> list[str]:
        return ["channel", "list", "--channelID", self.channel, *self.target.args()]
