"""MSP and TLS folders in cryptogen's layout, for every org, orderer, peer, admin and user.

crypto/
  ordererOrganizations/<domain>/{ca,tlsca,msp,orderers/<fqdn>,users/Admin@<domain>}
  peerOrganizations/<domain>/{ca,tlsca,msp,peers/<fqdn>,users/{Admin,User1}@<domain>}

Existing CAs and node folders are reused, so generating twice makes no new keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import yaml

from fabkube.consensus.model import TlsPair
from fabkube.crypto.certs import CA, KEY_FILE, VALIDITY, new_key, write_cert, write_key
from fabkube.spec import duration_seconds
from fabkube.topology import Org, Topology

OUS = ("client", "peer", "admin", "orderer")


def org_dir(crypto: Path, org: Org) -> Path:
    kind = "ordererOrganizations" if org.kind == "orderer" else "peerOrganizations"
    return crypto / kind / org.domain


def node_dir(crypto: Path, org: Org, fqdn: str) -> Path:
    return org_dir(crypto, org) / ("orderers" if org.kind == "orderer" else "peers") / fqdn


def user_dir(crypto: Path, org: Org, user: str) -> Path:
    return org_dir(crypto, org) / "users" / user


def _node_ou_config(ca_file: str) -> str:
    ids = {f"{ou.capitalize()}OUIdentifier": {"Certificate": ca_file, "OrganizationalUnitIdentifier": ou} for ou in OUS}
    return yaml.safe_dump({"NodeOUs": {"Enable": True, **ids}}, sort_keys=False)


def _verifying_msp(msp: Path, sign_ca: CA, tls_ca: CA) -> None:
    for sub in ("admincerts", "cacerts", "tlscacerts"):
        (msp / sub).mkdir(parents=True, exist_ok=True)
    write_cert(msp / "cacerts" / f"{sign_ca.name}-cert.pem", sign_ca.cert)
    write_cert(msp / "tlscacerts" / f"{tls_ca.name}-cert.pem", tls_ca.cert)
    (msp / "config.yaml").write_text(_node_ou_config(f"cacerts/{sign_ca.name}-cert.pem"))


def _local_msp(
    base: Path, name: str, sans: list[str], sign_ca: CA, tls_ca: CA, ou: str, validity: dt.timedelta
) -> None:
    """One identity: msp/ (signing key + cert with its NodeOU) and tls/ (server or client pair)."""
    msp, tls = base / "msp", base / "tls"
    _verifying_msp(msp, sign_ca, tls_ca)
    (msp / "keystore").mkdir(parents=True, exist_ok=True)
    key = new_key()
    write_key(msp / "keystore" / KEY_FILE, key)
    write_cert(
        msp / "signcerts" / f"{name}-cert.pem", sign_ca.issue(name, key.public_key(), ous=[ou], validity=validity)
    )
    tls_key = new_key()
    prefix = "client" if ou in ("client", "admin") else "server"
    tls.mkdir(parents=True, exist_ok=True)
    write_cert(tls / f"{prefix}.crt", tls_ca.issue(name, tls_key.public_key(), sans=sans, tls=True, validity=validity))
    write_key(tls / f"{prefix}.key", tls_key)
    write_cert(tls / "ca.crt", tls_ca.cert)


def _ensure_identity(
    base: Path, name: str, sans: list[str], sign_ca: CA, tls_ca: CA, ou: str, validity: dt.timedelta
) -> bool:
    if (base / "msp" / "signcerts" / f"{name}-cert.pem").exists():
        return False
    _local_msp(base, name, sans, sign_ca, tls_ca, ou, validity)
    return True


def generate_org(crypto: Path, org: Org, nodes: list[tuple[str, list[str]]], validity: dt.timedelta = VALIDITY) -> int:
    """Create (or extend) one org; `nodes` are (fqdn, SANs). Returns how many identities were new."""
    root = org_dir(crypto, org)
    sign_ca = CA.load_or_create(root / "ca", org.ca_name, org.domain)
    tls_ca = CA.load_or_create(root / "tlsca", org.tlsca_name, org.domain)
    _verifying_msp(root / "msp", sign_ca, tls_ca)
    created = 0
    node_ou = "orderer" if org.kind == "orderer" else "peer"
    for fqdn, sans in nodes:
        created += _ensure_identity(node_dir(crypto, org, fqdn), fqdn, sans, sign_ca, tls_ca, node_ou, validity)
    admin = user_dir(crypto, org, org.admin)
    created += _ensure_identity(admin, org.admin, [], sign_ca, tls_ca, "admin", validity)
    for i in range(1, org.users + 1):
        user = f"User{i}@{org.domain}"
        created += _ensure_identity(user_dir(crypto, org, user), user, [], sign_ca, tls_ca, "client", validity)
    return created


def chaincode_tls_dir(crypto: Path, org: Org, chaincode: str) -> Path:
    return org_dir(crypto, org) / "chaincodes" / chaincode / "tls"


def _chaincode_tls(crypto: Path, org: Org, chaincode: str, sans: list[str], validity: dt.timedelta) -> int:
    """Mutual TLS between an org's peers and a chaincode server, both pairs from the org's TLS CA:
    server.* for the chaincode server (peers verify it), client.* for the peers (the server verifies
    them; the pair travels in the chaincode package's connection.json)."""
    tls = chaincode_tls_dir(crypto, org, chaincode)
    tls_ca = CA.load(org_dir(crypto, org) / "tlsca", org.tlsca_name)
    created = 0
    for role, cn, names in (
        ("server", f"{chaincode}.chaincode.{org.domain}", sans),
        ("client", f"peers.{chaincode}.chaincode.{org.domain}", []),
    ):
        if (tls / f"{role}.crt").exists():
            continue
        key = new_key()
        write_cert(tls / f"{role}.crt", tls_ca.issue(cn, key.public_key(), sans=names, tls=True, validity=validity))
        write_key(tls / f"{role}.key", key)
        created += 1
    # Java's chaincode server wants base64 copies of its pair named too (see chaincode/contract.py).
    for name in ("server.crt", "server.key"):
        if not (tls / f"{name}.b64").exists():
            _write_private(tls / f"{name}.b64", base64.b64encode((tls / name).read_bytes()))
    return created


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def tls_pair_dir(crypto: Path, pair: TlsPair) -> Path:
    return org_dir(crypto, pair.org) / pair.dir


def _tls_pair(crypto: Path, pair: TlsPair, validity: dt.timedelta) -> bool:
    """A pair the ordering type asks for (Kafka: the brokers'), from its org's TLS CA, with the CA's
    certificate beside it; `bundle` also holds key + certificate in one file (Kafka's PEM keystore)."""
    tls = tls_pair_dir(crypto, pair)
    if (tls / (pair.bundle or f"{pair.role}.crt")).exists():
        return False
    tls_ca = CA.load(org_dir(crypto, pair.org) / "tlsca", pair.org.tlsca_name)
    key = new_key()
    cert = tls_ca.issue(pair.common_name, key.public_key(), sans=list(pair.sans), tls=True, validity=validity)
    write_cert(tls / f"{pair.role}.crt", cert)
    write_key(tls / f"{pair.role}.key", key)
    if pair.bundle:
        write_key(tls / pair.bundle, key)
        with (tls / pair.bundle).open("ab") as fh:
            fh.write((tls / f"{pair.role}.crt").read_bytes())
    write_cert(tls / "ca.crt", tls_ca.cert)
    return True


def generate_crypto(topo: Topology, crypto: Path) -> int:
    """All orgs of a topology. SANs cover both targets, so one crypto set serves local and k8s."""
    created = 0
    validity = dt.timedelta(seconds=duration_seconds(topo.spec.crypto.validity))
    for org in topo.orderer_orgs:
        nodes = [(o.fqdn, topo.tls_sans(o)) for o in topo.org_orderers(org)]
        created += generate_org(crypto, org, nodes, validity)
    for org in topo.orgs:
        created += generate_org(crypto, org, [(p.fqdn, topo.tls_sans(p)) for p in topo.org_peers(org)], validity)
    for cc in topo.chaincodes:
        for org in cc.orgs:
            created += _chaincode_tls(crypto, org, cc.name, topo.chaincode_sans(cc, org), validity)
    for pair in topo.ordering.tls_pairs(topo.orderers):
        created += _tls_pair(crypto, pair, validity)
    return created + topo.ordering.write_secrets(lambda org: org_dir(crypto, org))
