import io
import json
import tarfile

from fabkube.chaincode import ccaas_builder
from fabkube.chaincode.package import write_package


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


def test_tls_package_carries_the_root_cert(tmp_path):
    write_package(tmp_path / "t.tgz", "cc_1", "h:1", root_cert="-----BEGIN CERTIFICATE-----\nx\n")
    with (
        tarfile.open(tmp_path / "t.tgz") as outer,
        tarfile.open(fileobj=io.BytesIO(outer.extractfile("code.tar.gz").read())) as code,
    ):
        conn = json.loads(code.extractfile("connection.json").read())
    assert conn["tls_required"] is True and conn["client_auth_required"] is False
    assert conn["root_cert"].startswith("-----BEGIN CERTIFICATE-----")
