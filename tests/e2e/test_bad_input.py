"""Bad input against a real network: exit codes and one-line messages."""

import socket

import pytest
from conftest import live_processes, run_cli, seed_variant

pytestmark = pytest.mark.e2e


def test_up_with_port_taken_creates_nothing(tools, home, tmp_path):
    spec = seed_variant(tmp_path, "taken", 15400)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 15436))  # kafka-0 of this spec
        s.listen()
        proc = run_cli("up", str(spec), home=home, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "local.basePort: port 15436 needed by kafka-0 is already in use" in proc.stderr
    assert live_processes(home / "networks" / "taken") == []


def test_commands_on_unknown_names(tools, home, tmp_path):
    spec = seed_variant(tmp_path, "names", 15500)
    try:
        run_cli("up", str(spec), home=home)
        logs = run_cli("logs", "kafka-9", home=home, check=False)
        assert logs.returncode == 2 and "unknown component 'kafka-9'; known: zookeeper-0" in logs.stderr
        assert "started" in run_cli("logs", "kafka-0", "-n", "400", home=home).stdout
        inv = run_cli("invoke", "nocc", "move", "a", "b", "1", home=home, check=False)
        assert inv.returncode == 2 and "unknown chaincode 'nocc'; known: mycc" in inv.stderr
        qry = run_cli("query", "mycc", "a", "--peer", "peer7.org1", home=home, check=False)
        assert qry.returncode == 2 and "unknown peer 'peer7.org1'" in qry.stderr
        bad = run_cli("invoke", "mycc", "move", "a", "b", "100000", home=home, check=False)
        # The Gateway reports each endorser's chaincode error and the error names the peer's log.
        assert bad.returncode == 1 and "chaincode response 500, Insufficient funds" in bad.stderr
        assert "peer0.org1.log" in bad.stderr
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert live_processes(home / "networks" / "names") == []


def test_bad_spec_exit_code(home, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: Bad_Name\norganizations: [{name: Org1, domain: org1.example.com}]\n"
        "channels: [{name: ch, organizations: [Org2]}]\n"
    )
    proc = run_cli("up", str(spec), home=home, check=False)
    assert proc.returncode == 2
    assert "name (line 1): 'Bad_Name' is not a DNS-1123 label" in proc.stderr
    assert "channels[0].organizations[0] (line 3): unknown organization 'Org2'; known: Org1" in proc.stderr
    assert not (home / "networks").exists()
