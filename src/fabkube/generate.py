"""spec -> topology -> artifacts: crypto, configtx.yaml, genesis block, channel and anchor txs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fabkube.channel.configtx import generate_channel_artifacts, write_configtx
from fabkube.crypto.msp import generate_crypto
from fabkube.layout import Layout
from fabkube.spec import LoadedSpec
from fabkube.toolchain import Progress, Toolchain
from fabkube.topology import Target, build_topology


@dataclass
class Generated:
    layout: Layout
    new_identities: int
    files: list[Path]


def generate(
    loaded: LoadedSpec, target: Target, out: Path, tools: Toolchain | None = None, progress: Progress = lambda _m: None
) -> Generated:
    spec = loaded.spec
    tools = (tools or Toolchain(spec.fabric.version)).ensure(progress)
    layout = Layout(out.resolve(), build_topology(spec, target))
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.spec_copy.write_text(loaded.text)
    created = generate_crypto(layout.topo, layout.crypto)
    progress(f"crypto material: {created} new identities" if created else "crypto material: reused")
    write_configtx(layout)
    files = generate_channel_artifacts(tools, layout)
    progress(f"channel artifacts: {len(files)} files by configtxgen")
    return Generated(layout, created, files)
