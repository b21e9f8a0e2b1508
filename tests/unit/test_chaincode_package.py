import io
import json
import tarfile

from fabkube.chaincode import ccaas_builder
from fabkube.chaincode.package import ClientTLS, write_package


def test_package_is_deterministic_and_ccaas(tmp_path):
    a = write_package(tmp_path / "a.tgz", "mycc_1.0", "127.0.0.1:9999")
    b = write_package(tmp_path / "b.tgz", "mycc_1.0", "127.0.0.1:9999")
    c = write_package(tmp_path / "c.tgz", "mycc_1.0", "127.0.0.1:9998")
    assert a == b and a != c and a.startswith("mycc_1.0:") and len(a.split(":")[1]) == 64
    with tarfile.open(tmp_path / "a.tgz") as outer:
        meta = json.loads(outer.extractfile("metadata.json").read())
        with tarfile.open(fileobj=io.BytesIO(outer.extractfile("code.tar.gz").read())) as code:
            conn = json.loads(code.extractfile("connection.json").read())
    assert meta == {"type": "ccaas", "label": "mycc_1.0"}
    assert conn["address"] == "127.0.0.1:9999"


def test_builder_contract(tmp_path):
    src, meta, out, rel = (tmp_path / d for d in ("src", "meta", "out", "rel"))
    for d in (src, meta):
        d.mkdir()
    (meta / "metadata.json").write_text('{"type": "ccaas", "label": "x"}')
    assert ccaas_builder.main(["detect", str(src), str(meta)]) == 0
    (meta / "metadata.json").write_text('{"type": "golang", "label": "x"}')
    assert ccaas_builder.main(["detect", str(src), str(meta)]) == 1
    assert ccaas_builder.main(["build", str(src), str(meta), str(out)]) == 1  # no connection.json
    (src / "connection.json").write_text('{"address": "h:1"}')
    assert ccaas_builder.main(["build", str(src), str(meta), str(out)]) == 0
    assert ccaas_builder.main(["release", str(out), str(rel)]) == 0
    assert json.loads((rel / "chaincode" / "server" / "connection.json").read_text()) == {"address": "h:1"}
    assert ccaas_builder.main(["bogus"]) == 2


def test_tls_package_carries_the_peer_client_pair(tmp_path):
    tls = ClientTLS(
        "-----BEGIN CERTIFICATE-----\nca\n", "-----BEGIN CERTIFICATE-----\nc\n", "-----BEGIN PRIVATE KEY-----"
    )
    write_package(tmp_path / "t.tgz", "cc_1", "h:1", tls)
    with (
        tarfile.open(tmp_path / "t.tgz") as outer,
        tarfile.open(fileobj=io.BytesIO(outer.extractfile("code.tar.gz").read())) as code,
    ):
        conn = json.loads(code.extractfile("connection.json").read())
        member = code.getmember("connection.json")
    assert member.mode == 0o600  # the peer extracts it with this mode: the key is its owner's only
    assert conn["tls_required"] is True and conn["client_auth_required"] is True
    assert conn["root_cert"].endswith("ca\n") and conn["client_cert"].endswith("c\n")
    assert conn["client_key"] == "-----BEGIN PRIVATE KEY-----"
    assert (tmp_path / "t.tgz").stat().st_mode & 0o777 == 0o600  # it holds a private key


def test_local_orgs_share_one_package_k8s_orgs_do_not(tools, tmp_path):
    """Locally one server serves every org, so its single package ID must fit every org's peers;
    on Kubernetes each org dials its own server with its own pairs."""
    from conftest import EXAMPLES

    from fabkube.generate import generate
    from fabkube.ops.lifecycle import package_chaincode
    from fabkube.spec import load_spec

    loaded = load_spec(EXAMPLES / "ha.yaml")
    for target, same in (("local", True), ("k8s", False)):
        gen = generate(loaded, target, tmp_path / target, tools)
        ids = package_chaincode(gen.layout, gen.layout.topo.chaincodes[0])
        assert (ids["Org1"] == ids["Org2"]) is same, (target, ids)


def test_builder_copies_of_the_client_key_are_owner_only(tmp_path):
    """connection.json carries the peer's client key for the chaincode server: the builder's copies
    (build output, release dir) are 0600 whatever the umask, even over an older 0644 copy."""
    import os
    import stat

    from fabkube.chaincode.ccaas_builder import build, release

    src, out, rel = tmp_path / "src", tmp_path / "out", tmp_path / "rel"
    src.mkdir()
    (src / "connection.json").write_text('{"address": "127.0.0.1:9999", "client_key": "KEY"}')
    old = os.umask(0o022)
    try:
        out.mkdir()
        (out / "connection.json").write_text("{}")
        os.chmod(out / "connection.json", 0o644)
        assert build(src, tmp_path, out) == 0 and release(out, rel) == 0
    finally:
        os.umask(old)
    for copy in (out / "connection.json", rel / "chaincode" / "server" / "connection.json"):
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600, copy
        assert "KEY" in copy.read_text()
