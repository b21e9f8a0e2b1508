"""Transactions against a real network through fabkube's Gateway client: submit, evaluate, errors
with the peers' details, MVCC conflicts, events, deadlines; a soak of concurrent submits and
evaluations where every transaction is accounted for; and a short `fabkube bench` round."""

import asyncio
import hashlib
import json
import shutil
import threading
from pathlib import Path

import grpc
import pytest
from conftest import EXAMPLES, live_processes, run_cli

from fabkube.backends.local.network import LocalNetwork
from fabkube.bench import RoundOptions, run_bench, workload
from fabkube.chaincode import BUILTINS
from fabkube.gateway import CommitError, EndorseError, GatewayError
from fabkube.spec import parse_spec

pytestmark = pytest.mark.e2e

# The bench spec plus a chaincode whose policy no peer signature can meet (an admin must endorse).
STRICT = "  - {name: strict, path: 'builtin:asset-transfer-basic', channel: mychannel, endorsementPolicy: %s}\n"
SPEC = (
    (EXAMPLES / "bench.yaml").read_text().replace("name: bench", "name: txs").replace("local: {basePort: 17100}\n", "")
    + STRICT % "\"AND('Org1MSP.admin')\""
    + "local: {basePort: 15100}\n"
)


@pytest.fixture(scope="module")
def net(tools, tmp_path_factory):
    home = tmp_path_factory.mktemp("txs")
    # A user's own Go chaincode directory (a copy of the built-in one) next to the built-ins.
    user_go = home / "my-go-chaincode"
    shutil.copytree(BUILTINS["asset-transfer-basic-go"], user_go)
    stubcheck = Path(__file__).parent / "chaincode" / "stubcheck"
    extra = f"  - {{name: usergo, path: {user_go}, channel: mychannel}}\n"
    extra += f"  - {{name: stubcheck, path: {stubcheck}, channel: mychannel, collections: [{{name: secrets}}]}}\n"
    spec = SPEC.replace("local:", extra + "local:")
    network = LocalNetwork(parse_spec(spec), home / "txs", tools, spec_dir=EXAMPLES)
    try:
        assert network.up().smoke == {"mycc": "100"}
        yield network
    finally:
        network.down(purge=True)
        assert live_processes(home / "txs") == []


def test_submit_evaluate_and_errors_with_details(net):
    with net.gateway("Org1") as gw:
        basic = gw.contract("mychannel", "basic")
        basic.submit("CreateAsset", "gw-1", "red", "3", "Ann", "10")
        asset = json.loads(basic.evaluate("ReadAsset", "gw-1"))
        assert asset == {"AppraisedValue": 10, "Color": "red", "ID": "gw-1", "Owner": "Ann", "Size": 3}
        assert basic.submit("TransferAsset", "gw-1", "Bob") == b"Ann"

        with pytest.raises(EndorseError) as failed:  # the chaincode refuses: its message reaches the client
            basic.submit("CreateAsset", "gw-1", "red", "3", "Ann", "10")
        assert "the asset gw-1 already exists" in str(failed.value)
        assert failed.value.details and all(d.msp_id == "Org1MSP" for d in failed.value.details)

        with pytest.raises(GatewayError) as missing:
            basic.evaluate("ReadAsset", "nope")
        assert "the asset nope does not exist" in str(missing.value)

        with pytest.raises(GatewayError) as policy:  # no set of peers can satisfy AND('Org1MSP.admin')
            gw.contract("mychannel", "strict").submit("CreateAsset", "s-1", "red", "1", "Ann", "1")
        assert isinstance(policy.value, EndorseError | CommitError)
        text = str(policy.value)
        assert "ENDORSEMENT_POLICY_FAILURE" in text or "endorsement policy" in text or "no combination" in text, text


@pytest.mark.parametrize("chaincode", ["basicgo", "usergo"])
def test_go_chaincode_serves_the_same_contract(net, chaincode):
    """The Go runtime (fabric-chaincode-go's ChaincodeServer, mutual TLS) answers as the Python one."""
    with net.gateway("Org1") as gw:
        go, py = gw.contract("mychannel", chaincode), gw.contract("mychannel", "basic")
        for contract in (go, py):
            contract.submit("CreateAsset", f"same-{chaincode}", "red", "3", "Ann", "10")
        assert go.evaluate("ReadAsset", f"same-{chaincode}") == py.evaluate("ReadAsset", f"same-{chaincode}")
        assert go.submit("TransferAsset", f"same-{chaincode}", "Bob") == b"Ann"
        with pytest.raises(EndorseError, match=f"the asset same-{chaincode} already exists"):
            go.submit("CreateAsset", f"same-{chaincode}", "red", "3", "Ann", "10")
    log = net.logs(f"chaincode-{chaincode}", 50)
    assert "TLS on, client certificates required" in log


def test_stub_capabilities_against_a_real_peer(net):
    """Composite keys, pagination with bookmarks, history, creator/txid/timestamp/transient,
    events, private data (a collection in the definition) and chaincode-to-chaincode calls,
    served by the Python runtime to a real peer."""
    with net.gateway("Org1") as gw:
        cc = gw.contract("mychannel", "stubcheck")

        def submit(fn, *args, **kw):
            return json.loads(cc.submit(fn, *args, **kw))

        submit("composite_fill")
        assert sorted(json.loads(cc.evaluate("composite", "red"))["found"]) == [["red", "1"], ["red", "2"]]

        submit("fill_pages", "7")
        first = json.loads(cc.evaluate("page", "3"))
        assert first["keys"] == ["page-00", "page-01", "page-02"] and first["count"] == 3 and first["bookmark"]
        second = json.loads(cc.evaluate("page", "3", first["bookmark"]))
        assert second["keys"] == ["page-03", "page-04", "page-05"]

        txs = [cc.new_proposal("put", "h", v).endorse() for v in ("one",)]
        assert txs[0].submit().status().successful
        submit("put", "h", "two")
        history = json.loads(cc.evaluate("history", "h"))["history"]
        assert sorted(h["value"] for h in history) == ["one", "two"]
        assert txs[0].transaction_id in {h["tx"] for h in history}

        proposal = cc.new_proposal("whoami", transient={"secret": b"s3cret"})
        me = json.loads(proposal.evaluate())
        assert me["mspid"] == "Org1MSP" and me["channel"] == "mychannel" and me["seconds"] > 1_700_000_000
        assert me["txid"] == proposal.transaction_id and me["transient"] == {"secret": "s3cret"}

        # Events from the block after a known commit: no race with when the peer registers the stream.
        mark = cc.new_proposal("put", "events-mark", "x").endorse().submit().status()
        events = gw.network("mychannel").chaincode_events("stubcheck", start_block=mark.block_number + 1)
        assert submit("ping", "hello") == {"pinged": "hello"}
        event = next(iter(events))
        events.close()
        assert event.event_name == "Pinged" and event.payload == b"hello"

        gw.contract("mychannel", "basic").submit("CreateAsset", "cc2cc-1", "red", "1", "Ann", "1")
        cc.submit("private_put", "secrets", "p1", transient={"value": b"pssst"})
        private = json.loads(cc.evaluate("private_get", "secrets", "p1"))
        assert private == {"value": "pssst", "hash": hashlib.sha256(b"pssst").hexdigest()}

        called = json.loads(cc.evaluate("call", "basic", "AssetExists", "cc2cc-1"))
        assert called == {"status": 200, "payload": "true", "message": ""}
        failed = json.loads(cc.evaluate("call", "basic", "ReadAsset", "missing"))
        assert failed["status"] == 500 and "does not exist" in failed["message"]


def test_mvcc_conflict_is_reported_as_such(net):
    with net.gateway("Org1") as gw:
        basic = gw.contract("mychannel", "basic")
        basic.submit("CreateAsset", "hot-1", "red", "3", "Ann", "10")
        # Two transfers endorsed against the same version; the second to commit is invalidated.
        first = basic.new_proposal("TransferAsset", "hot-1", "X").endorse()
        second = basic.new_proposal("TransferAsset", "hot-1", "Y").endorse()
        assert first.submit().status().successful
        status = second.submit().status()
        assert not status.successful and status.code_name == "MVCC_READ_CONFLICT"
        assert json.loads(basic.evaluate("ReadAsset", "hot-1"))["Owner"] == "X"


def test_chaincode_events_are_received(net):
    received = []
    with net.gateway("Org1") as gw:
        basic = gw.contract("mychannel", "basic")
        # Events from the block after a known commit: no race with when the peer registers the stream.
        mark = basic.new_proposal("CreateAsset", "ev-0", "red", "1", "Ann", "1").endorse().submit().status()
        events = gw.network("mychannel").chaincode_events("basic", start_block=mark.block_number + 1)

        def listen():
            for event in events:
                received.append(event)
                if len(received) == 2:
                    break

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        for key in ("ev-1", "ev-2"):
            basic.submit("CreateAsset", key, "red", "1", "Ann", "1")
        listener.join(timeout=30)
        events.close()
    assert [e.event_name for e in received] == ["CreateAsset", "CreateAsset"]
    assert [json.loads(e.payload)["ID"] for e in received] == ["ev-1", "ev-2"]
    assert all(e.chaincode_name == "basic" and e.block_number > 0 for e in received)


def test_deadlines_are_honoured(net):
    with net.gateway("Org1") as gw, pytest.raises(GatewayError) as late:
        gw.contract("mychannel", "basic").evaluate("GetAllAssets", timeout=0.001)
    assert late.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_soak_concurrent_submits_and_evaluations_all_accounted_for(net):
    """Hundreds of submits and evaluations in flight at once on the Python runtime: every one
    commits valid or evaluates; none fails, none times out."""
    conn = net.connection("Org1")
    peer = conn.peers[0]
    from fabkube.gateway import AsyncGateway, identity_from_msp_dir

    identity, signer = identity_from_msp_dir(conn.msp_id, conn.msp_dir)

    async def soak(address):
        gw = AsyncGateway.connect(address, identity, signer, peer.tls_root.read_bytes(), peer.server_name)
        basic = gw.contract("mychannel", "basic")
        sem = asyncio.Semaphore(60)

        async def create(i):
            async with sem:
                await basic.submit("CreateAsset", f"soak-{i}", "x" * 100, "1", "soak", "5")
                return "committed"

        async def read(i):
            async with sem:
                await basic.evaluate("ReadAsset", "gw-1" if i % 2 else "asset1")
                return "evaluated"

        try:
            await basic.submit("InitLedger")
            outcomes = await asyncio.gather(
                *[create(i) for i in range(400)], *[read(i) for i in range(400)], return_exceptions=True
            )
        finally:
            await gw.close()
        return outcomes

    with net.dial(peer) as address:
        outcomes = asyncio.run(soak(address))
    failed = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert failed == [], failed[:5]
    assert outcomes.count("committed") == 400 and outcomes.count("evaluated") == 400
    chaincode_log = net.logs("chaincode-basic", 2000)
    assert "WARNING" not in chaincode_log and "Traceback" not in chaincode_log


@pytest.mark.parametrize("name", ["create", "read", "transfer"])
@pytest.mark.parametrize("chaincode", ["basic", "basicgo"])
def test_bench_round_figures_are_consistent(net, name, chaincode):
    report, records = run_bench(net, workload(name), RoundOptions(150, backlog=20, warmup=10), chaincode=chaincode)
    assert len(records) == 150 and report.succ + report.fail == 150
    assert report.throughput <= report.send_rate + 1e-9
    assert report.min_latency <= report.p50 <= report.p99 <= report.max_latency
    if name == "transfer":  # 10 hot keys, 20 in flight: conflicts happen and are counted as such
        assert report.fail > 0 and set(report.failures) == {"MVCC_READ_CONFLICT"}
    else:
        assert report.fail == 0, report.failures
    names = {u.name for u in report.resources}
    assert {"peer0.org1", "orderer0", "kafka-0", f"chaincode-{chaincode}", "bench client"} <= names
    assert all(u.rss_max_mib > 0 for u in report.resources)


def test_bench_cli_json_and_plot(net, tmp_path):
    plot = tmp_path / "round.png"
    proc = run_cli(
        "bench",
        "--workload",
        "read",
        "--tx",
        "100",
        "--backlog",
        "10",
        "--warmup",
        "0",
        "--json",
        "--plot",
        str(plot),
        "--workdir",
        str(net.workdir),
        home=tmp_path,
    )
    figures = json.loads(proc.stdout)
    assert figures["succ"] == 100 and figures["fail"] == 0 and figures["throughput"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
