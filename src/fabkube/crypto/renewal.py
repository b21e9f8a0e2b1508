"""Renewing a network's leaf certificates in its work dir: each is signed again by the CA that
issued it, with the same subject, key and extensions, a new serial and `crypto.validity` from now.
Files made from a certificate (Kafka's PEM keystores, the Java chaincode server's base64 copies)
are written again beside it. CAs are not renewed here (see the README's Certificates section)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from fabkube.crypto.certs import CA, KEY_FILE, read_cert, write_cert
from fabkube.crypto.inventory import CertInfo, certificates, expiring
from fabkube.crypto.msp import _write_private, org_dir, tls_pair_dir

CA_KINDS = ("CA", "TLS CA")


@dataclass
class Renewal:
    """What a `certs renew` did: certificate files written, components restarted (or workloads
    rolled), channel config updates sent."""

    renewed: list[Path] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    channel_updates: list[str] = field(default_factory=list)


def due_leaves(layout, within: dt.timedelta | None) -> list[CertInfo]:
    """The leaf certificates ending within `within` (None: every one)."""
    leaves = [c for c in certificates(layout) if c.kind not in CA_KINDS]
    return leaves if within is None else expiring(leaves, within)


def _cas(layout) -> dict[bytes, CA]:
    """Every CA of the network, by its subject (DER), the key a certificate's issuer is looked up by."""
    out = {}
    for org in [*layout.topo.orderer_orgs, *layout.topo.orgs]:
        for sub, name in (("ca", org.ca_name), ("tlsca", org.tlsca_name)):
            directory = org_dir(layout.crypto, org) / sub
            if (directory / KEY_FILE).is_file():
                ca = CA.load(directory, name)
                out[ca.cert.subject.public_bytes()] = ca
    return out


def renew(layout, due: list[CertInfo], validity: dt.timedelta) -> list[Path]:
    """Sign every leaf of `due` again; return the certificate files written."""
    cas = _cas(layout)
    written = []
    for info in due:
        if info.kind in CA_KINDS:
            continue
        cert = read_cert(info.path)
        ca = cas.get(cert.issuer.public_bytes())
        if ca is None:
            continue  # not issued by this network's CAs: not fabkube's to renew
        write_cert(info.path, ca.renew(cert, validity))
        written.append(info.path)
    refresh_derived(layout)
    return written


def refresh_derived(layout) -> int:
    """Write again every file made from a certificate that no longer matches it (also after a
    renewal that was interrupted between the two); return how many."""
    topo = layout.topo
    stale = []
    for pair in topo.ordering.tls_pairs(topo.orderers):
        tls = tls_pair_dir(layout.crypto, pair)
        if pair.bundle and (tls / f"{pair.role}.crt").is_file():
            pem = (tls / f"{pair.role}.key").read_bytes() + (tls / f"{pair.role}.crt").read_bytes()
            stale.append((tls / pair.bundle, pem))
    for org in topo.orgs:
        for b64 in (org_dir(layout.crypto, org) / "chaincodes").glob("*/tls/*.b64"):
            source = b64.with_name(b64.name.removesuffix(".b64"))
            stale.append((b64, base64.b64encode(source.read_bytes())))
    count = 0
    for path, data in stale:
        if not path.is_file() or path.read_bytes() != data:
            _write_private(path, data)
            count += 1
    return count
