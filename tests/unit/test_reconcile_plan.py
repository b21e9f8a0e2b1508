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
    ],
)
def test_what_up_refuses(edit, reason):
    plan = diff(spec(), spec(edit), "local", "/w")
    assert any(reason in r for r in plan.refusals), plan.refusals
    assert plan.lines() == []


def test_an_org_inserted_before_others_would_move_their_ports():
    def insert(d):
        d["organizations"].insert(0, {"name": "Org0", "domain": "org0.example.com", "peers": 1})

    plan = diff(spec(), spec(insert), "local")
    assert any("would move to another local port" in r for r in plan.refusals)
    assert not diff(spec(), spec(insert), "k8s").refusals  # in-cluster ports are fixed


def test_more_consenters_on_kubernetes_are_refused_for_now():
    more = spec(lambda d: d["ordering"].update(orderers=5), "raft.yaml")
    assert diff(spec(name="raft.yaml"), more, "local").lines() == [
        "add orderer orderer3 (OrdererOrg) as a consenter of every channel",
        "add orderer orderer4 (OrdererOrg) as a consenter of every channel",
    ]
    assert "adding consenters on Kubernetes is not supported" in diff(spec(name="raft.yaml"), more, "k8s").refusals[0]


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
