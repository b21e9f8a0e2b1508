"""Chaincode directories are recognised by their files: chaincode.py is Python, go.mod is Go."""

from conftest import run_cli

from fabkube.chaincode import BUILTINS, go_binary, language, source_digest, source_dir


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
    assert "chaincodes[0].path:" in proc.stderr and "neither chaincode.py (Python) nor go.mod (Go)" in proc.stderr
    assert not (home / "networks" / "lang").exists()
