"""CCaaS chaincode packages (metadata.json type ccaas + code.tar.gz holding connection.json).

Packages are byte-for-byte deterministic, so the package ID (label:sha256 of the package,
as the peer computes it) is known before install and never changes between runs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path


def _tar_gz(files: dict[str, bytes], private: frozenset[str] = frozenset()) -> bytes:
    """A deterministic tar.gz; `private` members 0600 (a peer extracting it keeps the mode)."""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600 if name in private else 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@dataclass(frozen=True)
class ClientTLS:
    """What a peer needs to reach a chaincode server over mutual TLS (PEM texts)."""

    root_cert: str  # verifies the server
    client_cert: str  # presented to the server
    client_key: str


def connection_json(address: str, tls: ClientTLS | None = None) -> dict:
    """The peer dials `address`; with tls it verifies the server and presents its client pair."""
    conn: dict = {"address": address, "dial_timeout": "10s", "tls_required": tls is not None}
    if tls is not None:
        conn.update(
            {
                "client_auth_required": True,
                "root_cert": tls.root_cert,
                "client_cert": tls.client_cert,
                "client_key": tls.client_key,
            }
        )
    return conn


def write_package(path: Path, label: str, address: str, tls: ClientTLS | None = None) -> str:
    """Write the package (0600 when it holds a client key) and return its package ID.

    A package already there that differs only by a renewed client certificate (same key) is kept:
    its ID is in the chaincode definitions' approvals, and `certs renew` updates the peers' copies
    of connection.json instead."""
    kept = _renewal_of(path, label, connection_json(address, tls))
    if kept is not None:
        return kept
    conn = json.dumps(connection_json(address, tls), indent=2).encode()
    code = _tar_gz({"connection.json": conn}, frozenset({"connection.json"}) if tls else frozenset())
    meta = json.dumps({"type": "ccaas", "label": label}).encode()
    package = _tar_gz({"metadata.json": meta, "code.tar.gz": code})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if tls else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(package)
    return package_id(label, package)


def read_connection(package: bytes) -> tuple[str, dict]:
    """The label and connection.json of a package."""
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as outer:
        meta = json.loads(outer.extractfile("metadata.json").read())  # type: ignore[union-attr]
        code = outer.extractfile("code.tar.gz").read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(code), mode="r:gz") as inner:
        conn = json.loads(inner.extractfile("connection.json").read())  # type: ignore[union-attr]
    return meta["label"], conn


def _renewal_of(path: Path, label: str, wanted: dict) -> str | None:
    if not path.is_file():
        return None
    from cryptography import x509

    package = path.read_bytes()
    try:
        old_label, old = read_connection(package)
    except (OSError, ValueError, KeyError, tarfile.TarError, AttributeError):
        return None
    rest = lambda c: {k: v for k, v in c.items() if k != "client_cert"}  # noqa: E731
    if old_label != label or rest(old) != rest(wanted) or ("client_cert" in old) != ("client_cert" in wanted):
        return None
    if "client_cert" in old and old["client_cert"] != wanted["client_cert"]:
        try:
            keys = [x509.load_pem_x509_certificate(c["client_cert"].encode()).public_key() for c in (old, wanted)]
        except ValueError:
            return None
        if keys[0] != keys[1]:
            return None
    return package_id(label, package)


def package_id(label: str, package: bytes) -> str:
    return f"{label}:{hashlib.sha256(package).hexdigest()}"
