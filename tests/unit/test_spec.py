"""The spec rules: every bad spec gives one line naming the field (and YAML line) and what is allowed."""

import textwrap

import pytest
from conftest import EXAMPLES

from fabkube.errors import UserError
from fabkube.spec import load_spec, parse_spec

BASE = """\
name: net
organizations:
  - {name: Org1, domain: org1.example.com, peers: 2}
channels:
  - {name: ch, organizations: [Org1]}
chaincodes:
  - {name: cc, path: "builtin:abstore", channel: ch}
"""


def spec_with(extra: str = "", base: str = BASE, replace: tuple[str, str] | None = None) -> str:
    text = base
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    return text + textwrap.dedent(extra)


def test_examples_are_valid():
    seed = load_spec(EXAMPLES / "seed.yaml")
    assert seed.spec.kafka.brokers == 3 and seed.spec.zookeeper.nodes == 3
    assert seed.spec.kubernetes.placement.kafka.nodeSelector == {"type": "hw1"}
    assert any("replicationFactor" in w and "equals the broker count" in w for w in seed.warnings)
    ha = load_spec(EXAMPLES / "ha.yaml")
    assert ha.spec.kafka.brokers == 4 and ha.spec.ordering.orderers == 3
    assert ha.warnings == []


def test_defaults():
    spec = parse_spec(BASE).spec
    assert spec.tls is True
    assert spec.ordering.orgName == "OrdererOrg" and spec.ordering.domain == "example.com"
    assert spec.organizations[0].users == 1
    assert spec.kubernetes.images.registry == "docker.io"


BAD = [
    ("unknown field", spec_with("colour: blue\n"), "colour (line 8): unknown field"),
    ("nested unknown", spec_with("kafka: {brokers: 3, replicas: 2}\n"), "kafka.replicas (line 8): unknown field"),
    ("name not dns", spec_with(replace=("name: net", "name: My_Net")), "name (line 1): 'My_Net' is not a DNS-1123"),
    (
        "dup org",
        spec_with(
            replace=(
                "  - {name: Org1, domain: org1.example.com, peers: 2}\n",
                "  - {name: Org1, domain: org1.example.com, peers: 2}\n  - {name: Org1, domain: org9.example.com}\n",
            )
        ),
        "organizations[1].name (line 4): duplicate organization name 'Org1'",
    ),
    (
        "dup channel",
        spec_with(
            replace=(
                "  - {name: ch, organizations: [Org1]}\n",
                "  - {name: ch, organizations: [Org1]}\n  - {name: ch, organizations: [Org1]}\n",
            )
        ),
        "channels[1].name (line 6): duplicate channel name 'ch'",
    ),
    (
        "unknown org",
        spec_with(replace=("organizations: [Org1]", "organizations: [Org1, Org7]")),
        "channels[0].organizations[1] (line 5): unknown organization 'Org7'; known: Org1",
    ),
    (
        "unknown channel",
        spec_with(replace=("channel: ch}", "channel: nope}")),
        "chaincodes[0].channel (line 7): unknown channel 'nope'; known: ch",
    ),
    (
        "rf above brokers",
        spec_with("kafka: {brokers: 2, replicationFactor: 3, minInsyncReplicas: 1}\n"),
        "kafka.replicationFactor (line 8): 3 is above the broker count 2; allowed: 1 to 2",
    ),
    (
        "isr above rf",
        spec_with("kafka: {brokers: 4, replicationFactor: 2, minInsyncReplicas: 3}\n"),
        "kafka.minInsyncReplicas (line 8): 3 is above replicationFactor 2; allowed: 1 to 2",
    ),
    ("zero brokers", spec_with("kafka: {brokers: 0}\n"), "kafka.brokers (line 8): must be at least 1"),
    ("zero zk", spec_with("zookeeper: {nodes: 0}\n"), "zookeeper.nodes (line 8): must be at least 1"),
    (
        "anchor out of range",
        spec_with(replace=("peers: 2}", "peers: 2, anchorPeers: [2]}")),
        "organizations[0].anchorPeers[0] (line 3): peer index 2 does not exist; allowed: 0 to 1",
    ),
    ("port overflow", spec_with("local: {basePort: 65530}\n"), "local.basePort (line 8): 65530 leaves too few ports"),
    (
        "bad builtin",
        spec_with(replace=("builtin:abstore", "builtin:nope")),
        "chaincodes[0].path (line 7): 'builtin:nope' is not a built-in chaincode; allowed: builtin:abstore",
    ),
    (
        "bad duration",
        spec_with("ordering: {batchTimeout: soon}\n"),
        "ordering.batchTimeout (line 8): 'soon' is not a duration",
    ),
    ("bad version", spec_with("fabric: {version: 2.5.16}\n"), "fabric.version (line 8): 2.5.16 cannot be built here"),
    (
        "same domain as orderer",
        spec_with(replace=("domain: org1.example.com", "domain: example.com")),
        "organizations[0].domain (line 3): 'example.com' is the orderer organization's domain",
    ),
    ("missing orgs", "name: x\n", "organizations (line 1): required field is missing"),
    ("not yaml", "name: [x\n", "not valid YAML"),
    ("not a mapping", "- a\n", "must be a YAML mapping"),
]


@pytest.mark.parametrize("label,text,message", BAD, ids=[b[0] for b in BAD])
def test_bad_specs(label, text, message):
    with pytest.raises(UserError) as exc:
        parse_spec(text)
    assert any(message in p for p in exc.value.problems), exc.value.problems
    assert exc.value.exit_code == 2


def test_all_problems_reported_at_once():
    text = spec_with("kafka: {brokers: 2, replicationFactor: 3}\n", replace=("channel: ch}", "channel: x}"))
    with pytest.raises(UserError) as exc:
        parse_spec(text)
    assert len(exc.value.problems) == 2


WARN = [
    ("even zk", "zookeeper: {nodes: 2}\n", "zookeeper.nodes (line 8): 2 is even"),
    ("rf 1", "kafka: {brokers: 1, replicationFactor: 1, minInsyncReplicas: 1}\n", "kafka.replicationFactor"),
    (
        "isr equals rf",
        "kafka: {brokers: 4, replicationFactor: 3, minInsyncReplicas: 3}\n",
        "kafka.minInsyncReplicas (line 8): 3 equals replicationFactor",
    ),
]


@pytest.mark.parametrize("label,extra,message", WARN, ids=[w[0] for w in WARN])
def test_warnings(label, extra, message):
    loaded = parse_spec(spec_with(extra))
    assert any(message in w for w in loaded.warnings), loaded.warnings


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_schema_describes_every_field_and_carries_patterns():
    """Editors complete and check a spec from `fabkube schema`: every property has a description,
    and fields with a textual rule carry it as a pattern."""
    from fabkube.spec import json_schema

    schema = json_schema()
    defs = {**schema.get("$defs", {}), "NetworkSpec": schema}
    missing = [
        f"{name}.{prop}"
        for name, d in defs.items()
        for prop, body in d.get("properties", {}).items()
        if not body.get("description")
    ]
    assert missing == []
    assert defs["NetworkSpec"]["properties"]["name"]["pattern"] == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    assert "pattern" in defs["OrderingSpec"]["properties"]["batchTimeout"]
    assert "pattern" in defs["ResourceSpec"]["properties"]["memory"]


def test_collection_rules():
    from fabkube.spec import parse_spec

    base = (
        "name: c\norganizations: [{name: Org1, domain: org1.example.com}]\n"
        "channels: [{name: ch, organizations: [Org1]}]\n"
    )
    ok = parse_spec(base + "chaincodes: [{name: cc, path: 'builtin:abstore', channel: ch, collections: [{name: s}]}]\n")
    from fabkube.topology import build_topology

    (coll,) = build_topology(ok.spec).chaincodes[0].collections
    assert coll["policy"] == "OR('Org1MSP.member')" and coll["maxPeerCount"] == 1 and coll["memberOnlyRead"]
    bad = base + (
        "chaincodes: [{name: cc, path: 'builtin:abstore', channel: ch,"
        " collections: [{name: _s, requiredPeerCount: 2}, {name: _s}]}]\n"
    )
    with pytest.raises(UserError) as exc:
        parse_spec(bad)
    text = str(exc.value)
    assert "chaincodes[0].collections[0].name" in text and "not first '_' or '-'" in text
    assert "chaincodes[0].collections[0].requiredPeerCount" in text and "allowed: 0 to 1" in text
    assert "duplicate collection name '_s'" in text


FABRIC3 = [
    ("kafka on 3", "fabric: {version: 3.1.1}\n", "kafka is gone in Fabric 3.1.1 (no Kafka consenter"),
    ("bft on 2.5", "ordering: {type: bft, orderers: 4}\n", "bft needs Fabric 3 (fabric.version 3.1.1), not 2.5.9"),
    ("bft of 3", "fabric: {version: 3.1.1}\nordering: {type: bft, orderers: 3}\n", "BFT needs 3f+1, at least 4"),
    (
        "bft no tls",
        "fabric: {version: 3.1.1}\ntls: false\nordering: {type: bft, orderers: 4}\n",
        "consenters authenticate",
    ),
    ("3.0.0", "fabric: {version: 3.0.0}\n", "'3.0.0' is not available; allowed: 2.5.16, 2.5.9, 3.1.1"),
]


@pytest.mark.parametrize("label,text,message", FABRIC3, ids=[b[0] for b in FABRIC3])
def test_fabric3_rules(label, text, message):
    with pytest.raises(UserError) as exc:
        parse_spec(spec_with(text))
    assert any(message in p for p in exc.value.problems), exc.value.problems


def test_bft_example_and_its_warnings():
    bft = load_spec(EXAMPLES / "bft.yaml")
    assert bft.spec.ordering.type == "bft" and bft.spec.fabric.version == "3.1.1" and bft.warnings == []
    five = parse_spec(spec_with("fabric: {version: 3.1.1}\nordering: {type: bft, orderers: 5}\n"))
    assert any("5 BFT consenters tolerate 1 faulty, as 4 do" in w for w in five.warnings), five.warnings
    raft3 = parse_spec(spec_with("fabric: {version: 3.1.1}\nordering: {type: raft, orderers: 3}\n"))
    assert raft3.spec.ordering.type == "raft"
