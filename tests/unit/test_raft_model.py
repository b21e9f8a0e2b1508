"""Raft through the seam: its spec rules, configtx (consenters, no system channel), orderer
settings, lifecycle steps (osnadmin joins, no anchor updates) and rendered manifests, against
the real configtxgen and the official Kubernetes schemas."""

import kubernetes_validate
import pytest
from conftest import EXAMPLES

from fabkube.backends.k8s.render import render
from fabkube.channel.configtx import render_configtx
from fabkube.components import orderer_env
from fabkube.errors import RuntimeFailure, UserError
from fabkube.generate import generate
from fabkube.ops.lifecycle import channel_steps, shell_script
from fabkube.spec import load_spec, parse_spec

RAFT = (EXAMPLES / "raft.yaml").read_text()


def test_spec_rules():
    with pytest.raises(UserError, match=r"tls .*false is not allowed with ordering.type raft"):
        parse_spec(RAFT + "tls: false\n")
    bad = RAFT.replace("maxMessageCount: 10}", "maxMessageCount: 10, raft: {heartbeatTick: 10}}")
    with pytest.raises(UserError, match=r"ordering.raft.heartbeatTick.*10 must be below electionTick 10"):
        parse_spec(bad)
    one = parse_spec(RAFT.replace("orderers: 3", "orderers: 1"))
    assert any("1 Raft consenter(s) tolerate no failure" in w for w in one.warnings)
    assert not parse_spec(RAFT).warnings  # no Kafka advice for a Raft network
    with pytest.raises(UserError, match="must be one of"):
        parse_spec(RAFT.replace("type: raft", "type: solo"))


@pytest.fixture(scope="module")
def generated(tools, tmp_path_factory):
    return generate(load_spec(EXAMPLES / "raft.yaml"), "local", tmp_path_factory.mktemp("raft"), tools)


def test_configtx_has_consenters_and_no_system_channel(generated):
    layout = generated.layout
    cfg = render_configtx(layout)
    assert "SystemChannel" not in cfg["Profiles"]
    profile = cfg["Profiles"]["Channel_mychannel"]
    assert "Consortium" not in profile and profile["Orderer"]["OrdererType"] == "etcdraft"
    consenters = profile["Orderer"]["EtcdRaft"]["Consenters"]
    assert [(c["Host"], c["Port"]) for c in consenters] == [
        (o.address.host, o.address.port) for o in layout.topo.orderers
    ]
    assert all(c["ClientTLSCert"] == c["ServerTLSCert"] for c in consenters)
    assert profile["Orderer"]["EtcdRaft"]["Options"]["SnapshotIntervalSize"] == "16 MB"
    # configtxgen made a genesis block per channel and nothing of a system channel
    assert [p.name for p in generated.files] == ["mychannel.block"]
    assert not layout.genesis_block.exists()


def test_orderers_boot_empty_with_participation_and_admin_mutual_tls(generated):
    layout = generated.layout
    env = orderer_env(layout.topo, layout.topo.orderers[0], layout, "/data")
    assert env["ORDERER_GENERAL_BOOTSTRAPMETHOD"] == "none" and "ORDERER_GENERAL_BOOTSTRAPFILE" not in env
    assert env["ORDERER_CHANNELPARTICIPATION_ENABLED"] == "true"
    assert env["ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED"] == "true"
    assert env["ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE"] == env["ORDERER_GENERAL_TLS_CERTIFICATE"]


def test_channel_steps_join_orderers_then_peers_without_anchor_updates(generated):
    layout = generated.layout
    steps = channel_steps(layout, layout.topo.channel("mychannel"))
    ids = [s.id for s in steps]
    assert ids == [
        "orderer-join:mychannel:orderer0",
        "orderer-join:mychannel:orderer1",
        "orderer-join:mychannel:orderer2",
        "channel-join:mychannel:peer0.org1",
        "channel-join:mychannel:peer1.org1",
    ]
    join = steps[0].commands[0]
    assert join.tool == "osnadmin" and join.expect == "Status: 201" and steps[0].done_if.expect == "Status: 200"
    assert "--client-cert" in join.args and "--config-block" in join.args
    script = shell_script(steps, layout, "/etc/hyperledger/fabric")
    assert "osnadmin channel join --channelID mychannel" in script and "anchors" not in script


def test_manifests_without_genesis_configmap_and_with_admin_tls_for_the_job(tools, tmp_path):
    r = render(load_spec(EXAMPLES / "raft.yaml"), tmp_path, tools)
    objects = r.objects()
    for obj in objects:
        kubernetes_validate.validate(obj, "1.33.0", strict=True)
    assert not [o for o in objects if o["metadata"]["name"] == "genesis-block"]
    orderers = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"].startswith("orderer")]
    assert len(orderers) == 3
    probe = orderers[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    job = next(o for o in objects if o["kind"] == "Job")
    crypto = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "crypto")
    paths = {i["path"] for i in crypto["secret"]["items"]}
    admin_tls = "ordererOrganizations/example.com/users/Admin@example.com/tls"
    assert {f"{admin_tls}/client.crt", f"{admin_tls}/client.key"} <= paths, sorted(paths)
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "lifecycle")
    assert "mychannel.block" in config["binaryData"] and "osnadmin channel join" in config["data"]["lifecycle.sh"]


def test_orderer_organizations_rules_and_topology():
    from fabkube.topology import build_topology

    orgs = parse_spec((EXAMPLES / "raft-orgs.yaml").read_text()).spec
    topo = build_topology(orgs, "k8s")
    assert [o.name for o in topo.orderer_orgs] == ["OrdererOrg1", "OrdererOrg2"]
    assert [(o.name, o.org.name, o.fqdn) for o in topo.orderers] == [
        ("orderer0", "OrdererOrg1", "orderer0.ord1.example.com"),
        ("orderer1", "OrdererOrg1", "orderer1.ord1.example.com"),
        ("orderer2", "OrdererOrg2", "orderer2.ord2.example.com"),
    ]
    assert topo.orderers[2].address.host == "orderer2.raftorgs-ordererorg2.svc.cluster.local"
    kafka = (EXAMPLES / "raft-orgs.yaml").read_text().replace("type: raft", "type: kafka")
    with pytest.raises(UserError, match=r"several orderer organizations need ordering\.type raft or bft, not kafka"):
        parse_spec(kafka)
    bad = (
        (EXAMPLES / "raft-orgs.yaml")
        .read_text()
        .replace("name: OrdererOrg2, domain: ord2.example.com", "name: o_2, domain: Not A Domain")
    )
    with pytest.raises(UserError) as exc:
        parse_spec(bad)
    assert "ordering.organizations[1].name" in str(exc.value) and "ordering.organizations[1].domain" in str(exc.value)
    ignored = (EXAMPLES / "raft-orgs.yaml").read_text().replace("batchTimeout: 1s", "batchTimeout: 1s\n  orderers: 5")
    assert any("orderers ignored: ordering.organizations names the orderers" in w for w in parse_spec(ignored).warnings)
    clash = (EXAMPLES / "raft-orgs.yaml").read_text().replace("domain: org2.example.com", "domain: ord2.example.com")
    with pytest.raises(UserError, match=r"organizations\[1\].domain.*'ord2.example.com' is the orderer"):
        parse_spec(clash)


def test_configtx_with_two_orderer_orgs(tools, tmp_path):
    layout = generate(parse_spec((EXAMPLES / "raft-orgs.yaml").read_text()), "local", tmp_path, tools).layout
    orderer = render_configtx(layout)["Profiles"]["Channel_mychannel"]["Orderer"]
    assert [o["Name"] for o in orderer["Organizations"]] == ["OrdererOrg1MSP", "OrdererOrg2MSP"]
    assert [len(o["OrdererEndpoints"]) for o in orderer["Organizations"]] == [2, 1]
    assert len(orderer["EtcdRaft"]["Consenters"]) == 3
    steps = channel_steps(layout, layout.topo.channel("mychannel"))
    assert [s.commands[0].org for s in steps[:3]] == ["OrdererOrg1", "OrdererOrg1", "OrdererOrg2"]
    assert "Admin@ord2.example.com" in " ".join(steps[2].commands[0].args)


def test_a_restarted_consenter_counts_as_back_only_when_the_leader_hears_from_every_consenter(monkeypatch):
    """The gauges an orderer exports (etcdraft metrics.go): a channel is whole when the active nodes
    the leader reports equal the cluster size; a channel missing either gauge is not."""
    from fabkube.consensus import participation
    from fabkube.nodes import Endpoint

    text = {"now": ""}
    monkeypatch.setattr(participation, "operations_get", lambda *_a: text["now"])
    gauges = (
        'consensus_etcdraft_active_nodes{channel="a"} %s\n'
        'consensus_etcdraft_cluster_size{channel="a"} 4\n'
        'consensus_etcdraft_cluster_size{channel="b"} 4\n'
        'consensus_etcdraft_active_nodes{channel="b"} 4\n'
    )
    text["now"] = gauges % "3"
    assert participation.raft_members_active(Endpoint("127.0.0.1", 1), None) == {"a": (3, 4), "b": (4, 4)}
    with pytest.raises(RuntimeFailure, match=r"orderer1 to hear from every consenter.*a \(3 of 4\)"):
        participation.wait_whole("orderer1", Endpoint("127.0.0.1", 1), None, ["a", "b"], None, timeout=1.5)
    with pytest.raises(RuntimeFailure, match=r"c \(\? of \?\)"):
        participation.wait_whole("orderer1", Endpoint("127.0.0.1", 1), None, ["c"], None, timeout=1.5)
    text["now"] = gauges % "4.0"
    participation.wait_whole("orderer1", Endpoint("127.0.0.1", 1), None, ["a", "b"], None, timeout=1.5)
