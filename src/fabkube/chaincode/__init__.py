"""Chaincode that fabkube ships, and how a chaincode directory is found, recognised and built.

A directory with chaincode.py is Python (served by fabkube's runtime); one with go.mod is Go
(built with the Go toolchain, served by fabric-chaincode-go's ChaincodeServer).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Literal

BUILTIN_DIR = Path(__file__).parent
BUILTINS = {
    "abstore": BUILTIN_DIR / "abstore",
    "asset-transfer-basic": BUILTIN_DIR / "asset-transfer-basic",
    "asset-transfer-basic-go": BUILTIN_DIR / "builtin_go" / "asset-transfer-basic",
}

Language = Literal["python", "go"]


def source_dir(path: str, spec_dir: Path | None = None) -> Path:
    """Resolve a chaincode `path:` from the spec to its directory."""
    if path.startswith("builtin:"):
        return BUILTINS[path.removeprefix("builtin:")]
    p = Path(path).expanduser()
    if not p.is_absolute() and spec_dir is not None:
        p = spec_dir / p
    return p.resolve()


def language(directory: Path) -> Language | None:
    """go.mod makes it Go, chaincode.py Python; None when it is neither (or not a directory)."""
    if (directory / "go.mod").is_file():
        return "go"
    if (directory / "chaincode.py").is_file():
        return "python"
    return None


def source_digest(directory: Path) -> str:
    """A digest of every file in the directory (names and contents), to cache builds by source."""
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def go_binary(cache: Path, directory: Path) -> Path:
    """Where the build of this Go chaincode source lives (built once per source digest)."""
    return cache / "chaincode-go" / source_digest(directory) / "chaincode"


def build_go(tools, directory: Path, log: Path) -> Path:
    """Build a Go chaincode (in a copy: `go build` may update go.sum) unless this source was built."""
    out = go_binary(tools.root, directory)
    if out.is_file():
        return out
    work = out.parent / "src"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(directory, work)
    tools.go_build_binary(work, out.with_suffix(".partial"), log)
    out.with_suffix(".partial").rename(out)
    return out
