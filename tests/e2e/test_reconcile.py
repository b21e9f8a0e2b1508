"""Day two, as an operator runs it: a running two-org network's spec gains a third org on its
channel, a peer in an existing org and a chaincode definition only the new org can satisfy with
Org1; `plan` says it, `up` does exactly that; the new org's peer reads what was written before it
joined and endorses; the new peer catches up; a refused change exits 2 and changes nothing; a
second `up` changes nothing. On Raft, and on Kafka (where the org also joins the consortium, so a
new channel may name it)."""

import json
import re

import pytest
from conftest import keep_logs, live_processes, run_cli

pytestmark = pytest.mark.e2e

BEFORE = """name: {name}
ordering: {ordering}
organizations:
  - {{name: Org1, domain: org1.example.com, peers: 1}}
  - {{name: Org2, domain: org2.example.com, peers: 1}}
channels:
  - {{name: mychannel, organizations: [Org1, Org2]}}
chaincodes:
  - {{name: mycc, path: "builtin:abstore", channel: mychannel, init: [a, "100", b, "200"]}}
local: {{basePort: {port}}}
"""

AFTER = """name: {name}
ordering: {ordering}
organizations:
  - {{name: Org1, domain: org1.example.com, peers: 2}}
  - {{name: Org2, domain: org2.example.com, peers: 1}}
  - {{name: Org3, domain: org3.example.com, peers: 1}}
channels:
  - {{name: mychannel, organizations: [Org1, Org2, Org3]}}
{more_channels}chaincodes:
  - name: mycc
    path: "builtin:abstore"
    channel: mychannel
    init: [a, "100", b, "200"]
{definition}{more_chaincodes}local: {{basePort: {port}}}
"""

KAFKA = "{type: kafka, orderers: 1, batchTimeout: 1s}\nkafka: {brokers: 1, replicationFactor: 1, minInsyncReplicas: 1}\nzookeeper: {nodes: 1}"  # noqa: E501
RAFT = "{type: raft, orderers: 3, batchTimeout: 1s}"

VARIANTS = {
    # Raft: three consenters, no system channel; Org3 approves the definition committed already.
    "raft": dict(ordering=RAFT, port=16300, more_channels="", more_chaincodes="", definition=""),
    # Kafka: a new channel naming the new org needs it in the system channel's consortium.
    "kafka": dict(
        ordering=KAFKA,
        port=16200,
        more_channels="  - {name: second, organizations: [Org3, Org1]}\n",
        more_chaincodes='  - {name: cc2, path: "builtin:abstore", channel: second, init: [x, "7", y, "8"]}\n',
        # A new definition that Org1 and Org3 must both endorse.
        definition="    sequence: 2\n    endorsementPolicy: \"AND('Org1MSP.peer','Org3MSP.peer')\"\n",
    ),
}


def heights(home) -> dict:
    return json.loads(run_cli("status", "--json", home=home).stdout)["heights"]


@pytest.mark.parametrize("kind", ["raft", "kafka"])
def test_a_running_network_gains_an_org_a_peer_and_a_channel(tools, tmp_path, kind):
    home = tmp_path / "home"
    name = f"grow{kind}"
    v = VARIANTS[kind]
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(BEFORE.format(name=name, ordering=v["ordering"], port=v["port"]))
    after.write_text(AFTER.format(name=name, **v))
    workdir = home / "networks" / name
    try:
        up = run_cli("up", str(before), home=home)
        assert "mycc: value is 100" in up.stdout
        moved = run_cli("invoke", "mycc", "move", "a", "b", "10", home=home)
        assert "committed (VALID)" in moved.stdout

        # A refused change: nothing is started, no config changes, nothing is recorded.
        shrunk = tmp_path / "shrunk.yaml"
        shrunk.write_text(before.read_text().replace("[Org1, Org2]", "[Org1]"))
        seen = heights(home)
        refused = run_cli("up", str(shrunk), home=home, check=False)
        assert refused.returncode == 2, refused.stderr
        assert "error: channels: mychannel loses Org2; removing an org from a channel is not supported" in (
            refused.stderr
        )
        assert "✓" not in refused.stderr  # no step ran
        assert heights(home) == seen
        assert run_cli("plan", str(before), home=home).stdout.strip() == "no changes"

        # plan, then up: the same lines, before anything happens.
        planned = run_cli("plan", str(after), home=home).stdout.strip().splitlines()
        expected = [
            "add peer peer1.org1 to Org1: joins mychannel",
            "add organization Org3 (Org3MSP, 1 peer); joins mychannel",
            *(["create channel second (Org3, Org1)"] if kind == "kafka" else []),
            *(
                [
                    "redefine chaincode mycc at sequence 2 (endorsement policy AND('Org1MSP.peer','Org3MSP.peer'))",
                    "define chaincode cc2 1.0 on second",
                ]
                if kind == "kafka"
                else ["chaincode mycc: Org3 approves and installs its definition (sequence 1)"]
            ),
        ]
        assert planned == expected
        grown = run_cli("up", str(after), home=home)
        said = re.search(r"changes to apply:\n((?:\s+.+\n)+?)✓", grown.stderr)
        assert said and [line.strip() for line in said.group(1).splitlines()] == expected
        assert "Org3 to mychannel" in grown.stderr and "signed by Org1, Org2" in grown.stderr
        if kind == "kafka":
            assert "Org3 to the consortium" in grown.stderr and "cc2: value is 7" in grown.stdout
        assert "peer0.org3 joins mychannel" in grown.stderr and "peer1.org1 joins mychannel" in grown.stderr

        assert "Org3 approves mycc_1.0" in grown.stderr and "install mycc_1.0 on peer0.org3" in grown.stderr
        # Org3's peer reads what was written before it joined, and endorses (its Gateway asks its own
        # peer first: under AND(Org1, Org3) on Kafka, under the channel's MAJORITY of 3 on Raft).
        assert run_cli("query", "mycc", "query", "a", "--peer", "peer0.org3", home=home).stdout.strip() == "90"
        moved = run_cli("invoke", "mycc", "move", "a", "b", "5", "--peer", "peer0.org3", home=home)
        assert "committed (VALID)" in moved.stdout
        assert run_cli("query", "mycc", "query", "a", "--peer", "peer1.org1", home=home).stdout.strip() == "85"
        # Every peer of the channel, the new ones included, at one height.
        now = heights(home)
        assert len({by["mychannel"] for by in now.values() if "mychannel" in by}) == 1, now
        assert set(now) >= {"peer0.org1", "peer1.org1", "peer0.org2", "peer0.org3"}

        # Applied: plan and a second up change nothing.
        assert run_cli("plan", str(after), home=home).stdout.strip() == "no changes"
        again = run_cli("up", str(after), home=home)
        assert "changes to apply" not in again.stderr
        assert re.search(r"channels: .* - 0 steps run", again.stderr)
        assert re.search(r"chaincode: install, approve, commit, init - 0 steps run", again.stderr)
    finally:
        keep_logs(workdir)
        run_cli("down", "--purge", home=home, check=False)
        assert live_processes(workdir) == []
