"""The ha spec on three real nodes: delete a Kafka pod, then an orderer pod, while transactions flow.

Every transaction is accounted for: each one the client saw committed (VALID) is on the ledger,
each one that failed failed with an error the client saw, and sent = committed + failed.
"""

import os
import time

import pytest
from conftest import EXAMPLES, run_cli
from kubernetes import client, config
from load import SubmitLoad
from tooling.k8s_cluster import MIRROR, RealCluster

from fabkube.backends import open_network

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tools):
    yield from RealCluster(tools=tools).for_tests(3)


def ha_spec(tmp_path):
    text = (EXAMPLES / "ha.yaml").read_text()
    text = text.replace('path: "builtin:abstore"', 'path: "builtin:asset-transfer-basic"')
    text = text.replace('    init: [a, "100", b, "200"]\n', "")
    assert "asset-transfer-basic" in text and "init:" not in text and "kubernetes:" not in text
    # Every image from the mirror, as the user needed: the same manifests, only the registry changed.
    text += f"kubernetes:\n  images: {{registry: {MIRROR}}}\n"
    path = tmp_path / "ha.yaml"
    path.write_text(text)
    return path


def wait_pod_replaced(core, ns: str, name: str, old_uid: str, timeout: float = 300) -> float:
    """Seconds until the StatefulSet's new pod of that name is Ready."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            pod = core.read_namespaced_pod(name, ns)
            statuses = pod.status.container_statuses or []
            if pod.metadata.uid != old_uid and statuses and all(s.ready for s in statuses):
                return time.monotonic() - start
        except client.exceptions.ApiException:
            pass
        time.sleep(1)
    raise AssertionError(f"{ns}/{name} not back within {timeout}s")


def test_ha_survives_kafka_and_orderer_pod_deletions(cluster, home, tmp_path):
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    spec = ha_spec(tmp_path)
    cluster.load_chaincode_images(spec)
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    try:
        start = time.monotonic()
        up = run_cli("up", str(spec), "--target", "k8s", home=home, timeout=1200)
        print(f"ha up on real pods in {time.monotonic() - start:.0f}s")
        assert "lifecycle Job succeeded" in up.stderr, up.stderr
        pods = core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=ha").items
        assert {p.spec.node_name for p in pods if p.status.phase == "Running"} <= {"hw2", "hw3"}
        images = {c.image for p in pods for c in [*p.spec.containers, *(p.spec.init_containers or [])]}
        assert images and all(i.startswith(f"{MIRROR}/") for i in images), images
        # Spread (preferred anti-affinity): brokers and orderers use both workers.
        for kind in ("kafka", "orderer"):
            assert {p.spec.node_name for p in pods if p.metadata.labels["app.kubernetes.io/component"] == kind} == {
                "hw2",
                "hw3",
            }, kind

        net = open_network(home / "networks" / "ha-k8s")
        with net.gateway("Org1") as gw:
            contract = gw.contract("hachannel", "abcc")
            with SubmitLoad(contract, "asset", workers=4, timeout=60) as load:
                time.sleep(10)
                for ns, name in (("ha-kafka", "kafka-1"), ("ha-ordererorg", "orderer0-0")):
                    uid = core.read_namespaced_pod(name, ns).metadata.uid
                    before = load.count()
                    core.delete_namespaced_pod(name, ns)
                    back = wait_pod_replaced(core, ns, name, uid)
                    time.sleep(10)
                    after = load.count()
                    print(f"deleted {name}: back in {back:.0f}s; {after - before} committed meanwhile")
                    assert after > before, f"no transaction committed while {name} was replaced and after"
            print(load.summary())
            assert len(load.committed) + len(load.failed) == len(load.outcomes) > 0
            missing = load.missing_on(contract)
            assert not missing, f"reported committed but not on the ledger: {missing[:10]}"
        grow_in_pods(home, spec, load.committed)
        run_cli("down", "--network", "ha-k8s", "--purge", home=home)
    finally:
        del os.environ["KUBECONFIG"]


def grow_in_pods(home, spec, written: list[str]) -> None:
    """Day two on the same network: Org3 joins hachannel (and the consortium), Org1 gains a third
    peer, and the chaincode is redefined so that Org1 and Org3 must both endorse. `plan` says it,
    `up` applies it; Org3's peer reads what was written before it joined and endorses; the new peer
    holds every transaction; `plan` then says no changes."""
    text = spec.read_text()
    text = text.replace(
        "{name: Org1, domain: org1.example.com, peers: 2}", "{name: Org1, domain: org1.example.com, peers: 3}"
    )
    text = text.replace(
        "  - {name: Org2, domain: org2.example.com, peers: 2}\n",
        "  - {name: Org2, domain: org2.example.com, peers: 2}\n  - {name: Org3, domain: org3.example.com, peers: 1}\n",
    )
    text = text.replace("organizations: [Org1, Org2]}", "organizations: [Org1, Org2, Org3]}")
    text = text.replace("AND('Org1MSP.peer','Org2MSP.peer')\"", "AND('Org1MSP.peer','Org3MSP.peer')\"\n    sequence: 2")
    grown = spec.with_name("ha-grown.yaml")
    grown.write_text(text)
    expected = [
        "add peer peer2.org1 to Org1: joins hachannel",
        "add organization Org3 (Org3MSP, 1 peer); joins hachannel",
        "redefine chaincode abcc at sequence 2 (endorsement policy AND('Org1MSP.peer','Org3MSP.peer'))",
    ]
    assert run_cli("plan", str(grown), "--target", "k8s", home=home).stdout.strip().splitlines() == expected
    start = time.monotonic()
    up = run_cli("up", str(grown), "--target", "k8s", home=home, timeout=1200)
    print(f"ha grown by an org and a peer in real pods in {time.monotonic() - start:.0f}s")
    assert all(f"  {line}" in up.stderr for line in expected), up.stderr
    assert "Org3 to the consortium, Org3 to hachannel" in up.stderr and "signed by Org1, Org2" in up.stderr
    assert "lifecycle Job succeeded" in up.stderr, up.stderr
    net = open_network(home / "networks" / "ha-k8s")
    with net.gateway("Org3") as gw:
        contract = gw.contract("hachannel", "abcc")
        assert contract.evaluate("AssetExists", written[0], timeout=30) == b"true"
        contract.submit("CreateAsset", "org3-asset", "green", "1", "org3", "1", timeout=60)
    with net.gateway("Org1", "peer2.org1") as gw:
        newest = gw.contract("hachannel", "abcc")
        missing = [k for k in [*written, "org3-asset"] if newest.evaluate("AssetExists", k, timeout=30) != b"true"]
        assert not missing, f"peer2.org1 lacks {len(missing)} of {len(written) + 1}: {missing[:5]}"
    assert run_cli("plan", str(grown), "--target", "k8s", home=home).stdout.strip() == "no changes"
