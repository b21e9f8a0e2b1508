"""CCaaS chaincode packages (metadata.json type ccaas + code.tar.gz holding connection.json).

Packages are byte-for-byte deterministic, so the package ID (label:sha256 of the package,
as the peer computes it) is known before install and never changes between runs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def connection_json(address: str, root_cert: str | None = None) -> dict:
    """The peer dials `address`; with root_cert it requires TLS and verifies the server with that CA."""
    conn = {"address": address, "dial_timeout": "10s", "tls_required": root_cert is not None}
    if root_cert is not None:
        conn.update({"client_auth_required": False, "root_cert": root_cert})
    return conn


def write_package(path: Path, label: str, address: str, root_cert: str | None = None) -> str:
    """Write the package and return its package ID."""
    code = _tar_gz({"connection.json": json.dumps(connection_json(address, root_cert), indent=2).encode()})
    meta = json.dumps({"type": "ccaas", "label": label}).encode()
    package = _tar_gz({"metadata.json": meta, "code.tar.gz": code})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(package)
    return package_id(label, package)


def package_id(label: str, package: bytes) -> str:
    return f"{label}:{hashlib.sha256(package).hexdigest()}"
