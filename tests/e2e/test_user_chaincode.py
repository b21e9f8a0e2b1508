"""A user's own Python chaincode directory, packaged and served like the built-in one; and a
chaincode that cannot start makes `up` fail cleanly, naming its log, leaving nothing running."""

import textwrap

import pytest
from conftest import live_processes, run_cli

pytestmark = pytest.mark.e2e

KV = """
from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_chaincode_python.fabric_shim.response import error, success


class KV(Chaincode):
    @staticmethod
    async def init(stub):
        return success(b"")

    @staticmethod
    async def invoke(stub):
        fn, args = stub.get_function_and_parameters()
        if fn == "put" and len(args) == 2:
            await stub.put_state(args[0], args[1])
            return success(b"")
        if fn == "get" and len(args) == 1:
            value = await stub.get_state(args[0])
            return success(bytes(value)) if value else error(f"no key {args[0]}")
        return error(f"unknown call {fn}")
"""


def spec_text(name: str, port: int, path: str) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        kafka: {{brokers: 1, replicationFactor: 1, minInsyncReplicas: 1}}
        zookeeper: {{nodes: 1}}
        local: {{basePort: {port}}}
        organizations: [{{name: Org1, domain: org1.example.com, peers: 1}}]
        channels: [{{name: ch, organizations: [Org1]}}]
        chaincodes: [{{name: kv, path: {path}, channel: ch}}]
        """)


def test_user_chaincode_directory(tools, home, tmp_path):
    (tmp_path / "kv").mkdir()
    (tmp_path / "kv" / "chaincode.py").write_text(KV)
    spec = tmp_path / "kv.yaml"
    spec.write_text(spec_text("userkv", 17800, "kv"))  # relative to the spec file
    try:
        up = run_cli("up", str(spec), home=home)
        assert "value is" not in up.stdout  # no init given: no smoke query
        assert "submitted" in run_cli("invoke", "kv", "put", "colour", "green", "--no-wait", home=home).stdout
        assert "committed" in run_cli("invoke", "kv", "put", "shape", "round", home=home).stdout
        assert run_cli("query", "kv", "get", "shape", home=home).stdout.strip() == "round"
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert live_processes(home / "networks" / "userkv") == []


def test_chaincode_that_cannot_start_stops_everything(tools, home, tmp_path):
    missing = tmp_path / "missing.yaml"  # not even a chaincode directory: refused before anything starts
    missing.write_text(spec_text("missingcc", 17850, str(tmp_path / "missing")))
    refused = run_cli("up", str(missing), home=home, check=False)
    assert (
        refused.returncode == 2
        and "holds none of go.mod (go), chaincode.py (python), package.json (node), pom.xml" in refused.stderr
    )
    assert not (home / "networks" / "missingcc").exists()

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "chaincode.py").write_text("raise RuntimeError('this chaincode cannot start')\n")
    spec = tmp_path / "broken.yaml"
    spec.write_text(spec_text("brokencc", 17850, str(tmp_path / "broken")))
    workdir = home / "networks" / "brokencc"
    proc = run_cli("up", str(spec), home=home, check=False)
    try:
        assert proc.returncode == 1, proc.stderr
        assert "chaincode-kv exited while starting" in proc.stderr
        assert "chaincode-kv.log" in proc.stderr
        assert live_processes(workdir) == []
    finally:
        run_cli("down", "--purge", home=home, check=False)
