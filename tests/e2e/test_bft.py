"""BFT ordering on Fabric 3.1.1, locally, as a user runs it: four SmartBFT consenters (one may be
faulty) with no system channel reach `value is 100`; `status` says each node's Fabric version, the
channels' capability and which orderer leads; the leader killed under load is replaced and every
transaction the client saw committed is on every peer."""

import json
import time

import pytest
from conftest import EXAMPLES, keep_logs, live_processes, run_cli, wait_for
from load import assert_on_every_peer, kill_leader_under_load, sigkill

from fabkube.backends import open_network

pytestmark = pytest.mark.e2e

NAME = "bfttest"


@pytest.fixture(scope="module")
def bft(tmp_path_factory):
    home = tmp_path_factory.mktemp("bft") / "home"
    text = (EXAMPLES / "bft.yaml").read_text().replace("name: bft", f"name: {NAME}")
    text = text.replace("local: {basePort: 18100}", "local: {basePort: 18200}")
    basic = '  - {name: basic, path: "builtin:asset-transfer-basic-go", channel: mychannel}\n'
    spec = home.parent / "bft.yaml"
    spec.write_text(text.replace("chaincodes:\n", "chaincodes:\n" + basic))
    start = time.monotonic()
    up = run_cli("up", str(spec), home=home, timeout=1800)  # the first one builds Fabric 3.1.1
    print(f"bft up in {time.monotonic() - start:.0f}s")
    try:
        yield home, spec, up
    finally:
        keep_logs(home / "networks" / NAME)
        run_cli("down", "--purge", home=home, check=False)
        assert live_processes(home / "networks" / NAME) == []


def orderer_status(home) -> dict:
    return json.loads(run_cli("status", "--json", home=home).stdout)["orderers"]


def leaders(home) -> list[str]:
    return [o for o, by in orderer_status(home).items() if by["mychannel"]["leader"]]


def test_bft_network_on_fabric_3_reaches_100(bft):
    home, _spec, up = bft
    assert "mycc: value is 100" in up.stdout, up.stdout
    assert "orderers (BFT, channel participation) - 4 running, 4 started" in up.stderr, up.stderr
    assert "orderer3 joins mychannel" in up.stderr
    st = orderer_status(home)
    assert sorted(st) == ["orderer0", "orderer1", "orderer2", "orderer3"]
    assert all(by["mychannel"]["status"] == "active" for by in st.values()), st
    assert len({by["mychannel"]["height"] for by in st.values()}) == 1, st
    assert len(leaders(home)) == 1, st
    versions = json.loads(run_cli("status", "--json", home=home).stdout)
    assert {c.get("fabric") for c in versions["components"] if c["kind"] in ("orderer", "peer")} == {"3.1.1"}, versions
    assert versions["channels"]["mychannel"]["capabilities"]["channel"] == ["V3_0"], versions["channels"]


def test_bft_leader_killed_under_load_loses_nothing(bft):
    home = bft[0]
    net = open_network(home / "networks" / NAME)
    old = leaders(home)[0]
    pid = next(c["pid"] for c in json.loads(run_cli("status", "--json", home=home).stdout)["components"]
               if c["name"] == old)  # fmt: skip
    moved = lambda: any(o != old for o in leaders(home))  # noqa: E731
    load, elected, before, after = kill_leader_under_load(
        net, sigkill(pid), "bft", moved, "another BFT leader", elect_timeout=120, settle=10, workers=4, timeout=30
    )
    print(f"BFT leader {old} killed: another leads after {elected:.1f}s; {load.summary()}")
    assert after > before, "nothing committed after the leader was killed"
    assert len(load.committed) + len(load.failed) == len(load.outcomes) > 0
    assert_on_every_peer(net, load)
    run_cli("start", old, home=home)
    wait_for(f"{old} to catch up",
             lambda: len({by["mychannel"]["height"] for by in orderer_status(home).values()}) == 1)  # fmt: skip


def test_certs_renew_on_bft_is_refused_in_one_line_before_anything_changes(bft):
    home = bft[0]
    crypto = home / "networks" / NAME / "crypto"
    before = {p: p.read_bytes() for p in crypto.rglob("*.pem")}
    proc = run_cli("certs", "renew", "--all", home=home, check=False)
    assert proc.returncode == 2 and "certs renew: not on BFT networks yet" in proc.stderr, proc.stderr
    assert {p: p.read_bytes() for p in crypto.rglob("*.pem")} == before
