from conftest import EXAMPLES

from fabkube.spec import load_spec, local_blocks, local_port_count
from fabkube.topology import build_topology


def test_seed_local_names_and_ports():
    spec = load_spec(EXAMPLES / "seed.yaml").spec
    topo = build_topology(spec, "local")
    kafka = topo.ordering
    assert [z.name for z in kafka.zookeepers] == ["zookeeper-0", "zookeeper-1", "zookeeper-2"]
    assert [k.name for k in kafka.kafkas] == ["kafka-0", "kafka-1", "kafka-2"]
    assert [s.name for s in kafka.services] == [*(z.name for z in kafka.zookeepers), *(k.name for k in kafka.kafkas)]
    assert [p.name for p in topo.peers] == ["peer0.org1", "peer1.org1"]
    assert topo.peers[0].fqdn == "peer0.org1.example.com" and topo.peers[0].anchor and not topo.peers[1].anchor
    ports = [ep.port for z in kafka.zookeepers for ep in (z.client, z.peer, z.election)]
    ports += [k.address.port for k in kafka.kafkas]
    ports += [ep.port for o in topo.orderers for ep in (o.address, o.operations, o.admin)]
    ports += [ep.port for p in topo.peers for ep in (p.address, p.chaincode, p.operations)]
    ports += [ep.port for cc in topo.chaincodes for ep in set(cc.servers.values())]
    assert len(ports) == len(set(ports))
    assert min(ports) == spec.local.basePort and max(ports) < spec.local.basePort + local_port_count(spec)
    orderer_base, service_base, chaincode_base, peer_base = local_blocks(spec)
    assert topo.orderers[0].address.port == orderer_base and kafka.zookeepers[0].client.port == service_base
    assert topo.chaincodes[0].servers["Org1"].port == chaincode_base
    assert topo.peers[0].address.port == peer_base
    assert kafka.broker_addresses == [f"127.0.0.1:{k.address.port}" for k in kafka.kafkas]


def test_seed_k8s_dns_names():
    topo = build_topology(load_spec(EXAMPLES / "seed.yaml").spec, "k8s")
    assert topo.ordering.namespaces == ["seed-kafka"]
    brokers = topo.ordering.broker_addresses
    assert brokers == [f"kafka-{i}.kafka-headless.seed-kafka.svc.cluster.local:9092" for i in range(3)]
    assert topo.ordering.zookeeper_connect.startswith(
        "zookeeper-0.zookeeper-headless.seed-kafka.svc.cluster.local:2181,"
    )
    assert str(topo.orderers[0].address) == "orderer0.seed-ordererorg.svc.cluster.local:7050"
    assert str(topo.peers[1].address) == "peer1.seed-org1.svc.cluster.local:7051"
    assert topo.chaincodes[0].servers["Org1"].host == "cc-mycc.seed-org1.svc.cluster.local"


def test_tls_sans_cover_both_targets():
    topo = build_topology(load_spec(EXAMPLES / "seed.yaml").spec, "local")
    sans = topo.tls_sans(topo.peers[0])
    for name in (
        "peer0.org1.example.com",
        "peer0",
        "localhost",
        "127.0.0.1",
        "peer0.seed-org1",
        "peer0.seed-org1.svc.cluster.local",
    ):
        assert name in sans


def test_ha_two_orgs_share_channel():
    topo = build_topology(load_spec(EXAMPLES / "ha.yaml").spec, "local")
    ch = topo.channel("hachannel")
    assert [o.msp_id for o in ch.orgs] == ["Org1MSP", "Org2MSP"]
    assert len(ch.peers) == 4 and len(topo.orderers) == 3 and len(topo.ordering.kafkas) == 4


def test_local_ports_stay_when_the_network_grows_or_changes_type():
    """Addresses are written into channel configs and chaincode packages: a Kafka network moved to
    Raft, or grown by orderers, an org, peers of its first org or chaincodes, keeps every port it had."""
    text = (EXAMPLES / "ha.yaml").read_text()
    before = build_topology(load_spec_text(text), "local")
    grown = text.replace("orderers: 3,", "orderers: 5,").replace(
        "peers: 2}\n  - {name: Org2", "peers: 4}\n  - {name: Org2"
    )
    grown = grown.replace(
        "organizations: [Org1, Org2]}", "organizations: [Org1, Org2, Org3]}\n  - {name: ch2, organizations: [Org3]}"
    )
    grown = grown.replace("channels:", "  - {name: Org3, domain: org3.example.com, peers: 1}\nchannels:")
    grown += "  - {name: cc2, path: builtin:abstore, channel: ch2}\n"
    after = build_topology(load_spec_text(grown), "local")
    assert len(after.peers) == len(before.peers) + 3 and len(after.orderers) == 5

    def ports(topo):
        out = {o.name: (o.address, o.operations, o.admin) for o in topo.orderers}
        out |= {p.name: (p.address, p.chaincode, p.operations) for p in topo.peers}
        out |= {cc.name: tuple(set(cc.servers.values())) for cc in topo.chaincodes}
        return out

    old, new = ports(before), ports(after)
    assert {k: new[k] for k in old} == old
    every = [v for eps in new.values() for v in eps]
    assert len(set(every)) == len(every)


def load_spec_text(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "spec.yaml"
        path.write_text(text)
        return load_spec(path).spec
