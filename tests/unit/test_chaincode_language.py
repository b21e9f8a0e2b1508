"""Chaincode directories are recognised by their files: chaincode.py is Python, go.mod Go,
package.json JavaScript/TypeScript, pom.xml Java; each language is served with the contract env."""

from conftest import run_cli

from fabkube.chaincode import BUILTINS, go_binary, language, server_command, source_digest, source_dir
from fabkube.chaincode.contract import server_env, tls_at


def test_builtins_and_their_languages():
    assert {name: language(d) for name, d in BUILTINS.items()} == {
        "abstore": "python",
        "asset-transfer-basic": "python",
        "asset-transfer-basic-go": "go",
    }
    assert source_dir("builtin:asset-transfer-basic-go") == BUILTINS["asset-transfer-basic-go"]


def test_go_builds_are_cached_by_source(tmp_path):
    src = tmp_path / "cc"
    src.mkdir()
    (src / "go.mod").write_text("module x\n")
    first = go_binary(tmp_path / "cache", src)
    assert go_binary(tmp_path / "cache", src) == first
    (src / "main.go").write_text("package main\n")
    assert go_binary(tmp_path / "cache", src) != first
    assert len(source_digest(src)) == 16


def test_languages_by_marker_file_and_build_outputs_left_out_of_the_digest(tmp_path):
    for marker, lang in (("package.json", "node"), ("pom.xml", "java"), ("go.mod", "go"), ("chaincode.py", "python")):
        d = tmp_path / lang
        d.mkdir()
        (d / marker).write_text("{}")
        assert language(d) == lang
    before = source_digest(tmp_path / "node")
    (tmp_path / "node" / "node_modules").mkdir()
    (tmp_path / "node" / "node_modules" / "x.js").write_text("1")
    assert source_digest(tmp_path / "node") == before  # installed dependencies are not source
    (tmp_path / "node" / "index.js").write_text("1")
    assert source_digest(tmp_path / "node") != before
    go = tmp_path / "go"
    go_before = source_digest(go)
    (go / "internal" / "build").mkdir(parents=True)
    (go / "internal" / "build" / "b.go").write_text("package build\n")
    assert source_digest(go) != go_before  # a package named build deeper down is source
    (tmp_path / "node" / "dist").mkdir()
    (tmp_path / "node" / "dist" / "index.js").write_text("1")
    node_digest = source_digest(tmp_path / "node")
    (tmp_path / "node" / "package.json").write_text('{"scripts": {"build": "tsc"}}')
    with_script = source_digest(tmp_path / "node")
    (tmp_path / "node" / "dist" / "index.js").write_text("2")
    assert source_digest(tmp_path / "node") == with_script != node_digest  # dist is the build's output
    cmd = server_command(tmp_path / "cache", tmp_path / "node")
    assert cmd[0].endswith("node_modules/.bin/fabric-chaincode-node") and cmd[1:3] == ["server", "--module-path"]
    assert server_command(tmp_path / "cache", tmp_path / "java")[-1] == "org.hyperledger.fabric.contract.ContractRouter"


def test_every_convention_finds_its_names_with_tls_on_and_off():
    on = server_env("0.0.0.0:9999", "cc:1", tls_at("/tls", "/tls/client-ca.crt"))
    # chaincode-external's main
    assert on["CHAINCODE_TLS_DISABLED"] == "false" and on["CHAINCODE_CLIENT_CA_CERT"] == "/tls/client-ca.crt"
    assert (on["CHAINCODE_TLS_KEY"], on["CHAINCODE_TLS_CERT"]) == ("/tls/server.key", "/tls/server.crt")
    # contractapi's Start() and Java's ContractRouter
    assert on["CORE_CHAINCODE_ID_NAME"] == "cc:1" and on["CORE_PEER_TLS_ENABLED"] == "true"
    assert on["CORE_TLS_CLIENT_KEY_FILE"] == "/tls/server.key" and on["CORE_PEER_TLS_ROOTCERT_FILE"].endswith("ca.crt")
    assert on["CORE_TLS_CLIENT_KEY_PATH"].endswith(".b64")
    # fabric-chaincode-node server
    assert on["CORE_CHAINCODE_ADDRESS"] == "0.0.0.0:9999" and on["CORE_CHAINCODE_TLS_CLIENT_CACERT_FILE"]
    off = server_env("0.0.0.0:9999", "cc:1", None)
    assert off["CHAINCODE_TLS_DISABLED"] == "true" and off["CORE_PEER_TLS_ENABLED"] == "false"
    assert not [k for k in off if "KEY" in k or "CERT" in k]


def test_up_refuses_a_chaincode_dir_that_is_neither_python_nor_go(tmp_path, home):
    (tmp_path / "empty").mkdir()
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: lang\norganizations: [{name: Org1, domain: org1.example.com}]\n"
        "channels: [{name: ch, organizations: [Org1]}]\n"
        "chaincodes: [{name: cc, path: empty, channel: ch}]\n"
    )
    proc = run_cli("up", str(spec), home=home, check=False)
    assert proc.returncode == 2
    assert "chaincodes[0].path:" in proc.stderr and "holds none of go.mod (go), chaincode.py (python)" in proc.stderr
    assert not (home / "networks" / "lang").exists()
