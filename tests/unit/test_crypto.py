import stat

from conftest import EXAMPLES
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from fabkube.crypto.msp import generate_crypto
from fabkube.layout import Layout
from fabkube.spec import load_spec
from fabkube.topology import build_topology


def _cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def _verify(child, parent):
    parent.public_key().verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))


def test_layout_chains_modes_and_sans(tmp_path):
    topo = build_topology(load_spec(EXAMPLES / "seed.yaml").spec, "local")
    layout = Layout(tmp_path, topo)
    # orderer + admin, 2 peers + admin + user, mycc's server and peer-client pairs, the Kafka brokers,
    # ZooKeeper's TLS pair and password
    assert generate_crypto(topo, layout.crypto) == 1 + 1 + 2 + 1 + 1 + 2 + 1 + 1 + 1
    sasl = layout.org_dir(topo.orderer_orgs[0]) / "kafka" / "sasl"
    assert sorted(p.name for p in sasl.iterdir()) == ["kafka.jaas", "password", "zookeeper.jaas"]
    assert {oct(p.stat().st_mode & 0o777) for p in sasl.iterdir()} == {"0o600"}
    assert generate_crypto(topo, layout.crypto) == 0  # reused, the password kept
    org = topo.orgs[0]
    root = layout.org_dir(org)
    ca = _cert(root / "ca" / "ca.org1.example.com-cert.pem")
    tlsca = _cert(root / "tlsca" / "tlsca.org1.example.com-cert.pem")
    peer = topo.peers[0]
    sign = _cert(layout.node_msp(peer) / "signcerts" / "peer0.org1.example.com-cert.pem")
    tls = _cert(layout.node_tls(peer) / "server.crt")
    _verify(sign, ca)
    _verify(tls, tlsca)
    _verify(ca, ca)
    ou = sign.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ou] == ["peer"]
    admin = _cert(layout.admin_msp(org) / "signcerts" / "Admin@org1.example.com-cert.pem")
    assert [a.value for a in admin.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["admin"]
    sans = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "peer0.org1.example.com" in sans.get_values_for_type(x509.DNSName)
    assert "peer0.seed-org1.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    keys = list(tmp_path.rglob("priv_sk")) + list(tmp_path.rglob("*.key"))
    assert len(keys) >= 10
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert (root / "msp" / "config.yaml").read_text().startswith("NodeOUs:")
    cc = _cert(layout.chaincode_tls(topo.chaincodes[0], org) / "server.crt")
    _verify(cc, tlsca)
    cc_sans = cc.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "cc-mycc.seed-org1.svc.cluster.local" in cc_sans.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in cc_sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ordtlsca = _cert(layout.org_dir(topo.orderer_org) / "tlsca" / "tlsca.example.com-cert.pem")
    broker_tls = layout.tls_pair(topo.ordering.broker_tls)
    assert broker_tls == layout.org_dir(topo.orderer_org) / "kafka" / "tls"
    kafka = _cert(broker_tls / "server.crt")
    _verify(kafka, ordtlsca)
    kafka_sans = kafka.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "*.kafka-headless.seed-kafka.svc.cluster.local" in kafka_sans.get_values_for_type(x509.DNSName)
    pem = (broker_tls / "kafka.pem").read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----") and "-----BEGIN CERTIFICATE-----" in pem


def test_generate_twice_reuses_keys(tmp_path):
    topo = build_topology(load_spec(EXAMPLES / "seed.yaml").spec, "local")
    generate_crypto(topo, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert generate_crypto(topo, tmp_path) == 0
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "signcerts" in str(p)}
    assert all(before[p] == after[p] for p in after)
