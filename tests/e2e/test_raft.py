"""Raft ordering locally, as a user runs it: the seed's shape on three consenters with no system
channel reaches `value is 100`; `status` shows each orderer's height and the leader; killing the
leader under load elects another and every transaction the client saw committed is on every
peer; a stopped follower catches up; with a majority down clients get a clear error, and after
`start` the network commits again."""

import json
import re
import time

import pytest
from conftest import EXAMPLES, keep_logs, live_processes, run_cli, wait_for
from load import SubmitLoad, assert_on_every_peer, kill_leader_under_load, sigkill

from fabkube.backends import open_network

pytestmark = pytest.mark.e2e

NAME = "rafttest"


@pytest.fixture(scope="module")
def raft(tools, tmp_path_factory):
    home = tmp_path_factory.mktemp("raft") / "home"
    text = (EXAMPLES / "raft.yaml").read_text().replace("name: raft", f"name: {NAME}")
    text = text.replace("batchTimeout: 2s, maxMessageCount: 10", "batchTimeout: 250ms, maxMessageCount: 100")
    text = text.replace("local: {basePort: 17300}", "local: {basePort: 18700}")
    basic = '  - {name: basic, path: "builtin:asset-transfer-basic-go", channel: mychannel}\n'
    text = text.replace("chaincodes:\n", "chaincodes:\n" + basic)
    spec = home.parent / "raft.yaml"
    spec.write_text(text)
    up = run_cli("up", str(spec), home=home)
    try:
        yield home, spec, up
    finally:
        keep_logs(home / "networks" / NAME)
        run_cli("down", "--purge", home=home, check=False)
        assert live_processes(home / "networks" / NAME) == []


def orderer_status(home) -> dict:
    return json.loads(run_cli("status", "--json", home=home).stdout)["orderers"]


def leader(home) -> str:
    found = [o for o, by in orderer_status(home).items() if by["mychannel"]["leader"]]
    assert len(found) == 1, found
    return found[0]


def test_raft_seed_shape_reaches_100_and_up_again_changes_nothing(raft):
    home, spec, up = raft
    assert "mycc: value is 100" in up.stdout
    assert "orderers (Raft, channel participation) - 3 running, 3 started" in up.stderr
    assert "orderer2 joins mychannel" in up.stderr and "create channel" not in up.stderr
    again = run_cli("up", str(spec), home=home)
    assert "channels: orderers join, peers join - 0 steps run, 5 already done" in again.stderr
    assert "3 running, already up" in again.stderr


def test_a_real_prometheus_scrapes_every_node_with_the_written_config(raft, tools, tmp_path):
    """`fabkube monitoring prometheus` writes the config; Prometheus 3.16 scrapes every orderer's and
    peer's /metrics with it (each org's client certificate, which Fabric asks for with TLS) and has
    each node's ledger height and the Raft leader."""
    import yaml
    from tooling.prometheus import running

    home = raft[0]
    written = tmp_path / "prometheus.yml"
    done = run_cli("monitoring", "prometheus", "--out", str(written), home=home)
    assert "6 targets" in done.stderr, done.stderr
    with running(tools, yaml.safe_load(written.read_text()), tmp_path / "prom") as prom:
        targets = prom.wait_all_up()
        assert sorted(t["labels"]["node"] for t in targets) == [
            "chaincode-mycc", "orderer0", "orderer1", "orderer2", "peer0.org1", "peer1.org1"
        ]  # fmt: skip
        heights = {
            r["metric"]["node"]: float(r["value"][1])
            for r in prom.query('ledger_blockchain_height{channel="mychannel"}')
        }
        assert len(heights) == 5 and min(heights.values()) >= 3, heights
        leaders = prom.query('consensus_etcdraft_is_leader{channel="mychannel"} == 1')
        assert [r["metric"]["node"] for r in leaders] == [leader(home)], leaders
        # Every panel of the dashboard `fabkube monitoring dashboard` writes has data while a client
        # submits (rates need two scrapes inside their minute).
        board = json.loads(run_cli("monitoring", "dashboard", "--ordering", "raft", home=home).stdout)
        exprs = {p["title"]: p["targets"][0]["expr"].replace("$network", NAME) for p in board["panels"]}
        net = open_network(home / "networks" / NAME)
        with net.gateway("Org1") as gw, SubmitLoad(gw.contract("mychannel", "basic"), "prom", workers=2) as load:
            # basic is Go; mycc runs on fabkube's Python runtime, whose own metrics the panels show.
            python_cc = gw.contract("mychannel", "mycc")
            deadline = time.monotonic() + 60
            while True:
                python_cc.submit("move", "a", "b", "0", timeout=30)
                empty = [t for t, e in exprs.items() if not _finite(prom.query(e))]
                if not empty or time.monotonic() > deadline:
                    break
                time.sleep(1)
        print(f"dashboard queries under load: {load.summary()}")
        assert not empty, f"panels without data: {empty}"


def _finite(result: list[dict]) -> bool:
    """A query answered with at least one sample that is a number (not NaN: no traffic yet)."""
    import math

    return any(math.isfinite(float(r["value"][1])) for r in result)


def test_status_shows_every_orderers_height_and_the_leader(raft):
    home = raft[0]
    st = orderer_status(home)
    assert sorted(st) == ["orderer0", "orderer1", "orderer2"]
    heights = {o: by["mychannel"]["height"] for o, by in st.items()}
    assert len(set(heights.values())) == 1 and next(iter(heights.values())) >= 3, heights
    assert all(by["mychannel"]["status"] == "active" for by in st.values())
    leader(home)
    table = run_cli("status", home=home).stdout
    assert re.search(r"orderer\d +│ +\d+ \* +│", table), table


def test_leader_killed_under_load_loses_nothing_committed(raft):
    home = raft[0]
    net = open_network(home / "networks" / NAME)
    old = leader(home)
    pid = next(c["pid"] for c in json.loads(run_cli("status", "--json", home=home).stdout)["components"]
               if c["name"] == old)  # fmt: skip
    moved = lambda: any(by["mychannel"]["leader"] for o, by in orderer_status(home).items() if o != old)  # noqa: E731
    load, elected, before, after = kill_leader_under_load(net, sigkill(pid), "raft", moved, "a new leader")
    print(f"leader {old} killed: new leader in {elected:.1f}s; {load.summary()}")
    assert after > before, "nothing committed after the leader was killed"
    assert len(load.committed) + len(load.failed) == len(load.outcomes) > 0
    assert_on_every_peer(net, load)
    run_cli("start", old, home=home)
    wait_for(
        f"{old} to catch up", lambda: len({by["mychannel"]["height"] for by in orderer_status(home).values()}) == 1
    )


def test_stopped_follower_catches_up(raft, monkeypatch):
    """A stopped follower: the channel orders on; `top` shows it red with its log's last line and
    counts one component fewer running; started, it catches up."""
    home = raft[0]
    follower = next(o for o in ("orderer0", "orderer1", "orderer2") if o != leader(home))
    run_cli("stop", follower, home=home)
    for _ in range(3):
        assert "committed" in run_cli("invoke", "mycc", "move", "a", "b", "1", home=home).stdout
    assert follower not in orderer_status(home)
    monkeypatch.setenv("FORCE_COLOR", "1")
    shown = run_cli("top", "--once", "--interval", "1", home=home).stdout
    monkeypatch.delenv("FORCE_COLOR")
    line = next(line for line in shown.splitlines() if follower in line)
    assert "\x1b[31m" in line and "stopped: " in line, repr(line)
    total = len(json.loads(run_cli("status", "--json", home=home).stdout)["components"])
    assert f"{total - 1}/{total} running" in shown
    run_cli("start", follower, home=home)
    wait_for(
        f"{follower} to catch up", lambda: len({by["mychannel"]["height"] for by in orderer_status(home).values()}) == 1
    )
    assert len(orderer_status(home)) == 3


def test_majority_down_gives_a_clear_error_and_start_recovers(raft):
    """Refused before anything is sent (a leader that lost its quorum would still take the
    transaction, and commit it once the others are back, after the client was told it failed);
    right after `start` an invoke commits (it waits out the election and a follower's forwarding)."""
    home = raft[0]
    run_cli("stop", "orderer0", "orderer1", home=home)
    failed = run_cli("invoke", "mycc", "move", "a", "b", "1", home=home, check=False)
    assert failed.returncode == 1
    assert "nothing submitted: 2 of 3 orderers are stopped (orderer0, orderer1)" in failed.stderr, failed.stderr
    assert "Raft orders only with 2 of 3 running" in failed.stderr
    assert "fabkube start orderer0 orderer1" in failed.stderr
    before = orderer_status(home)["orderer2"]["mychannel"]["height"]
    run_cli("start", "orderer0", "orderer1", home=home)
    done = run_cli("invoke", "mycc", "move", "a", "b", "1", home=home).stdout
    assert "committed (VALID)" in done and re.search(rf"in block {before}\b", done), (before, done)


def test_invoke_right_after_the_leader_dies_commits(raft):
    """The leader killed, an invoke at once: a follower forwards it to the dead leader and answers
    only after General.Cluster.RPCTimeout (7 s); the invoke waits past that, and sends the same
    transaction again until the new leader takes it. (With the Gateway SDKs' 5 s submit deadline
    this failed every time: DEADLINE_EXCEEDED.)"""
    home = raft[0]
    old = leader(home)
    pid = next(c["pid"] for c in json.loads(run_cli("status", "--json", home=home).stdout)["components"]
               if c["name"] == old)  # fmt: skip
    sigkill(pid)()
    started = time.monotonic()
    done = run_cli("invoke", "mycc", "move", "a", "b", "1", home=home).stdout
    print(f"leader {old} killed: invoke committed after {time.monotonic() - started:.1f}s")
    assert "committed (VALID)" in done, done
    run_cli("start", old, home=home)
    wait_for(
        f"{old} to catch up", lambda: len({by["mychannel"]["height"] for by in orderer_status(home).values()}) == 1
    )


def test_two_orderer_organizations(tools, tmp_path):
    """examples/raft-orgs.yaml: consenters of two orderer orgs (each with its own MSP and CA, each
    org's admin joining its own orderers) order for two peer orgs; a submit right after `up` is
    endorsed by both orgs (gossip has converged before `up` returns)."""
    home = tmp_path / "home"
    spec = tmp_path / "raft-orgs.yaml"
    spec.write_text((EXAMPLES / "raft-orgs.yaml").read_text().replace("basePort: 17400", "basePort: 18800"))
    try:
        up = run_cli("up", str(spec), home=home)
        assert "mycc: value is 100" in up.stdout
        assert "committed (VALID)" in run_cli("invoke", "mycc", "move", "a", "b", "10", home=home).stdout
        st = orderer_status(home)
        assert sorted(st) == ["orderer0", "orderer1", "orderer2"]
        assert sum(by["mychannel"]["leader"] for by in st.values()) == 1
        assert len({by["mychannel"]["height"] for by in st.values()}) == 1
        crypto = home / "networks" / "raftorgs" / "crypto" / "ordererOrganizations"
        assert (crypto / "ord2.example.com" / "orderers" / "orderer2.ord2.example.com" / "tls").is_dir()
        assert not (crypto / "ord1.example.com" / "orderers" / "orderer2.ord1.example.com").exists()
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert live_processes(home / "networks" / "raftorgs") == []


def test_top_shows_rates_under_load(raft):
    """`fabkube top --once`: every component running with CPU and memory, the channel's height and
    its committed transactions per second above zero while a client submits (a stopped orderer:
    test_stopped_follower_catches_up)."""
    home = raft[0]
    names = [c["name"] for c in json.loads(run_cli("status", "--json", home=home).stdout)["components"]]
    net = open_network(home / "networks" / NAME)
    with net.gateway("Org1") as gw, SubmitLoad(gw.contract("mychannel", "basic"), "top", workers=2) as load:
        time.sleep(3)
        shown = run_cli("top", "--once", "--interval", "4", home=home).stdout
    print(shown, load.summary())
    rate = re.search(r"mychannel: height (\d+)\s+([\d.]+) tx/s committed", shown)
    assert rate and float(rate.group(2)) > 0, shown
    assert f"{len(names)}/{len(names)} running" in shown
    for name in names:
        assert re.search(rf"^{re.escape(name)}\s+\S+\s+running\s+[\d.]+\s+\d+", shown, re.M), name
    assert re.search(r"^peer0\.org1 .* mychannel \d+", shown, re.M), shown
