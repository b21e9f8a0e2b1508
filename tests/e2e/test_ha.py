"""Two orgs, three orderers, four brokers: endorsement by both orgs, any orderer, and a broker crash."""

import json

import pytest
from conftest import EXAMPLES, live_processes, run_cli

pytestmark = pytest.mark.e2e


def heights(home) -> dict[str, int]:
    status = json.loads(run_cli("status", "--json", home=home).stdout)
    return {peer: by["hachannel"] for peer, by in status["heights"].items()}


def test_ha_network(tools, home):
    spec = str(EXAMPLES / "ha.yaml")
    workdir = home / "networks" / "ha"
    peers = ["peer0.org1", "peer1.org1", "peer0.org2", "peer1.org2"]
    try:
        assert "abcc: value is 100" in run_cli("up", spec, home=home).stdout
        for _i, orderer in enumerate((0, 1, 2)):
            run_cli("invoke", "abcc", "move", "a", "b", "5", "--orderer", str(orderer), home=home)
        for peer in peers:
            assert run_cli("query", "abcc", "a", "--peer", peer, home=home).stdout.strip() == "85"
        h = heights(home)
        assert set(h) == set(peers) and len(set(h.values())) == 1, h

        # Crash tolerance: RF 3, min ISR 2, one broker down -> writes still commit.
        run_cli("stop", "kafka-1", home=home)
        run_cli("invoke", "abcc", "move", "a", "b", "5", home=home)
        assert run_cli("query", "abcc", "a", "--peer", "peer1.org2", home=home).stdout.strip() == "80"
        run_cli("start", "kafka-1", home=home)  # waits until all four brokers are registered again
        status = json.loads(run_cli("status", "--json", home=home).stdout)
        assert {c["name"]: c["state"] for c in status["components"]}["kafka-1"] == "running"
        run_cli("invoke", "abcc", "move", "a", "b", "5", "--orderer", "2", home=home)
        assert run_cli("query", "abcc", "b", "--peer", "peer0.org2", home=home).stdout.strip() == "225"
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert live_processes(workdir) == []
