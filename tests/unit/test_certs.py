"""Certificate validity as a spec setting, and the inventory `fabkube certs` and `status` read."""

import datetime as dt
import json

import pytest
from conftest import EXAMPLES, run_cli

from fabkube.crypto.inventory import certificates, expiring
from fabkube.crypto.msp import generate_crypto
from fabkube.errors import UserError
from fabkube.layout import Layout
from fabkube.spec import parse_spec
from fabkube.topology import build_topology

SEED = (EXAMPLES / "seed.yaml").read_text()


def short_lived(minutes: int = 5) -> str:
    return SEED.replace("name: seed\n", f"name: seed\ncrypto: {{validity: {minutes}m}}\n", 1)


def test_validity_is_a_spec_setting_with_limits():
    assert parse_spec(SEED).spec.crypto.validity == "10y"  # cryptogen's ten years
    assert parse_spec(short_lived()).spec.crypto.validity == "5m"
    for bad, why in (("5s", "not a duration"), ("1m", "allowed 2m to 10y"), ("11y", "allowed 2m to 10y")):
        with pytest.raises(UserError, match=rf"crypto.validity.*{why}"):
            parse_spec(SEED.replace("name: seed\n", f"name: seed\ncrypto: {{validity: {bad}}}\n", 1))


def test_inventory_names_every_certificate_and_short_validity_reaches_leaves_only(tmp_path):
    topo = build_topology(parse_spec(short_lived()).spec, "local")
    layout = Layout(tmp_path, topo)
    generate_crypto(topo, layout.crypto)
    certs = certificates(layout)
    kinds = sorted((c.kind, c.owner) for c in certs)
    # 2 orgs x (CA, TLS CA); orderer0, peer0, peer1, 2 admins and User1: enrollment + TLS each;
    # mycc's server and client pair; the brokers' and ZooKeeper's pairs
    assert len(certs) == 4 + 6 * 2 + 2 + 2, kinds
    assert ("TLS", "zookeeper.example.com") in kinds and ("TLS", "kafka.example.com") in kinds
    assert ("TLS server", "chaincode mycc (Org1)") in kinds and ("enrollment", "User1@org1.example.com") in kinds
    soon = expiring(certs, dt.timedelta(minutes=10))
    assert {c.kind for c in soon} - {"CA", "TLS CA"} == {c.kind for c in soon}  # CAs keep 10 years
    assert len(soon) == len(certs) - 4
    for c in soon:
        assert dt.timedelta(minutes=4) < c.left() <= dt.timedelta(minutes=5), c
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert all(c.left(later) < dt.timedelta(0) for c in soon)


def test_certs_and_status_report_what_ends_soon(tmp_path, home, tools):
    spec = tmp_path / "seed.yaml"
    spec.write_text(short_lived(30))
    workdir = tmp_path / "net"
    run_cli("generate", str(spec), "--out", str(workdir), home=home)
    listed = json.loads(run_cli("certs", "-w", str(workdir), "--json", home=home).stdout)
    assert len(listed) == 20 and all(set(c) >= {"subject", "issuer", "not_after", "days_left"} for c in listed)
    within = json.loads(run_cli("certs", "-w", str(workdir), "--within", "1h", "--json", home=home).stdout)
    assert len(within) == 16 and all(c["days_left"] < 0.03 for c in within)
    table = run_cli("certs", "-w", str(workdir), home=home).stdout
    assert "20 certificates" in table and "peer0.org1.example.com" in table
    bad = run_cli("certs", "-w", str(workdir), "--within", "soon", home=home, check=False)
    assert bad.returncode == 2 and "--within 'soon'" in bad.stderr
    status = run_cli("status", "-w", str(workdir), home=home, check=False)
    assert "warning: certificate TLS of peer0.org1 (peer0.org1.example.com) ends in 0.0 days" in " ".join(
        status.stderr.split()
    ), status.stderr


def test_renewal_keeps_key_subject_and_extensions_and_moves_the_end(tmp_path):
    """What `certs renew` writes: every leaf signed again by its own CA with the same key, subject
    and extensions, a new serial and the spec's validity from now; the PEM keystores made from a
    pair follow it; CAs stay as they are."""
    from cryptography import x509

    from fabkube.crypto.certs import read_cert
    from fabkube.crypto.renewal import renew

    topo = build_topology(parse_spec(short_lived()).spec, "local")
    layout = Layout(tmp_path, topo)
    generate_crypto(topo, layout.crypto)
    before = {c.path: read_cert(c.path) for c in certificates(layout)}
    written = renew(layout, certificates(layout), dt.timedelta(hours=2))
    assert len(written) == len(before) - 4  # no CA
    cas = {p: c for p, c in before.items() if c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca}
    for path, old in before.items():
        new = read_cert(path)
        if path in cas:
            assert new == old
            continue
        assert new.public_key() == old.public_key() and new.subject == old.subject and new.issuer == old.issuer
        assert new.serial_number != old.serial_number
        assert [e.oid for e in new.extensions] == [e.oid for e in old.extensions]
        assert dt.timedelta(minutes=119) < new.not_valid_after_utc - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=2)
        issuer = next(c for c in cas.values() if c.subject == old.issuer)
        new.verify_directly_issued_by(issuer)
    kafka = next(c.path for c in certificates(layout) if c.owner == "kafka.example.com")
    assert (kafka.parent / "kafka.pem").read_bytes().endswith(kafka.read_bytes())


def test_a_package_differing_only_by_a_renewed_client_certificate_keeps_its_id(tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    from fabkube.chaincode.package import ClientTLS, write_package
    from fabkube.crypto.certs import CA, new_key, write_cert

    def pem(cert) -> str:
        return cert.public_bytes(Encoding.PEM).decode()

    ca = CA.create(tmp_path / "ca", "tlsca.example.com", "example.com")
    key = new_key()
    old = ca.issue("peers.cc", key.public_key(), tls=True)
    write_cert(tmp_path / "k.pem", old)
    tls = ClientTLS(pem(ca.cert), pem(old), "KEY")
    path = tmp_path / "cc.tar.gz"
    first = write_package(path, "cc_1.0", "127.0.0.1:9999", tls)
    renewed = ClientTLS(pem(ca.cert), pem(ca.renew(old, dt.timedelta(days=1))), "KEY")
    assert write_package(path, "cc_1.0", "127.0.0.1:9999", renewed) == first
    other = ClientTLS(pem(ca.cert), pem(ca.issue("peers.cc", new_key().public_key(), tls=True)), "KEY")
    assert write_package(path, "cc_1.0", "127.0.0.1:9999", other) != first  # a new key is a new package
    assert write_package(path, "cc_1.0", "127.0.0.1:9998", tls) != first
