"""Channel artifacts and crypto checked with the real Fabric tools (configtxgen, configtxlator, cryptogen)."""

import json
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES
from cryptography import x509

from fabkube.crypto.msp import generate_org
from fabkube.generate import generate
from fabkube.spec import load_spec
from fabkube.topology import Org, build_topology


def decode(tools, path: Path, kind: str) -> dict:
    out = subprocess.run(
        [str(tools.bin("configtxlator")), "proto_decode", "--input", str(path), "--type", kind],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


@pytest.mark.parametrize("target", ["local", "k8s"])
def test_genesis_block_is_kafka_with_topology_brokers(tools, tmp_path, target):
    loaded = load_spec(EXAMPLES / "ha.yaml")
    gen = generate(loaded, target, tmp_path, tools)
    topo = build_topology(loaded.spec, target)
    block = decode(tools, gen.layout.genesis_block, "common.Block")
    config = block["data"]["data"][0]["payload"]["data"]["config"]["channel_group"]
    orderer = config["groups"]["Orderer"]
    assert orderer["values"]["ConsensusType"]["value"]["type"] == "kafka"
    assert orderer["values"]["KafkaBrokers"]["value"]["brokers"] == topo.ordering.broker_addresses
    assert list(orderer["groups"]) == ["OrdererOrgMSP"]
    endpoints = orderer["groups"]["OrdererOrgMSP"]["values"]["Endpoints"]["value"]["addresses"]
    assert endpoints == [str(o.address) for o in topo.orderers]
    consortium = config["groups"]["Consortiums"]["groups"]["FabkubeConsortium"]["groups"]
    assert sorted(consortium) == ["Org1MSP", "Org2MSP"]
    assert "V2_0" in config["values"]["Capabilities"]["value"]["capabilities"]
    assert "V2_0" in orderer["values"]["Capabilities"]["value"]["capabilities"]
    batch = orderer["values"]["BatchSize"]["value"]
    assert batch["max_message_count"] == 10
    assert orderer["values"]["BatchTimeout"]["value"]["timeout"] == "1s"
    tx = decode(tools, gen.layout.channel_tx("hachannel"), "common.Envelope")
    update = tx["payload"]["data"]["config_update"]
    assert update["channel_id"] == "hachannel"
    app = update["write_set"]["groups"]["Application"]
    assert sorted(app["groups"]) == ["Org1MSP", "Org2MSP"]
    assert "V2_5" in app["values"]["Capabilities"]["value"]["capabilities"]
    if target == "k8s":
        assert topo.ordering.broker_addresses[0] == "kafka-0.kafka-headless.ha-kafka.svc.cluster.local:9092"


def test_anchor_update_names_anchor_peer(tools, tmp_path):
    gen = generate(load_spec(EXAMPLES / "seed.yaml"), "local", tmp_path, tools)
    tx = decode(tools, gen.layout.anchors_tx("mychannel", gen.layout.topo.orgs[0]), "common.Envelope")
    org = tx["payload"]["data"]["config_update"]["write_set"]["groups"]["Application"]["groups"]["Org1MSP"]
    anchors = org["values"]["AnchorPeers"]["value"]["anchor_peers"]
    assert anchors == [{"host": "127.0.0.1", "port": gen.layout.topo.peers[0].address.port}]


def test_generate_twice_keeps_keys(tools, tmp_path):
    loaded = load_spec(EXAMPLES / "seed.yaml")
    first = generate(loaded, "local", tmp_path, tools)
    keys = {p: p.read_bytes() for p in tmp_path.rglob("priv_sk")}
    second = generate(loaded, "k8s", tmp_path, tools)
    assert first.new_identities > 0 and second.new_identities == 0
    assert keys == {p: p.read_bytes() for p in tmp_path.rglob("priv_sk")}


CRYPTO_CONFIG = """
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template: {Count: 2}
    Users: {Count: 1}
OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs: [{Hostname: orderer0}]
"""


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*")}


def _profile(cert: x509.Certificate) -> dict:
    def ext(cls):
        try:
            return cert.extensions.get_extension_for_class(cls)
        except x509.ExtensionNotFound:
            return None

    ku, eku, bc = ext(x509.KeyUsage), ext(x509.ExtendedKeyUsage), ext(x509.BasicConstraints)
    san = ext(x509.SubjectAlternativeName)
    return {
        "subject_types": [a.oid.dotted_string for a in cert.subject],
        "ous": [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)],
        "cn": cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value,
        "ku": (ku.critical, str(ku.value)) if ku else None,
        "eku": sorted(o.dotted_string for o in eku.value) if eku else None,
        "bc": (bc.critical, bc.value.ca) if bc else None,
        "ski": ext(x509.SubjectKeyIdentifier) is not None,
        "aki": ext(x509.AuthorityKeyIdentifier) is not None,
        "san_dns_has_cn": bool(san)
        and cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        in san.value.get_values_for_type(x509.DNSName),
        "curve": cert.public_key().curve.name,
    }


def test_layout_and_fields_match_real_cryptogen(tools, tmp_path):
    (tmp_path / "crypto-config.yaml").write_text(CRYPTO_CONFIG)
    theirs = tmp_path / "theirs"
    subprocess.run(
        [
            str(tools.bin("cryptogen")),
            "generate",
            "--config",
            str(tmp_path / "crypto-config.yaml"),
            "--output",
            str(theirs),
        ],
        check=True,
        capture_output=True,
    )
    ours = tmp_path / "ours"
    org = Org("Org1", "Org1MSP", "org1.example.com", "peer", "ns", 1)
    generate_org(
        ours, org, [(f"peer{i}.org1.example.com", [f"peer{i}.org1.example.com", f"peer{i}"]) for i in range(2)]
    )
    orderer = Org("Orderer", "OrdererMSP", "example.com", "orderer", "ns", 0)
    generate_org(ours, orderer, [("orderer0.example.com", ["orderer0.example.com", "orderer0"])])
    assert len(_tree(theirs)) > 40
    assert _tree(ours) == _tree(theirs)
    for cert_path in sorted(theirs.rglob("*.pem")) + sorted(theirs.rglob("*.crt")):
        rel = cert_path.relative_to(theirs)
        mine = x509.load_pem_x509_certificate((ours / rel).read_bytes())
        real = x509.load_pem_x509_certificate(cert_path.read_bytes())
        assert _profile(mine) == _profile(real), rel
    for cfg in theirs.rglob("config.yaml"):
        import yaml

        assert yaml.safe_load((ours / cfg.relative_to(theirs)).read_text()) == yaml.safe_load(cfg.read_text())
