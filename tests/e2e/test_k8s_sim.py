"""The Kubernetes backend against a real control plane: kube-apiserver, controllers and scheduler
(built from the Go module proxy), etcd, and kwok simulating the user's nodes."""

import base64
import json
import re
import subprocess
import time

import pytest
from conftest import EXAMPLES, run_cli
from cryptography import x509
from kubernetes import client, config
from tooling.k8s_sim import NODE_SETS, SimCluster
from tooling.k8s_sim_build import K8sSimBuild

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def sim_tools(tools):
    K8sSimBuild(tools).install()
    return tools


def start_sim(tmp_path, nodes: str, port: int, tools) -> SimCluster:
    sim = SimCluster(tmp_path / "sim", port, tools)
    sim.up(NODE_SETS[nodes])
    return sim


def cli(*args, home, sim, check=True):
    import os

    os.environ["KUBECONFIG"] = str(sim.kubeconfig)
    try:
        return run_cli(*args, home=home, check=check)
    finally:
        del os.environ["KUBECONFIG"]


def pods_by_app(core) -> dict[str, list[client.V1Pod]]:
    out: dict[str, list] = {}
    for pod in core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of").items:
        out.setdefault(pod.metadata.labels["app.kubernetes.io/component"], []).append(pod)
    return out


def test_seed_on_the_users_two_node_cluster(sim_tools, home, tmp_path, tools):
    sim = start_sim(tmp_path, "seed", 18500, sim_tools)
    try:
        api = config.new_client_from_config(config_file=str(sim.kubeconfig))
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        spec = str(EXAMPLES / "seed.yaml")

        pre = cli("preflight", spec, home=home, sim=sim)
        assert "cluster: reachable, Kubernetes v1.36.3" in pre.stdout
        # free = 2 CPU / 4 GiB minus coredns (100m/70Mi) if the scheduler put it on that node
        assert re.search(
            r"capacity hw1: needs 0\.45 CPU / 2\.25 GiB on hw1 for type=hw1, has (2\.00 CPU / 4\.00|1\.90 "
            r"CPU / 3\.93) GiB free",
            pre.stdout,
        ), pre.stdout

        up = cli("up", spec, "--target", "k8s", "--job-timeout", "5", home=home, sim=sim)
        assert "42 objects, 42 changed" in up.stderr.replace("\n", " ")
        assert "lifecycle Job still running" in up.stderr.replace("\n", " ")

        pods = pods_by_app(core)
        assert {p.spec.node_name for k in ("zookeeper", "kafka") for p in pods[k]} == {"hw1"}
        assert {p.spec.node_name for k in ("orderer", "peer") for p in pods[k]} == {"hw2"}
        assert sorted(p.metadata.name for p in pods["kafka"]) == ["kafka-0", "kafka-1", "kafka-2"]
        assert all(p.status.phase == "Running" for ps in pods.values() for p in ps)

        # The names baked into the genesis block and the TLS certificates are what the cluster serves.
        work = home / "networks" / "seed-k8s"
        block = json.loads(
            subprocess.run(
                [
                    str(tools.bin("configtxlator")),
                    "proto_decode",
                    "--input",
                    str(work / "artifacts/system-genesis.block"),
                    "--type",
                    "common.Block",
                ],
                capture_output=True,
                check=True,
            ).stdout
        )
        orderer = block["data"]["data"][0]["payload"]["data"]["config"]["channel_group"]["groups"]["Orderer"]
        for pod in pods["kafka"]:
            assert pod.spec.subdomain is None or pod.spec.subdomain == "kafka-headless"
            assert pod.spec.hostname == pod.metadata.name
        sts = client.AppsV1Api(api).read_namespaced_stateful_set("kafka", "seed-kafka")
        assert core.read_namespaced_service(sts.spec.service_name, "seed-kafka").spec.cluster_ip == "None"
        expected = [
            f"{p}.{sts.spec.service_name}.seed-kafka.svc.cluster.local:9092"
            for p in sorted(p.metadata.name for p in pods["kafka"])
        ]
        assert orderer["values"]["KafkaBrokers"]["value"]["brokers"] == expected
        svc = core.read_namespaced_service("orderer0", "seed-ordererorg")
        secret = core.read_namespaced_secret("orderer0-crypto", "seed-ordererorg")
        key = next(k for k in secret.data if k.endswith("tls.server.crt"))
        cert = x509.load_pem_x509_certificate(base64.b64decode(secret.data[key]))
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert f"{svc.metadata.name}.seed-ordererorg.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)

        # The lifecycle Job cannot run under kwok: it exists, right image, mounts, steps; not faked done.
        job = batch.read_namespaced_job("lifecycle", "seed-org1")
        container = job.spec.template.spec.containers[0]
        assert container.image == "docker.io/hyperledger/fabric-tools:2.5.9"
        assert {m.mount_path for m in container.volume_mounts} >= {
            "/fabkube/crypto",
            "/fabkube/artifacts",
            "/fabkube/scripts",
        }
        script = core.read_namespaced_config_map("lifecycle", "seed-org1").data["lifecycle.sh"]
        assert [line for line in script.splitlines() if line.startswith("echo '==")][::4] == [
            "echo '== create channel mychannel'",
            "echo '== install mycc_1.0 on peer0.org1'",
            "echo '== init mycc a 100 b 200'",
        ]
        assert not job.status.succeeded

        again = cli("up", spec, "--target", "k8s", "--job-timeout", "1", home=home, sim=sim)
        assert "42 objects, 0 changed" in again.stderr.replace("\n", " ")
        assert batch.read_namespaced_job("lifecycle", "seed-org1").metadata.uid == job.metadata.uid

        # A new chaincode version: the script changes, and the (immutable) Job is replaced by a new one.
        v2 = tmp_path / "seed-v2.yaml"
        v2.write_text(
            (EXAMPLES / "seed.yaml")
            .read_text()
            .replace("channel: mychannel, init:", "version: '2.0', channel: mychannel, init:")
        )
        changed = cli("up", str(v2), "--target", "k8s", "--job-timeout", "1", home=home, sim=sim)
        assert changed.returncode == 0
        new_job = batch.read_namespaced_job("lifecycle", "seed-org1")
        assert new_job.metadata.uid != job.metadata.uid
        script = core.read_namespaced_config_map("lifecycle", "seed-org1").data["lifecycle.sh"]
        assert "install mycc_2.0 on peer0.org1" in script

        # NetworkPolicies turned off: the ones applied before are removed, not left enforcing.
        net = client.NetworkingV1Api(api)
        assert (
            len(net.list_network_policy_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items) == 8
        )
        off = tmp_path / "seed-open.yaml"
        off.write_text(v2.read_text().replace("kubernetes:", "kubernetes:\n  networkPolicies: false", 1))
        opened = cli("up", str(off), "--target", "k8s", "--job-timeout", "1", home=home, sim=sim)
        assert "removed NetworkPolicy seed-kafka/seed-default-deny" in opened.stderr.replace("\n", " ")
        assert net.list_network_policy_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items == []

        cli("down", "--network", "seed-k8s", home=home, sim=sim)
        time.sleep(2)
        left = [
            p.metadata.name
            for p in core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items
            if not p.metadata.deletion_timestamp
        ]
        assert left == []
        assert not client.AppsV1Api(api).list_stateful_set_for_all_namespaces().items
        assert core.list_secret_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items == []
        assert len(core.list_persistent_volume_claim_for_all_namespaces().items) == 9  # data kept

        cli("down", "--purge", "--network", "seed-k8s", home=home, sim=sim)
        assert core.list_persistent_volume_claim_for_all_namespaces().items == []
        assert not work.exists()
    finally:
        sim.down(purge=True)


def test_preflight_on_a_single_small_node_says_what_is_missing(sim_tools, home, tmp_path):
    sim = start_sim(tmp_path, "single", 18520, sim_tools)
    try:
        spec = tmp_path / "big.yaml"
        spec.write_text(
            (EXAMPLES / "seed.yaml").read_text().replace("{type: hw2}", "{type: hw1}")
            + "resources:\n  kafka: {requests: {cpu: 250m, memory: 1Gi}, limits: {cpu: '1', memory: 1Gi}}\n"
        )
        pre = cli("preflight", str(spec), home=home, sim=sim, check=False)
        assert pre.returncode == 2, pre.stdout + pre.stderr
        # zk 3x(50m, 256Mi) + kafka 3x(250m, 1Gi) + orderer + 2 peers + chaincode, all on the one node
        assert "/ 4.31 GiB on small for type=hw1 + any node, has 1.90 CPU / 3.93 GiB free" in pre.stdout
        up = cli("up", str(spec), "--target", "k8s", home=home, sim=sim, check=False)
        assert up.returncode == 2 and "4.31 GiB on small" in up.stderr.replace("\n", " ")
        api = config.new_client_from_config(config_file=str(sim.kubeconfig))
        assert not [n for n in client.CoreV1Api(api).list_namespace().items if n.metadata.name.startswith("seed-")]
    finally:
        sim.down(purge=True)


def test_ha_spreads_zookeeper_and_kafka_across_nodes(sim_tools, home, tmp_path):
    """Also: kafkaNamespace naming a namespace that exists (a shared one) is used as it is: not
    labelled for Pod Security (other teams' pods live there), and `down --purge` leaves it."""
    sim = start_sim(tmp_path, "ha", 18540, sim_tools)
    try:
        api = config.new_client_from_config(config_file=str(sim.kubeconfig))
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "shared", "labels": {"team": "others"}}})
        spec = tmp_path / "ha.yaml"
        spec.write_text((EXAMPLES / "ha.yaml").read_text() + "kubernetes: {kafkaNamespace: shared}\n")
        up = cli("up", str(spec), "--target", "k8s", "--job-timeout", "1", home=home, sim=sim)
        assert "namespace shared exists and is not this network's" in up.stderr.replace("\n", " ")
        pods = pods_by_app(core)
        assert len({p.spec.node_name for p in pods["zookeeper"]}) == 3
        assert len({p.spec.node_name for p in pods["kafka"]}) == 3 and len(pods["kafka"]) == 4
        assert len({p.spec.node_name for p in pods["orderer"]}) == 3
        assert {p.metadata.namespace for p in pods["kafka"]} == {"shared"}
        assert core.read_namespace("shared").metadata.labels.get("pod-security.kubernetes.io/enforce") is None
        assert core.read_namespace("ha-org1").metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
        cli("down", "--purge", "--network", "ha-k8s", home=home, sim=sim)
        names = {n.metadata.name for n in core.list_namespace().items if not n.metadata.deletion_timestamp}
        assert "shared" in names and "ha-org1" not in names
    finally:
        sim.down(purge=True)


def test_monitoring_turned_off_removes_what_it_applied_and_nothing_else(sim_tools, tmp_path):
    """`kubernetes.monitoring: none` on a network that had it: `up` removes its PodMonitors (the
    Prometheus Operator's own CRD installed on a real API server), their client Secrets and the
    dashboard ConfigMap, and leaves the network's other Secrets; without the CRD it asks nothing of
    PodMonitors."""
    from tooling.podmonitors import install_crd

    from fabkube.backends.k8s.cluster import Cluster
    from fabkube.backends.k8s.render import render
    from fabkube.spec import parse_spec

    sim = start_sim(tmp_path, "single", 18580, sim_tools)
    try:
        cluster = Cluster(kubeconfig=str(sim.kubeconfig))
        assert not cluster.serves_podmonitors() and cluster.delete_monitoring(["default"], "seed") == []
        install_crd(cluster.api)
        assert cluster.serves_podmonitors()
        text = (EXAMPLES / "seed.yaml").read_text()
        on = text.replace("kubernetes:\n", "kubernetes:\n  monitoring: prometheus-operator\n", 1)
        objects = render(parse_spec(on), tmp_path / "work", sim_tools).objects()
        kept = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "zookeeper-sasl"]
        monitoring = [o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == "monitoring"]
        namespaces = [o for o in objects if o["kind"] == "Namespace"]
        cluster.apply(namespaces + kept + monitoring)
        applied = {f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}" for o in monitoring}
        assert {a.split()[0] for a in applied} == {"Secret", "PodMonitor", "ConfigMap"}

        gone = cluster.delete_monitoring([o["metadata"]["name"] for o in namespaces], "seed")
        assert sorted(gone) == sorted(applied)
        assert cluster.delete_monitoring([o["metadata"]["name"] for o in namespaces], "seed") == []
        core = client.CoreV1Api(cluster.api)
        assert core.read_namespaced_secret("zookeeper-sasl", "seed-kafka").metadata.name == "zookeeper-sasl"
    finally:
        sim.down(purge=True)
