"""The peer's external builder for chaincode-as-a-service: bin/detect, bin/build, bin/release.

Fabric's own ccaas_builder is a separate Go module that the Go module proxy here does not
serve, so fabkube implements the documented external-builder contract itself
(docs: cc_launcher.md, cc_service.md):
  detect  SOURCE METADATA          exit 0 when metadata.json says type "ccaas"
  build   SOURCE METADATA OUTPUT   copy connection.json (and META-INF) to OUTPUT
  release BUILD RELEASE            put connection.json at RELEASE/chaincode/server/
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

SCRIPT = """#!/bin/sh
exec {python} -m fabkube.chaincode.ccaas_builder {verb} "$@"
"""


def detect(_source: Path, metadata: Path) -> int:
    try:
        kind = json.loads((metadata / "metadata.json").read_text()).get("type", "")
    except (OSError, ValueError):
        return 1
    return 0 if kind.lower() == "ccaas" else 1


def build(source: Path, _metadata: Path, output: Path) -> int:
    conn = source / "connection.json"
    if not conn.is_file():
        print(f"{conn} not found: a ccaas package must hold connection.json", file=sys.stderr)
        return 1
    try:
        json.loads(conn.read_text())["address"]
    except (ValueError, KeyError):
        print(f"{conn} is not JSON with an 'address'", file=sys.stderr)
        return 1
    output.mkdir(parents=True, exist_ok=True)
    _copy_private(conn, output / "connection.json")
    if (source / "META-INF").is_dir():
        shutil.copytree(source / "META-INF", output / "META-INF", dirs_exist_ok=True)
    return 0


def _copy_private(src: Path, dst: Path) -> None:
    """connection.json holds the peer's client key for the chaincode server: owner-only copies."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(src.read_bytes())
    os.chmod(dst, 0o600)  # an existing file keeps its mode through O_CREAT


def release(build_dir: Path, release_dir: Path) -> int:
    server = release_dir / "chaincode" / "server"
    server.mkdir(parents=True, exist_ok=True)
    _copy_private(build_dir / "connection.json", server / "connection.json")
    if (build_dir / "META-INF").is_dir():
        shutil.copytree(build_dir / "META-INF", release_dir, dirs_exist_ok=True)
    return 0


def install(directory: Path) -> Path:
    """Write bin/{detect,build,release} running this module with the current interpreter."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for verb in ("detect", "build", "release"):
        path = bin_dir / verb
        path.write_text(SCRIPT.format(python=sys.executable, verb=verb))
        os.chmod(path, 0o755)
    return directory


def main(argv: list[str]) -> int:
    verbs = {"detect": (detect, 2), "build": (build, 3), "release": (release, 2)}
    if not argv or argv[0] not in verbs or len(argv) - 1 != verbs[argv[0]][1]:
        print("usage: ccaas_builder detect SRC META | build SRC META OUT | release BLD REL", file=sys.stderr)
        return 2
    func, _ = verbs[argv[0]]
    return func(*(Path(a) for a in argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
