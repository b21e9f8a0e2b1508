"""Chaincode that fabkube ships, and how any Python chaincode directory is found and served."""

from __future__ import annotations

from pathlib import Path

BUILTIN_DIR = Path(__file__).parent
BUILTINS = ("abstore",)


def source_dir(path: str, spec_dir: Path | None = None) -> Path:
    """Resolve a chaincode `path:` from the spec to the directory holding its chaincode.py."""
    if path.startswith("builtin:"):
        return BUILTIN_DIR / path.removeprefix("builtin:")
    p = Path(path).expanduser()
    if not p.is_absolute() and spec_dir is not None:
        p = spec_dir / p
    return p.resolve()
