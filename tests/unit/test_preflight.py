"""Preflight logic on cluster objects captured as fixtures (the user's two-node kubeadm cluster)."""

import copy
import json
from pathlib import Path

import pytest
from conftest import EXAMPLES

from fabkube.backends.k8s.preflight import ClusterSnapshot, blockers, check, cpu_millis, mem_bytes
from fabkube.backends.k8s.render import render
from fabkube.spec import load_spec, parse_spec

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "cluster_seed.json").read_text())
TOLERATE = "      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]\n"


def cluster(**changes) -> ClusterSnapshot:
    """The captured cluster, with the seed's chaincode image loaded on its nodes (the unpublished
    default image is preflight's concern in test_k8s_render and the real-node tests)."""
    data = copy.deepcopy(FIXTURE)
    data.update(copy.deepcopy(changes))
    for node in data["nodes"]:
        node["status"].setdefault("images", []).append({"names": ["docker.io/fabkube/mycc-chaincode:1.0"]})
    return ClusterSnapshot(**data)


@pytest.fixture(scope="module")
def tolerant_objects(tools, tmp_path_factory):
    """examples/seed.yaml as shipped: zk/kafka tolerate hw1's control-plane taint."""
    return render(load_spec(EXAMPLES / "seed.yaml"), tmp_path_factory.mktemp("w"), tools).objects()


@pytest.fixture(scope="module")
def seed_objects(tools, tmp_path_factory):
    """The same placement without the tolerations, as in the user's write-up."""
    text = (EXAMPLES / "seed.yaml").read_text()
    assert text.count(TOLERATE) == 2
    return render(parse_spec(text.replace(TOLERATE, "")), tmp_path_factory.mktemp("w"), tools).objects()


def test_quantities():
    assert cpu_millis("250m") == 250 and cpu_millis("2") == 2000 and cpu_millis("1.5") == 1500
    assert mem_bytes("4Gi") == 4 * 1024**3 and mem_bytes("3880Mi") == 3880 * 1024**2 and mem_bytes("1G") == 10**9


def test_control_plane_taint_blocks_without_toleration(seed_objects):
    found = check(seed_objects, cluster(), None)
    msgs = [str(f) for f in blockers(found)]
    assert len(msgs) == 1
    assert "node hw1 has taint node-role.kubernetes.io/control-plane:NoSchedule" in msgs[0]
    assert "tolerations" in msgs[0]


def test_seed_passes_with_toleration(tolerant_objects):
    found = check(tolerant_objects, cluster(), None)
    assert blockers(found) == [], [str(f) for f in found]
    text = "\n".join(str(f) for f in found)
    # zk 3x50m/256Mi + kafka 3x100m/512Mi on hw1, which already runs the API server's 250m.
    assert "capacity hw1: needs 0.45 CPU / 2.25 GiB on hw1 for type=hw1, has 1.75 CPU / 3.79 GiB free" in text
    # orderer + 2 peers, and the chaincode (no placement) which can only go to hw2 (hw1 is tainted)
    assert "capacity hw2: needs 0.33 CPU / 576 MiB on hw2 for type=hw2 + any node, has 1.90 CPU" in text
    assert "Kubernetes v1.30.4" in text and "default StorageClass local-path" in text


def test_missing_label_is_named(tolerant_objects):
    nodes = copy.deepcopy(FIXTURE["nodes"])
    nodes[1]["metadata"]["labels"]["type"] = "worker"
    msgs = [str(f) for f in blockers(check(tolerant_objects, cluster(nodes=nodes), None))]
    assert msgs == [
        "[block] placement type=hw2: no Ready node has labels type=hw2 (needed by seed-ordererorg/orderer0, "
        "seed-org1/peer0, seed-org1/peer1); label a node or change kubernetes.placement"
    ]


def test_overcommitted_single_node_says_what_is_missing(tools, tmp_path):
    spec = parse_spec(
        "name: small\norganizations: [{name: Org1, domain: org1.example.com}]\n"
        "channels: [{name: ch, organizations: [Org1]}]\n"
        "resources:\n  kafka: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: '1', memory: 1Gi}}\n"
    )
    objects = render(spec, tmp_path, tools).objects()
    node = copy.deepcopy(FIXTURE["nodes"][1])
    node["metadata"]["name"] = "node1"
    found = blockers(check(objects, cluster(nodes=[node], pods=[]), None))
    assert len(found) == 1
    assert str(found[0]).startswith(
        "[block] capacity node1: needs 1.95 CPU / 4.25 GiB on node1 for any node, has 2.00 CPU / 3.79 GiB free: "
        "lower resources"
    )


def test_dns_cni_storage_and_readiness(seed_objects):
    nodes = copy.deepcopy(FIXTURE["nodes"])
    nodes[0]["status"]["conditions"][0]["status"] = "True"  # NetworkUnavailable on hw1
    msgs = "\n".join(
        str(f)
        for f in blockers(check(seed_objects, cluster(nodes=nodes, dns_endpoints=[], storage_classes=[]), "fast"))
    )
    assert "NetworkUnavailable on hw1" in msgs
    assert "cluster DNS has no ready endpoints" in msgs
    assert "StorageClass fast does not exist; known: (none)" in msgs
    for node in nodes:
        node["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert [str(f) for f in blockers(check(seed_objects, cluster(nodes=nodes), None))] == [
        "[block] nodes: no node is Ready"
    ]


def test_every_broker_and_zookeeper_node_on_one_node_is_warned(tolerant_objects):
    """The seed pins ZooKeeper and Kafka to hw1 (the user's layout): preflight names the node whose
    loss stops every channel. Without the pin, nothing to say."""
    warned = {f.what: f.message for f in check(tolerant_objects, cluster(), None) if f.level == "warn"}
    assert warned["spread kafka"] == (
        "all 3 brokers can only run on node hw1: losing hw1 stops every channel and can lose blocks "
        "already cut; let kubernetes.placement.kafka match more nodes"
    )
    assert "all 3 ZooKeeper nodes can only run on node hw1" in warned["spread zookeeper"]
    assert "spread orderer" not in warned  # the seed has one orderer: nothing to spread


def test_spread_replicas_are_not_warned(tools, tmp_path):
    text = (EXAMPLES / "seed.yaml").read_text().replace("nodeSelector: {type: hw1}", "nodeSelector: {}")
    objects = render(parse_spec(text), tmp_path, tools).objects()
    assert not [f for f in check(objects, cluster(), None) if f.what.startswith("spread")]
