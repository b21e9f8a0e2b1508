"""The user's network end to end, as a user runs it: real ZooKeeper, Kafka, orderer, peers, chaincode."""

import json
import subprocess
import time

import pytest
from conftest import EXAMPLES, live_processes, run_cli

from fabkube import health
from fabkube.consensus.kafka.probes import kafka_brokers, zookeeper_mode
from fabkube.nodes import Endpoint

pytestmark = pytest.mark.e2e


def run_zookeeper_cli(tools, jaas, tls_dir, server: str, *command: str) -> subprocess.CompletedProcess:
    """ZooKeeper's own shell from the toolchain's jars: as anyone on the network could run it (no
    JAAS file, no certificate), with a certificate of the orderer org's TLS CA (`tls_dir`: the
    brokers' pair) but no login, or logged in as the brokers are."""
    login = [f"-Djava.security.auth.login.config={jaas}"] if jaas else []
    if tls_dir:
        login += [
            "-Dzookeeper.client.secure=true",
            "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
            f"-Dzookeeper.ssl.keyStore.location={tls_dir}/kafka.pem",
            "-Dzookeeper.ssl.keyStore.type=PEM",
            f"-Dzookeeper.ssl.trustStore.location={tls_dir}/ca.crt",
            "-Dzookeeper.ssl.trustStore.type=PEM",
        ]
    main = "org.apache.zookeeper.ZooKeeperMain"
    argv = ["java", *login, "-cp", tools.kafka_classpath, main, "-server", server, *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_seed_lifecycle(tools, home):
    spec = str(EXAMPLES / "seed.yaml")
    workdir = home / "networks" / "seed"
    try:
        up = run_cli("up", spec, home=home)
        assert "mycc: value is 100" in up.stdout
        assert run_cli("query", "mycc", "a", home=home).stdout.strip() == "100"
        assert "committed" in run_cli("invoke", "mycc", "move", "a", "b", "10", home=home).stdout
        assert run_cli("query", "mycc", "a", home=home).stdout.strip() == "90"
        assert run_cli("query", "mycc", "query", "b", "--peer", "peer1.org1", home=home).stdout.strip() == "210"

        status = json.loads(run_cli("status", "--json", home=home).stdout)
        assert {c["name"]: c["state"] for c in status["components"]} == {
            **{f"zookeeper-{i}": "running" for i in range(3)},
            **{f"kafka-{i}": "running" for i in range(3)},
            "orderer0": "running",
            "peer0.org1": "running",
            "peer1.org1": "running",
            "chaincode-mycc": "running",
        }
        heights = {peer: by["mychannel"] for peer, by in status["heights"].items()}
        assert len(set(heights.values())) == 1 and next(iter(heights.values())) >= 6, heights

        # orderer <-> Kafka is TLS with client certificates: a plaintext Metadata request gets nothing
        kafka = Endpoint("127.0.0.1", 17036)  # kafka-0: basePort + 27 (orderers) + 9 (ZooKeeper)
        tls_dir = workdir / "crypto/ordererOrganizations/example.com/kafka/tls"
        assert kafka_brokers(kafka) is None
        tls = health.client_tls(str(tls_dir / "ca.crt"), str(tls_dir / "server.crt"), str(tls_dir / "server.key"))
        assert kafka_brokers(kafka, tls) == [0, 1, 2]

        # peers and the chaincode server authenticate each other (mutual TLS, the org's TLS CA)
        cc_log = run_cli("logs", "chaincode-mycc", "-n", "500", home=home).stdout
        assert "TLS on, client certificates required" in cc_log

        # FIELD-NOTES: one unauthenticated ZooKeeper write used to make the brokers delete the
        # channel's topic (its whole ordering history). Now ZooKeeper speaks only TLS with client
        # certificates, and gives a client that has a certificate but not the brokers' login no
        # session; the brokers (TLS and the network's JAAS) see no marker, and the channel orders.
        zk = run_zookeeper_cli(tools, None, None, "127.0.0.1:17027", "create", "/admin/delete_topics/mychannel")
        assert "Created" not in zk.stdout + zk.stderr, zk.stdout + zk.stderr
        assert zookeeper_mode(Endpoint("127.0.0.1", 17027)) is None  # no plaintext at all
        zk = run_zookeeper_cli(tools, None, tls_dir, "127.0.0.1:17027", "create", "/admin/delete_topics/mychannel")
        assert "client failed to authenticate" in zk.stdout + zk.stderr, zk.stdout + zk.stderr
        jaas = next(workdir.glob("crypto/ordererOrganizations/*/kafka/sasl/kafka.jaas"))
        brokers = run_zookeeper_cli(tools, jaas, tls_dir, "127.0.0.1:17027", "ls", "/admin/delete_topics")
        assert "[]" in brokers.stdout, brokers.stdout + brokers.stderr
        time.sleep(5)
        segments = list((workdir / "nodes" / "kafka-0" / "data").glob("mychannel-0/*.log"))
        assert segments and any(s.stat().st_size > 0 for s in segments)
        assert "committed" in run_cli("invoke", "mycc", "move", "a", "b", "0", home=home).stdout

        again = run_cli("up", spec, home=home)  # idempotent: nothing to start, nothing to run
        assert "already up" in again.stderr and "0 steps run" in again.stderr

        run_cli("down", home=home)
        assert live_processes(workdir) == []
        assert run_cli("query", "mycc", "a", home=home, check=False).returncode == 1

        restarted = run_cli("up", spec, home=home)
        assert "mycc: value is 90" in restarted.stdout
        assert run_cli("query", "mycc", "b", home=home).stdout.strip() == "210"
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert not workdir.exists()
    assert live_processes(workdir) == []
