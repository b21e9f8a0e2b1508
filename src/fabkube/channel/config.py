"""A channel's config as an orderer org's admin reads and changes it, with Fabric's own tools on
this machine: `peer channel fetch` from one orderer, configtxlator between protobuf and JSON,
`compute_update`, and `peer channel update` signed by that admin (the orderer group's mod_policy,
/Channel/Orderer/Admins, is what a ConsensusType change needs).

Reading as the orderer org's admin matters: in maintenance mode an orderer serves Deliver only to
/Channel/Orderer/Readers, and peers' and their admins' requests are refused (FORBIDDEN).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.layout import Layout
from fabkube.nodes import Org
from fabkube.toolchain import Toolchain

# Answers worth another try: the orderer restarting, a Kafka chain not yet started after a restart,
# a Raft leader that does not yet see its followers again after one of them restarted.
RETRYABLE = (
    "will result in quorum loss",
    "SERVICE_UNAVAILABLE",
    "connection refused",
    "context deadline exceeded",
    "failed to create new connection",
)
ATTEMPTS = 30  # a second apart


@dataclass(frozen=True)
class AdminIdentity:
    """Who signs and reads: an org admin's MSP, and the TLS CA its orderers' certificates chain to."""

    msp_id: str
    msp_dir: Path
    tls_ca: Path | None  # None: plaintext


@dataclass
class Consensus:
    """Orderer/ConsensusType of a channel config: type, state and the type's metadata (JSON)."""

    type: str
    state: str
    metadata: object


@dataclass
class FetchedConfig:
    channel: str
    block_number: int  # the last config block
    config: dict  # common.Config as configtxlator's JSON

    @property
    def consensus(self) -> Consensus:
        v = self.config["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]
        return Consensus(v.get("type", ""), v.get("state", "STATE_NORMAL"), v.get("metadata"))

    def capabilities(self, group: str | None) -> list[str]:
        """The capabilities of the channel (group None) or of one group (Orderer, Application)."""
        g = self.config["channel_group"]
        if group is not None:
            g = g["groups"].get(group, {})
        value = g.get("values", {}).get("Capabilities", {}).get("value", {})
        return sorted((value.get("capabilities") or {}).keys())

    def with_consensus(self, type_: str | None = None, state: str | None = None, metadata: object = None) -> dict:
        """A copy of the config with ConsensusType changed in the given fields only."""
        new = copy.deepcopy(self.config)
        v = new["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]
        if type_ is not None:
            v["type"] = type_
        if state is not None:
            v["state"] = state
        if metadata is not None:
            v["metadata"] = metadata
        return new


class ChannelConfigs:
    """Fetch and update channel configs through one orderer at a time, as `admin`."""

    def __init__(self, tools: Toolchain, admin: AdminIdentity, log: Path, cosigners: tuple[AdminIdentity, ...] = ()):
        """`cosigners` sign every update too (several orderer orgs: /Channel/Orderer/Admins is MAJORITY)."""
        self.tools, self.admin, self.log, self.cosigners = tools, admin, log, cosigners
        self.attempts = ATTEMPTS  # 1 where an answer now matters more than one later (status)

    def _env(self, who: AdminIdentity | None = None) -> dict[str, str]:
        who = who or self.admin
        return dict(
            os.environ,
            FABRIC_CFG_PATH=str(self.tools.config_dir),
            FABRIC_LOGGING_SPEC="WARNING",
            CORE_PEER_LOCALMSPID=who.msp_id,
            CORE_PEER_MSPCONFIGPATH=str(who.msp_dir),
            CORE_PEER_TLS_ENABLED="true" if who.tls_ca else "false",
        )

    def _orderer_flags(self, orderer: str) -> list[str]:
        return ["-o", orderer, *(["--tls", "--cafile", str(self.admin.tls_ca)] if self.admin.tls_ca else [])]

    def _run(self, tool: str, args: list[str], timeout: float = 60, who: AdminIdentity | None = None) -> str:
        argv = [str(self.tools.bin(tool)), *args]
        for attempt in range(1, self.attempts + 1):
            try:
                proc = subprocess.run(argv, env=self._env(who), capture_output=True, text=True, timeout=timeout)
                output, code = proc.stdout + proc.stderr, proc.returncode
            except subprocess.TimeoutExpired:
                output, code = f"timed out after {timeout}s", -1
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("a") as fh:
                fh.write(f"$ {tool} {' '.join(args)}\n{output}\n")
            if code == 0:
                return proc.stdout
            if attempt < self.attempts and any(t in output for t in RETRYABLE):
                time.sleep(1.0)
                continue
            last = next((x for x in reversed(output.splitlines()) if x.strip()), f"exit code {code}")
            raise RuntimeFailure(f"{tool} {' '.join(args[:3])} failed: {last.strip()[:400]}", self.log)
        raise AssertionError("unreachable")

    def _decode(self, pb: Path, type_: str) -> dict:
        return json.loads(self._run("configtxlator", ["proto_decode", "--input", str(pb), "--type", type_]))

    def _encode(self, obj: dict, type_: str, out: Path) -> Path:
        src = out.with_suffix(".json")
        src.write_text(json.dumps(obj))
        self._run("configtxlator", ["proto_encode", "--input", str(src), "--type", type_, "--output", str(out)])
        return out

    def fetch(self, channel: str, orderer: str) -> FetchedConfig:
        """The channel's last config block from one orderer (host:port dialable from here)."""
        with tempfile.TemporaryDirectory(prefix="fabkube-config-") as d:
            block = self._decode(self._fetch(channel, orderer, "config", Path(d) / "config.pb"), "common.Block")
        number = int(block["header"].get("number", 0))
        return FetchedConfig(channel, number, block["data"]["data"][0]["payload"]["data"]["config"])

    def fetch_block(self, channel: str, orderer: str, out: Path) -> int:
        """Write the channel's last config block to `out` (for a join); return its number."""
        self._fetch(channel, orderer, "config", out)
        return int(self._decode(out, "common.Block")["header"].get("number", 0))

    def _fetch(self, channel: str, orderer: str, which: str, out: Path) -> Path:
        self._run("peer", ["channel", "fetch", which, str(out), "-c", channel, *self._orderer_flags(orderer)])
        return out

    def height(self, channel: str, orderer: str) -> int:
        """The orderer's ledger height on the channel (its newest block's number + 1)."""
        with tempfile.TemporaryDirectory(prefix="fabkube-config-") as d:
            block = self._decode(self._fetch(channel, orderer, "newest", Path(d) / "newest.pb"), "common.Block")
        return int(block["header"].get("number", 0)) + 1

    def update(self, fetched: FetchedConfig, new_config: dict, orderer: str) -> None:
        """Submit the difference between a fetched config and `new_config`, signed by the admin."""
        ch = fetched.channel
        with tempfile.TemporaryDirectory(prefix="fabkube-config-") as d:
            tmp = Path(d)
            old_pb = self._encode(fetched.config, "common.Config", tmp / "old.pb")
            new_pb = self._encode(new_config, "common.Config", tmp / "new.pb")
            update_pb = tmp / "update.pb"
            self._run(
                "configtxlator",
                ["compute_update", "--channel_id", ch, "--original", str(old_pb), "--updated", str(new_pb),
                 "--output", str(update_pb)],
            )  # fmt: skip
            update = self._decode(update_pb, "common.ConfigUpdate")
            envelope = {
                "payload": {
                    "header": {"channel_header": {"channel_id": ch, "type": 2}},
                    "data": {"config_update": update},
                }
            }
            env_pb = self._encode(envelope, "common.Envelope", tmp / "envelope.pb")
            for who in self.cosigners:
                self._run("peer", ["channel", "signconfigtx", "-f", str(env_pb)], who=who)
            self._run("peer", ["channel", "update", "-f", str(env_pb), "-c", ch, *self._orderer_flags(orderer)])


def orderer_admin_configs(layout: Layout, tools: Toolchain, log: Path) -> ChannelConfigs:
    """Channel configs as the orderer orgs' admins change them: the first org's admin reads and
    submits, the others co-sign (the orderer group's Admins policy is MAJORITY of them)."""
    tls = layout.topo.spec.tls

    def identity(org: Org) -> AdminIdentity:
        return AdminIdentity(org.msp_id, layout.admin_msp(org), layout.tls_ca(org) if tls else None)

    first, *others = layout.topo.orderer_orgs
    admin = identity(first)
    if tls and others:
        # Reads go to any orderer, of any orderer org: trust every orderer org's TLS CA (the peer
        # CLI's --cafile takes a PEM bundle).
        bundle = layout.root / "artifacts" / "orderer-tls-cas.pem"
        text = "".join(layout.tls_ca(o).read_text() for o in layout.topo.orderer_orgs)
        if not bundle.is_file() or bundle.read_text() != text:
            # Renamed into place: a peer CLI reading it meanwhile never sees half a file.
            bundle.parent.mkdir(parents=True, exist_ok=True)
            tmp = bundle.with_name(f".{bundle.name}.{os.getpid()}")
            tmp.write_text(text)
            tmp.replace(bundle)
        admin = AdminIdentity(admin.msp_id, admin.msp_dir, bundle)
    return ChannelConfigs(tools, admin, log, tuple(identity(o) for o in others))
