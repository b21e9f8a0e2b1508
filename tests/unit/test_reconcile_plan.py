"""The diff `up` and `plan` share: what a changed spec adds, and what is refused before anything runs."""

import pytest
import yaml
from conftest import EXAMPLES

from fabkube.reconcile.members import signatures_needed
from fabkube.reconcile.plan import diff
from fabkube.spec import parse_spec


def spec(edit=None, name="ha.yaml"):
    data = yaml.safe_load((EXAMPLES / name).read_text())
    if edit:
        edit(data)
    return parse_spec(yaml.safe_dump(data)).spec


def add_org3(d):
    d["organizations"].append({"name": "Org3", "domain": "org3.example.com", "peers": 1})
    d["channels"][0]["organizations"].append("Org3")


def test_nothing_applied_yet_is_a_fresh_network():
    plan = diff(None, spec(), "local")
    assert plan.fresh and plan.lines() == ["create the network (nothing applied yet)"] and not plan.refusals


def test_the_same_spec_changes_nothing():
    plan = diff(spec(), spec(), "local")
    assert plan.lines() == ["no changes"] and not plan.changes and not plan.refusals


def test_a_new_org_a_peer_a_channel_and_a_new_sequence():
    def grow(d):
        add_org3(d)
        d["organizations"][0]["peers"] = 3
        d["channels"].append({"name": "second", "organizations": ["Org2", "Org3"]})
        d["chaincodes"][0]["sequence"] = 2
        d["chaincodes"][0]["endorsementPolicy"] = "AND('Org1MSP.peer','Org3MSP.peer')"

    plan = diff(spec(), spec(grow), "local")
    assert not plan.refusals
    assert plan.lines() == [
        "add peer peer2.org1 to Org1: joins hachannel",
        "add organization Org3 (Org3MSP, 1 peer); joins hachannel",
        "create channel second (Org2, Org3)",
        "redefine chaincode abcc at sequence 2 (endorsement policy AND('Org1MSP.peer','Org3MSP.peer'))",
    ]
    assert plan.org_additions() == {"hachannel": ["Org3"]} and plan.new_orgs() == ["Org3"]


def test_an_existing_org_added_to_a_channel():
    def widen(d):
        d["organizations"].append({"name": "Org3", "domain": "org3.example.com", "peers": 1})
        d["channels"].append({"name": "second", "organizations": ["Org3"]})

    before = spec(widen)

    def more(d):
        widen(d)
        d["channels"][1]["organizations"].append("Org1")

    plan = diff(before, spec(more), "local")
    assert plan.lines() == ["add Org1 to channel second"] and plan.org_additions() == {"second": ["Org1"]}
    assert plan.new_orgs() == []


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda d: [d["organizations"].pop(), d["channels"][0]["organizations"].pop()], "organizations: Org2 removed"),
        (lambda d: d["organizations"][0].update(peers=1), "peers: peer1.org1 removed"),
        (lambda d: d["channels"][0]["organizations"].pop(), "channels: hachannel loses Org2"),
        (lambda d: d.update(channels=[], chaincodes=[]), "channels: hachannel removed"),
        (lambda d: d["organizations"][0].update(domain="x.example.com"), "Org1.domain org1.example.com -> x"),
        (lambda d: d["ordering"].update(type="raft"), "move it with `fabkube migrate --to raft"),
        (lambda d: d.update(tls=False), "tls: True -> False"),
        (lambda d: d["kafka"].update(brokers=5), "kafka.brokers: 4 -> 5"),
        (lambda d: d["chaincodes"][0].update(version="2.0"), "raise its sequence to 2"),
        (lambda d: d["ordering"].update(orderers=2), "ordering orderers: orderer2 removed"),
        (lambda d: d["ordering"].update(orderers=4), "a Kafka network does not grow by orderers"),
        (lambda d: d["ordering"].update(batchTimeout="3s"), "ordering.batchTimeout: 1s -> 3s: running channels keep"),
        (lambda d: d["organizations"][0].update(anchorPeers=[1]), "Org1.anchorPeers [0] -> [1]"),
        (lambda d: d.update(kubernetes={"namespacePrefix": "other"}), None),  # local: names no address
        (lambda d: d["local"].update(basePort=17300), "local: orderer0, orderer1, orderer2 would move"),
    ],
)
def test_what_up_refuses(edit, reason):
    plan = diff(spec(), spec(edit), "local", "/w")
    if reason is None:
        assert not plan.refusals
        return
    assert any(reason in r for r in plan.refusals), plan.refusals
    assert plan.lines() == []


def test_what_up_refuses_on_kubernetes():
    prefix = spec(lambda d: d.setdefault("kubernetes", {}).update(namespacePrefix="other"))
    assert "the namespaces of a running network cannot change" in diff(spec(), prefix, "k8s").refusals[0]
    same = spec(lambda d: d.setdefault("kubernetes", {}).update(namespacePrefix="ha"))
    assert diff(spec(), same, "k8s").refusals == []  # its default, spelled out


def test_orderers_added_to_an_orderer_org_that_is_not_the_last_would_rename_others():
    grown = spec(lambda d: d["ordering"]["organizations"][0].update(orderers=3), "raft-orgs.yaml")
    refusals = diff(spec(name="raft-orgs.yaml"), grown, "local").refusals
    assert any("orderer2 would become orderer2.ord1.example.com of OrdererOrg1" in r for r in refusals), refusals


def test_new_users_and_init_arguments():
    plan = diff(spec(), spec(lambda d: d["organizations"][1].update(users=3)), "local")
    assert plan.lines() == ["add 2 user identities to Org2"]
    # Init's arguments are not part of Fabric's definition (only that Init is required).
    init = spec(lambda d: d["chaincodes"][0].update(init=["a", "1"]), "raft.yaml")
    assert diff(spec(name="raft.yaml"), init, "local").refusals == []


def test_an_org_inserted_before_others_would_move_their_ports():
    def insert(d):
        d["organizations"].insert(0, {"name": "Org0", "domain": "org0.example.com", "peers": 1})

    plan = diff(spec(), spec(insert), "local")
    assert any("would move to another port" in r and "new orgs come last" in r for r in plan.refusals)
    assert not diff(spec(), spec(insert), "k8s").refusals  # in-cluster ports are fixed


def test_more_consenters_on_either_target_and_none_on_bft():
    more = spec(lambda d: d["ordering"].update(orderers=5), "raft.yaml")
    for target in ("local", "k8s"):
        plan = diff(spec(name="raft.yaml"), more, target)
        assert not plan.refusals and plan.lines() == [
            "add orderer orderer3 (OrdererOrg) as a consenter of every channel",
            "add orderer orderer4 (OrdererOrg) as a consenter of every channel",
        ], target
    five = spec(lambda d: d["ordering"].update(orderers=5), "bft.yaml")
    assert (
        "adding BFT consenters to a running network is not supported yet"
        in diff(spec(name="bft.yaml"), five, "local").refusals[0]
    )


def test_signatures_follow_the_channels_admins_rule():
    def group(rule, type_=3):
        return {"mod_policy": "Admins", "policies": {"Admins": {"policy": {"type": type_, "value": {"rule": rule}}}}}

    assert [signatures_needed(group("MAJORITY"), n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert signatures_needed(group("ANY"), 4) == 1 and signatures_needed(group("ALL"), 4) == 4
    with pytest.raises(Exception, match="not an ImplicitMeta"):
        signatures_needed(group("MAJORITY", type_=1), 2)


def test_a_definition_an_unfinished_up_may_not_have_committed_may_still_change():
    v2 = spec(lambda d: d["chaincodes"][0].update(version="2.0"))
    assert diff(spec(), v2, "local", finished=False).refusals == []
    assert "raise its sequence to 2" in diff(spec(), v2, "local").refusals[0]


def test_a_network_from_the_earlier_port_numbering_is_refused_not_moved(tmp_path):
    import json

    from fabkube.backends.local.network import PORT_LAYOUT, LocalNetwork
    from fabkube.errors import UserError
    from fabkube.spec import load_spec

    workdir = tmp_path / "ha"
    workdir.mkdir()
    (workdir / "state.json").write_text(json.dumps({"done": ["channel-create:hachannel"], "processes": {}}))
    net = LocalNetwork(load_spec(EXAMPLES / "ha.yaml"), workdir)
    with pytest.raises(UserError, match="numbered local ports otherwise"):
        net.check_port_layout()
    net.state.data["port_layout"] = PORT_LAYOUT
    net.check_port_layout()  # brought up with blocks: fine


def test_ordering_type_changes_are_refused_with_the_way_to_go():
    kafka, raft = spec(), spec(name="raft.yaml")
    as_kafka = spec(lambda d: d["ordering"].update(type="kafka"), "raft.yaml")
    assert "was migrated to raft" in diff(raft, as_kafka, "local").refusals[0]
    as_raft = spec(lambda d: d["ordering"].update(type="raft"))
    assert "fabkube migrate --to raft" in diff(kafka, as_raft, "local").refusals[0]
    raft3 = spec(lambda d: (d["fabric"].update(version="3.1.1"), d["ordering"].update(orderers=4)), "raft.yaml")
    as_bft = spec(
        lambda d: (d["fabric"].update(version="3.1.1"), d["ordering"].update(type="bft", orderers=4)), "raft.yaml"
    )
    assert "move it with `fabkube migrate --to bft --network raft`" in diff(raft3, as_bft, "local").refusals[0]
