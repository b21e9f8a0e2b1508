"""Every certificate a network holds, named for what it is: CAs and TLS CAs, each node's and user's
enrollment and TLS certificate, the chaincode servers' and their peers' TLS pairs, and the pairs the
ordering type asked for (Kafka's brokers, ZooKeeper). Read from the work dir's crypto, the same on
either target (Kubernetes Secrets are made from these files)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from fabkube.crypto import msp
from fabkube.crypto.certs import read_cert


@dataclass(frozen=True)
class CertInfo:
    kind: str  # CA, TLS CA, enrollment, TLS, ...
    owner: str  # the org, node, user or service it belongs to
    path: Path
    subject: str  # common name
    issuer: str  # common name
    not_before: dt.datetime
    not_after: dt.datetime

    def left(self, now: dt.datetime | None = None) -> dt.timedelta:
        return self.not_after - (now or dt.datetime.now(dt.UTC))

    def as_dict(self, now: dt.datetime | None = None) -> dict:
        return {
            "kind": self.kind,
            "owner": self.owner,
            "path": str(self.path),
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": round(self.left(now).total_seconds() / 86400, 2),
        }


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _info(kind: str, owner: str, path: Path) -> CertInfo | None:
    if not path.is_file():
        return None
    cert = read_cert(path)
    return CertInfo(
        kind, owner, path, _cn(cert.subject), _cn(cert.issuer), cert.not_valid_before_utc, cert.not_valid_after_utc
    )


def certificates(layout) -> list[CertInfo]:
    """The network's certificates, org by org, then the ordering type's; files that are not there
    (a network not generated yet) are left out."""
    topo = layout.topo
    found: list[CertInfo | None] = []
    for org in [*topo.orderer_orgs, *topo.orgs]:
        root = layout.org_dir(org)
        found.append(_info("CA", org.name, root / "ca" / f"{org.ca_name}-cert.pem"))
        found.append(_info("TLS CA", org.name, root / "tlsca" / f"{org.tlsca_name}-cert.pem"))
        nodes = topo.org_orderers(org) if org.kind == "orderer" else topo.org_peers(org)
        for node in nodes:
            found.append(_info("enrollment", node.name, layout.node_msp(node) / "signcerts" / f"{node.fqdn}-cert.pem"))
            found.append(_info("TLS", node.name, layout.node_tls(node) / "server.crt"))
        users = sorted((root / "users").iterdir()) if (root / "users").is_dir() else []
        for user in users:
            found.append(_info("enrollment", user.name, user / "msp" / "signcerts" / f"{user.name}-cert.pem"))
            found.append(_info("TLS", user.name, user / "tls" / "client.crt"))
        chaincodes = sorted((root / "chaincodes").iterdir()) if (root / "chaincodes").is_dir() else []
        for cc in chaincodes:
            tls = msp.chaincode_tls_dir(layout.crypto, org, cc.name)
            found.append(_info("TLS server", f"chaincode {cc.name} ({org.name})", tls / "server.crt"))
            found.append(_info("TLS client", f"peers of {org.name} to {cc.name}", tls / "client.crt"))
    for pair in topo.ordering.tls_pairs(topo.orderers):
        found.append(_info("TLS", pair.common_name, layout.tls_pair(pair) / f"{pair.role}.crt"))
    return [c for c in found if c is not None]


def expiring(certs: list[CertInfo], within: dt.timedelta, now: dt.datetime | None = None) -> list[CertInfo]:
    """Those that end within `within` from now (or already ended), soonest first."""
    return sorted((c for c in certs if c.left(now) <= within), key=lambda c: c.not_after)
