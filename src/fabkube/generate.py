"""spec -> topology -> artifacts: crypto, configtx.yaml, genesis block, channel and anchor txs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fabkube.channel.configtx import generate_channel_artifacts, write_configtx
from fabkube.consensus.model import ordering_model
from fabkube.crypto.msp import generate_crypto
from fabkube.layout import Layout, claim_workdir
from fabkube.spec import LoadedSpec, NetworkSpec
from fabkube.toolchain import Progress, Toolchain
from fabkube.topology import Target, build_topology


@dataclass
class Generated:
    layout: Layout
    new_identities: int
    files: list[Path]


@dataclass(frozen=True)
class Existing:
    """What of a network exists on its target: artifacts it started from must stay byte for byte."""

    channels: frozenset[str] = frozenset()
    genesis: bool = False  # the orderers bootstrapped from the system channel's genesis block

    def artifacts(self, layout: Layout) -> frozenset[Path]:
        topo = layout.topo
        out = {layout.genesis_block} if self.genesis else set()
        for ch in topo.channels:
            if ch.name in self.channels:
                out |= {layout.channel_block(ch), layout.channel_tx(ch)}
                out |= {layout.anchors_tx(ch, org) for org in ch.orgs}
        return frozenset(out)


def network_toolchain(spec: NetworkSpec) -> Toolchain:
    """The toolchain a network runs on: Fabric and the parts its ordering type names."""
    return Toolchain(spec.fabric.version, parts=ordering_model(spec.ordering.type).toolchain_parts)


def generate(
    loaded: LoadedSpec,
    target: Target,
    out: Path,
    tools: Toolchain | None = None,
    progress: Progress = lambda _m: None,
    existing: Existing | None = None,
) -> Generated:
    """`existing`: what of the network runs already; its artifacts are never made again."""
    spec = loaded.spec
    claim_workdir(out.resolve(), spec.name)  # before anything is built or written
    tools = (tools or network_toolchain(spec)).ensure(progress)
    layout = Layout(out.resolve(), build_topology(spec, target))
    layout.spec_copy.write_text(loaded.text)
    created = generate_crypto(layout.topo, layout.crypto)
    progress(f"crypto material: {created} new identities" if created else "crypto material: reused")
    write_configtx(layout)
    # configtxgen stamps blocks and txs with the time: regenerate only when their inputs changed,
    # so a re-run (and a second server-side apply) sees the very same bytes.
    digest = _inputs_digest(layout, tools)
    stamp = layout.artifacts / ".inputs.sha256"
    files = artifact_paths(layout)
    if stamp.is_file() and stamp.read_text() == digest and all(f.is_file() for f in files):
        progress("channel artifacts: reused")
    else:
        files = generate_channel_artifacts(tools, layout, (existing or Existing()).artifacts(layout))
        stamp.write_text(digest)
        progress(f"channel artifacts: {len(files)} files by configtxgen")
    return Generated(layout, created, files)


def artifact_paths(layout: Layout) -> list[Path]:
    topo = layout.topo
    if not topo.ordering.system_channel:
        return [layout.channel_block(c) for c in topo.channels]
    return [
        layout.genesis_block,
        *(layout.channel_tx(c) for c in topo.channels),
        *(layout.anchors_tx(c, o) for c in topo.channels for o in c.orgs),
    ]


def _inputs_digest(layout: Layout, tools: Toolchain) -> str:
    h = hashlib.sha256(tools.fabric.commit.encode())
    h.update(layout.configtx.read_bytes())
    for org in [*layout.topo.orderer_orgs, *layout.topo.orgs]:
        for path in sorted((layout.org_dir(org) / "msp").rglob("*")):
            if path.is_file():
                h.update(str(path).encode() + path.read_bytes())
    # Raft's consenters carry each orderer's TLS certificate in the channel's genesis block.
    for node in layout.topo.orderers:
        cert = layout.node_tls(node) / "server.crt"
        if cert.is_file():
            h.update(str(cert).encode() + cert.read_bytes())
    return h.hexdigest()
