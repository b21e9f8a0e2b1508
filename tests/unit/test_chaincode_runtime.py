"""fabkube.chaincode.runtime against a fake peer: a grpc.aio client on 127.0.0.1 that dials the
chaincode server, registers it, sends transactions and answers its state requests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import inspect
import ipaddress
import json
import random
import signal
import struct
import sys
import textwrap
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from conftest import ROOT
from fabric_chaincode_python.fabric_contract_api import Contract, ContractChaincode
from fabric_chaincode_python.fabric_contract_api import TransactionContextInterface as Ctx
from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_chaincode_python.fabric_shim.response import error, success
from fabric_protos.common import common_pb2
from fabric_protos.ledger.queryresult import kv_query_result_pb2 as kv_pb
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim
from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc

from fabkube.chaincode.abstore.chaincode import ABStore
from fabkube.chaincode.runtime import ChaincodeServer, TlsConfig, handler
from fabkube.chaincode.runtime.keys import create_composite_key, split_composite_key

CCM = shim.ChaincodeMessage
CC_ID = "mycc_1.0:0123abcd"
CHANNEL = "mychannel"


def run(coro: Any, timeout: float = 20) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ok(payload: bytes = b"") -> CCM:
    return CCM(type=CCM.RESPONSE, payload=payload)


def response_of(reply: CCM) -> proposal_response_pb2.Response:
    assert reply.type == CCM.COMPLETED, (CCM.Type.Name(reply.type), reply.payload)
    return proposal_response_pb2.Response.FromString(reply.payload)


def kv_result(key: str, value: bytes) -> shim.QueryResultBytes:
    return shim.QueryResultBytes(resultBytes=kv_pb.KV(namespace="mycc", key=key, value=value).SerializeToString())


class FakePeer:
    """Plays the peer on one Connect stream; writes through one queue, as a real client must."""

    def __init__(self, port: int, state: dict[str, bytes] | None = None, *, batch: int = 3, delay: float = 0.002):
        self.port = port
        self.state = dict(state or {})
        self.batch = batch  # results per batch of an unpaginated query
        self.delay = delay  # random reply delay, so replies of different transactions interleave
        self.credentials: grpc.ChannelCredentials | None = None
        self.register: CCM | None = None
        self.seen: Counter[int] = Counter()
        self.replies: defaultdict[str, list[CCM]] = defaultdict(list)
        self.requests: list[CCM] = []
        self.overlaps = 0  # a second request of a transaction while its first is unanswered
        self.closed_queries: list[str] = []
        self.fail_get: dict[str, str] = {}
        self.keepalive = asyncio.Event()
        self.answers: dict[int, Callable[[CCM], CCM]] = {
            CCM.GET_STATE: self._get_state,
            CCM.PUT_STATE: self._put_state,
            CCM.DEL_STATE: self._del_state,
            CCM.GET_STATE_BY_RANGE: self._range,
            CCM.QUERY_STATE_NEXT: lambda msg: ok(self._batch(shim.QueryStateNext.FromString(msg.payload).id)),
            CCM.QUERY_STATE_CLOSE: self._close_query,
        }
        self._open: set[tuple[str, str]] = set()
        self._queries: dict[str, list[str]] = {}
        self._waiters: dict[tuple[str, str], asyncio.Future[CCM]] = {}
        self._outbox: asyncio.Queue[CCM] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FakePeer:
        target = f"127.0.0.1:{self.port}"
        if self.credentials is None:
            self._channel = grpc.aio.insecure_channel(target)
        else:
            self._channel = grpc.aio.secure_channel(target, self.credentials)
        self._call = shim_grpc.ChaincodeStub(self._channel).Connect()
        self._writer = asyncio.create_task(self._write_loop())
        self._reader = asyncio.create_task(self._read_loop())
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({ready, self._reader}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if not self._ready.is_set():
            ready.cancel()
            await self.__aexit__()
            if self._reader.done() and self._reader.exception():
                raise self._reader.exception()
            raise AssertionError("the chaincode did not register")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._call.cancel()
        for task in (self._writer, self._reader, *self._tasks):
            task.cancel()
        await asyncio.gather(self._writer, self._reader, *self._tasks, return_exceptions=True)
        await self._channel.close()

    async def _write_loop(self) -> None:
        while True:
            await self._call.write(await self._outbox.get())

    async def _read_loop(self) -> None:
        async for msg in self._call:
            self.seen[msg.type] += 1
            self._handle(msg)

    def _handle(self, msg: CCM) -> None:
        if msg.type == CCM.REGISTER:
            self.register = msg
            self._outbox.put_nowait(CCM(type=CCM.REGISTERED))
            self._outbox.put_nowait(CCM(type=CCM.READY))
            self._ready.set()
        elif msg.type in (CCM.COMPLETED, CCM.ERROR):
            self.replies[msg.txid].append(msg)
            waiter = self._waiters.pop((msg.channel_id, msg.txid), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
        elif msg.type == CCM.KEEPALIVE:
            self.keepalive.set()
        else:
            key = (msg.channel_id, msg.txid)
            self.overlaps += key in self._open
            self._open.add(key)
            self.requests.append(msg)
            task = asyncio.create_task(self._answer(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: CCM) -> None:
        await asyncio.sleep(random.random() * self.delay)
        answer = self.answers.get(msg.type)
        reply = answer(msg) if answer else CCM(type=CCM.ERROR, payload=b"fake peer: unsupported")
        reply.txid, reply.channel_id = msg.txid, msg.channel_id
        self._open.discard((msg.channel_id, msg.txid))
        self._outbox.put_nowait(reply)

    def _get_state(self, msg: CCM) -> CCM:
        key = shim.GetState.FromString(msg.payload).key
        if key in self.fail_get:
            return CCM(type=CCM.ERROR, payload=self.fail_get[key].encode())
        return ok(self.state.get(key, b""))

    def _put_state(self, msg: CCM) -> CCM:
        put = shim.PutState.FromString(msg.payload)
        self.state[put.key] = put.value
        return ok()

    def _del_state(self, msg: CCM) -> CCM:
        self.state.pop(shim.DelState.FromString(msg.payload).key, None)
        return ok()

    def _range(self, msg: CCM) -> CCM:
        req = shim.GetStateByRange.FromString(msg.payload)
        keys = sorted(k for k in self.state if k >= req.startKey and (not req.endKey or k < req.endKey))
        query_id = uuid.uuid4().hex
        if not req.metadata:
            self._queries[query_id] = keys
            return ok(self._batch(query_id))
        # A paginated query: one page, then the peer is done with it.
        page = shim.QueryMetadata.FromString(req.metadata)
        keys = [k for k in keys if k >= page.bookmark]
        taken, rest = keys[: page.pageSize], keys[page.pageSize :]
        meta = shim.QueryResponseMetadata(fetched_records_count=len(taken), bookmark=rest[0] if rest else "")
        results = [kv_result(k, self.state[k]) for k in taken]
        resp = shim.QueryResponse(results=results, has_more=False, id=query_id, metadata=meta.SerializeToString())
        return ok(resp.SerializeToString())

    def _batch(self, query_id: str) -> bytes:
        keys = self._queries.pop(query_id)
        taken, rest = keys[: self.batch], keys[self.batch :]
        if rest:
            self._queries[query_id] = rest
        results = [kv_result(k, self.state[k]) for k in taken]
        return shim.QueryResponse(results=results, has_more=bool(rest), id=query_id).SerializeToString()

    def _close_query(self, msg: CCM) -> CCM:
        query_id = shim.QueryStateClose.FromString(msg.payload).id
        self.closed_queries.append(query_id)
        self._queries.pop(query_id, None)
        return ok(shim.QueryResponse(id=query_id).SerializeToString())

    def send(self, msg: CCM) -> asyncio.Future[CCM]:
        """Send a message that the chaincode answers with COMPLETED or ERROR; that reply's future."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[(msg.channel_id, msg.txid)] = waiter
        self._outbox.put_nowait(msg)
        return waiter

    async def execute(
        self, *args: str | bytes, txid: str | None = None, kind: int = CCM.TRANSACTION, **fields: Any
    ) -> CCM:
        cc_input = chaincode_pb2.ChaincodeInput(args=[a.encode() if isinstance(a, str) else a for a in args])
        msg = CCM(type=kind, txid=txid or uuid.uuid4().hex, channel_id=CHANNEL, payload=cc_input.SerializeToString())
        for name, value in fields.items():
            getattr(msg, name).CopyFrom(value)
        return await asyncio.wait_for(self.send(msg), 10)


@contextlib.asynccontextmanager
async def serving(chaincode: Any, tls: TlsConfig | None = None) -> AsyncIterator[tuple[ChaincodeServer, int]]:
    server = ChaincodeServer(chaincode, cc_id=CC_ID, address="127.0.0.1:0", tls=tls)
    port = await server.start()
    try:
        yield server, port
    finally:
        await server.stop(0.5)


# ----- a chaincode exercising the stub -----


async def _incr(stub: Any, key: str, amount: str) -> Any:
    value = int(await stub.get_state(key) or 0) + int(amount)
    await stub.put_state(key, str(value))
    stub.set_event("incremented", key)
    return success(str(value))


async def _sum_concurrently(stub: Any, *keys: str) -> Any:
    # Requests of one transaction issued at once: the runtime must send them one at a time.
    values = await asyncio.gather(*(stub.get_state(k) for k in keys))
    return success(str(sum(int(v) for v in values)))


async def _range(stub: Any, start: str, end: str) -> Any:
    return success(json.dumps([[kv.key, kv.value.decode()] async for kv in await stub.get_state_by_range(start, end)]))


async def _page(stub: Any, start: str, end: str, size: str, bookmark: str = "") -> Any:
    it = await stub.get_state_by_range_with_pagination(start, end, int(size), bookmark)
    found = [kv.key async for kv in it]
    return success(json.dumps({"keys": found, "bookmark": it.metadata.bookmark, "count": it.fetched_records_count}))


async def _first_of_range(stub: Any, start: str, end: str) -> Any:
    it = await stub.get_state_by_range(start, end)
    first = await it.__anext__()
    await it.aclose()
    return success(first.key)


async def _put_composite(stub: Any, object_type: str, *attrs_and_value: str) -> Any:
    *attrs, value = attrs_and_value
    await stub.put_state(stub.create_composite_key(object_type, attrs), value)
    return success(b"")


async def _by_partial_key(stub: Any, object_type: str, *attrs: str) -> Any:
    found = []
    async for kv in await stub.get_state_by_partial_composite_key(object_type, list(attrs)):
        found.append([*stub.split_composite_key(kv.key)[1], kv.value.decode()])
    return success(json.dumps(found))


async def _facts(stub: Any, *_: str) -> Any:
    ts = stub.get_tx_timestamp()
    return success(
        json.dumps(
            {
                "mspid": stub.get_creator().get("mspid"),
                "cert": stub.get_creator().get("idBytes", b"").decode(),
                "transient": {k: v.decode() for k, v in stub.get_transient().items()},
                "seconds": ts.seconds if ts is not None else None,
                "binding": stub.get_binding().hex(),
                "channel": stub.get_channel_id(),
                "txid": stub.get_txid(),
                "args": [a.hex() for a in stub.get_args()],
                "signature": stub.get_signed_proposal().signature.decode() if stub.get_signed_proposal() else None,
            }
        )
    )


async def _boom(stub: Any) -> Any:
    raise RuntimeError("boom: the chaincode broke")


async def _refuse(stub: Any) -> Any:
    return error("refused: not allowed")


async def _nothing(stub: Any) -> Any:
    return None


async def _sleep(stub: Any, seconds: str) -> Any:
    await asyncio.sleep(float(seconds))
    return success(b"slept")


async def _other_requests(stub: Any) -> Any:
    history = [(m.tx_id, m.value.decode(), m.is_delete) async for m in await stub.get_history_for_key("h")]
    called = await stub.invoke_chaincode("other", ["ping", b"x"], "otherchannel")
    return success(
        json.dumps(
            {
                "history": history,
                "called": [called.status, called.payload.decode()],
                "hash": (await stub.get_private_data_hash("coll", "p")).decode(),
                "private": (await stub.get_private_data("coll", "p")).decode(),
                "ep": (await stub.get_state_validation_parameter("k")).decode(),
                "purge": (await stub.purge_private_data("coll", "p")).type == CCM.RESPONSE,
                "set_ep": (await stub.set_state_validation_parameter("k", b"policy")).type == CCM.RESPONSE,
            }
        )
    )


PROBE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "incr": _incr,
    "sum": _sum_concurrently,
    "range": _range,
    "page": _page,
    "first": _first_of_range,
    "putcomp": _put_composite,
    "partial": _by_partial_key,
    "facts": _facts,
    "boom": _boom,
    "refuse": _refuse,
    "nothing": _nothing,
    "sleep": _sleep,
    "other": _other_requests,
}


class Probe(Chaincode):
    @staticmethod
    async def init(stub: Any) -> Any:
        return success(b"initialized")

    @staticmethod
    async def invoke(stub: Any) -> Any:
        function, params = stub.get_function_and_parameters()
        return await PROBE_FUNCTIONS[function](stub, *params)


# ----- tests -----


def test_composite_keys_match_the_fabric_layout() -> None:
    key = create_composite_key("color~name", ["blue", "car1"])
    assert key == "\x00color~name\x00blue\x00car1\x00"
    assert split_composite_key(key) == ("color~name", ["blue", "car1"])
    assert split_composite_key(create_composite_key("t", [])) == ("t", [])
    assert split_composite_key("plain") == (None, [])
    for bad in ("", "a\x00b", "z\U0010ffff"):
        with pytest.raises(ValueError):
            create_composite_key("t", [bad])


def test_stub_has_every_method_of_fabric_chaincode_pythons_stub() -> None:
    from fabric_chaincode_python.fabric_shim import stub as original

    from fabkube.chaincode.runtime.stub import ChaincodeStub

    theirs = {n: f for n, f in vars(original.ChaincodeStub).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert len(theirs) > 15
    for name, func in theirs.items():
        ours = getattr(ChaincodeStub, name)
        assert inspect.signature(ours).parameters.keys() == inspect.signature(func).parameters.keys(), name
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(func), name
    assert issubclass(ChaincodeStub, original.ChaincodeStubInterface)


class _WriteProbe:
    """Wraps the servicer context to count writes in flight on one call."""

    def __init__(self, context: Any, stats: dict[str, int]) -> None:
        self._context = context
        self._stats = stats

    async def write(self, msg: CCM) -> None:
        self._stats["active"] += 1
        self._stats["max"] = max(self._stats["max"], self._stats["active"])
        try:
            await self._context.write(msg)
        finally:
            self._stats["active"] -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def test_200_concurrent_abstore_transactions_each_get_one_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = {"active": 0, "max": 0}
    real_run = handler.PeerSession.run

    async def probed_run(self: handler.PeerSession, requests: Any, context: Any) -> None:
        await real_run(self, requests, _WriteProbe(context, stats))

    monkeypatch.setattr(handler.PeerSession, "run", probed_run)
    state = {f"{who}{i}": str(base).encode() for i in range(200) for who, base in (("a", 100), ("b", 200))}

    async def body() -> None:
        async with serving(ABStore) as (_, port), FakePeer(port, state) as peer:
            moves = [peer.execute("move", f"a{i}", f"b{i}", str(i % 50), txid=f"tx{i}") for i in range(100)]
            queries = [peer.execute("query", f"a{i}", txid=f"tx{i}") for i in range(100, 200)]
            replies = await asyncio.gather(*moves, *queries)
            await asyncio.sleep(0.2)  # a duplicate reply would show up here
            assert chaincode_id(peer.register) == CC_ID
            for i, reply in enumerate(replies):
                assert reply.txid == f"tx{i}" and reply.channel_id == CHANNEL
                resp = response_of(reply)
                assert resp.status == 200, resp.message
                assert resp.payload == (b"" if i < 100 else b"100")
            assert {txid: len(msgs) for txid, msgs in peer.replies.items()} == {f"tx{i}": 1 for i in range(200)}
            for i in range(100):
                assert (peer.state[f"a{i}"], peer.state[f"b{i}"]) == (b"%d" % (100 - i % 50), b"%d" % (200 + i % 50))
            assert peer.seen[CCM.GET_STATE] == 300 and peer.seen[CCM.PUT_STATE] == 200
            assert peer.overlaps == 0

    run(body())
    assert stats["max"] == 1, "two writes were outstanding on one call"


def chaincode_id(register: CCM | None) -> str:
    assert register is not None and register.type == CCM.REGISTER
    return chaincode_pb2.ChaincodeID.FromString(register.payload).name


def test_errors_reach_the_peer_with_their_message() -> None:
    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port, {"k": b"1"}) as peer:
            raised = await peer.execute("boom")
            assert raised.type == CCM.ERROR and raised.payload == b"boom: the chaincode broke"
            refused = response_of(await peer.execute("refuse"))
            assert (refused.status, refused.message) == (500, "refused: not allowed")
            nothing = response_of(await peer.execute("nothing"))
            assert nothing.status == 500 and "success() or error()" in nothing.message
            unknown = await peer.execute("no-such-function")
            assert unknown.type == CCM.ERROR and b"no-such-function" in unknown.payload
            peer.fail_get["k"] = "GET_STATE failed: ledger unavailable"
            failed_get = await peer.execute("incr", "k", "1")
            assert failed_get.type == CCM.ERROR and failed_get.payload == b"GET_STATE failed: ledger unavailable"
            assert peer.state["k"] == b"1"
            odd = await asyncio.wait_for(peer.send(CCM(type=CCM.GET_STATE, txid="odd", channel_id=CHANNEL)), 5)
            assert odd.type == CCM.ERROR
            assert response_of(await peer.execute("incr", "j", "2")).payload == b"2"  # the stream still works

    run(body())


def test_init_and_events() -> None:
    async def body() -> None:
        async with serving(ABStore) as (_, port), FakePeer(port) as peer:
            bad = await peer.execute("init", "a", "100", kind=CCM.INIT)
            assert bad.type == CCM.ERROR and b"Incorrect number of arguments" in bad.payload
            good = await peer.execute("init", "a", "100", "b", "200", kind=CCM.INIT)
            assert response_of(good).status == 200
            assert (peer.state["a"], peer.state["b"]) == (b"100", b"200")
        async with serving(Probe) as (_, port), FakePeer(port) as peer:
            reply = await peer.execute("incr", "n", "5")
            assert response_of(reply).payload == b"5"
            assert (reply.chaincode_event.event_name, reply.chaincode_event.payload) == ("incremented", b"n")

    run(body())


def test_requests_of_one_transaction_go_one_at_a_time() -> None:
    state = {f"k{i}": str(i).encode() for i in range(10)}

    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port, state, delay=0.01) as peer:
            replies = await asyncio.gather(*(peer.execute("sum", *state) for _ in range(20)))
            assert [response_of(r).payload for r in replies] == [b"45"] * 20
            assert peer.overlaps == 0

    run(body())


def test_range_queries_page_through_the_peer() -> None:
    state = {f"k{i:02d}": f"v{i}".encode() for i in range(10)}
    state[create_composite_key("t", ["x"])] = b"composite"

    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port, state, batch=3) as peer:
            found = json.loads(response_of(await peer.execute("range", "k02", "k09")).payload)
            assert found == [[f"k{i:02d}", f"v{i}"] for i in range(2, 9)]
            assert peer.seen[CCM.QUERY_STATE_NEXT] == 2  # 7 results in batches of 3
            everything = json.loads(response_of(await peer.execute("range", "", "")).payload)
            assert [k for k, _ in everything] == sorted(k for k in state if not k.startswith("\x00"))

            first = json.loads(response_of(await peer.execute("page", "", "", "4")).payload)
            assert first == {"keys": ["k00", "k01", "k02", "k03"], "bookmark": "k04", "count": 4}
            last = json.loads(response_of(await peer.execute("page", "", "", "4", "k08")).payload)
            assert last == {"keys": ["k08", "k09"], "bookmark": "", "count": 2}

            assert response_of(await peer.execute("first", "k00", "k09")).payload == b"k00"
            assert len(peer.closed_queries) == 1 and peer.seen[CCM.QUERY_STATE_CLOSE] == 1

    run(body())


def test_partial_composite_key_query() -> None:
    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port, {"plain": b"p"}) as peer:
            for color, name in (("blue", "car1"), ("red", "car2"), ("blue", "car3")):
                reply = await peer.execute("putcomp", "color~name", color, name, f"{color}-{name}")
                assert response_of(reply).status == 200
            assert "\x00color~name\x00blue\x00car1\x00" in peer.state
            blue = json.loads(response_of(await peer.execute("partial", "color~name", "blue")).payload)
            assert blue == [["blue", "car1", "blue-car1"], ["blue", "car3", "blue-car3"]]
            everything = json.loads(response_of(await peer.execute("partial", "color~name")).payload)
            assert len(everything) == 3

    run(body())


def signed_proposal(creator_pem: bytes, transient: dict[str, bytes], seconds: int) -> proposal_pb2.SignedProposal:
    identity = identities_pb2.SerializedIdentity(mspid="Org1MSP", id_bytes=creator_pem)
    signature_header = common_pb2.SignatureHeader(creator=identity.SerializeToString(), nonce=b"nonce-1")
    channel_header = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, channel_id=CHANNEL, epoch=7)
    channel_header.timestamp.seconds = seconds
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(), signature_header=signature_header.SerializeToString()
    )
    payload = proposal_pb2.ChaincodeProposalPayload(input=b"input", TransientMap=transient)
    proposal = proposal_pb2.Proposal(header=header.SerializeToString(), payload=payload.SerializeToString())
    return proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString(), signature=b"sig")


def test_stub_reports_the_proposal() -> None:
    cert = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    proposal = signed_proposal(cert, {"secret": b"s3"}, 1_700_000_000)
    creator = identities_pb2.SerializedIdentity(mspid="Org1MSP", id_bytes=cert).SerializeToString()
    binding = hashlib.sha256(b"nonce-1" + creator + struct.pack("<Q", 7)).hexdigest()

    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port) as peer:
            reply = await peer.execute("facts", b"\x01\x02", txid="t-1", proposal=proposal)
            facts = json.loads(response_of(reply).payload)
            assert facts == {
                "mspid": "Org1MSP",
                "cert": cert.decode(),
                "transient": {"secret": "s3"},
                "seconds": 1_700_000_000,
                "binding": binding,
                "channel": CHANNEL,
                "txid": "t-1",
                "args": [b"facts".hex(), "0102"],
                "signature": "sig",
            }
            bare = json.loads(response_of(await peer.execute("facts")).payload)
            assert (bare["mspid"], bare["transient"], bare["seconds"], bare["signature"]) == (None, {}, None, None)
            broken = await peer.execute("facts", proposal=proposal_pb2.SignedProposal(proposal_bytes=b"\xff\xff"))
            assert broken.type == CCM.ERROR and b"proposal" in broken.payload

    run(body())


def test_other_requests_use_fabric_message_layouts() -> None:
    history = [kv_pb.KeyModification(tx_id="t1", value=b"v1"), kv_pb.KeyModification(tx_id="t2", is_delete=True)]
    pong = proposal_response_pb2.Response(status=200, payload=b"pong")
    callee = CCM(type=CCM.COMPLETED, payload=pong.SerializeToString())
    metadata = shim.StateMetadataResult(entries=[shim.StateMetadata(metakey="VALIDATION_PARAMETER", value=b"ep")])
    batch = [shim.QueryResultBytes(resultBytes=m.SerializeToString()) for m in history]
    history_reply = shim.QueryResponse(results=batch)

    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port, {}) as peer:
            peer.answers.update(
                {
                    CCM.GET_HISTORY_FOR_KEY: lambda msg: ok(history_reply.SerializeToString()),
                    CCM.INVOKE_CHAINCODE: lambda msg: ok(callee.SerializeToString()),
                    CCM.GET_PRIVATE_DATA_HASH: lambda msg: ok(b"hash-of-p"),
                    CCM.GET_STATE: lambda msg: ok(b"private-p"),
                    CCM.GET_STATE_METADATA: lambda msg: ok(metadata.SerializeToString()),
                    CCM.PURGE_PRIVATE_DATA: lambda msg: ok(),
                    CCM.PUT_STATE_METADATA: lambda msg: ok(),
                }
            )
            out = json.loads(response_of(await peer.execute("other")).payload)
            assert out == {
                "history": [["t1", "v1", False], ["t2", "", True]],
                "called": [200, "pong"],
                "hash": "hash-of-p",
                "private": "private-p",
                "ep": "ep",
                "purge": True,
                "set_ep": True,
            }
            sent = {CCM.Type.Name(m.type): m.payload for m in peer.requests}
            spec = chaincode_pb2.ChaincodeSpec.FromString(sent["INVOKE_CHAINCODE"])
            assert spec.chaincode_id.name == "other/otherchannel" and list(spec.input.args) == [b"ping", b"x"]
            assert shim.GetState.FromString(sent["GET_PRIVATE_DATA_HASH"]) == shim.GetState(key="p", collection="coll")
            assert shim.PurgePrivateState.FromString(sent["PURGE_PRIVATE_DATA"]).collection == "coll"
            put_meta = shim.PutStateMetadata.FromString(sent["PUT_STATE_METADATA"])
            assert (put_meta.key, put_meta.metadata.metakey, put_meta.metadata.value) == (
                "k",
                "VALIDATION_PARAMETER",
                b"policy",
            )

    run(body())


def test_two_peers_with_the_same_txids_do_not_mix() -> None:
    async def body() -> None:
        async with serving(Probe) as (_, port):
            one_state = {f"n{i}": b"10" for i in range(30)}
            two_state = {f"n{i}": b"1000" for i in range(30)}
            async with FakePeer(port, one_state) as one, FakePeer(port, two_state) as two:
                replies = await asyncio.gather(
                    *(peer.execute("incr", f"n{i}", "1", txid=f"same-{i}") for i in range(30) for peer in (one, two))
                )
                assert [response_of(r).payload for r in replies] == [b"11", b"1001"] * 30
                assert set(one.state.values()) == {b"11"} and set(two.state.values()) == {b"1001"}
                assert len(one.replies) == len(two.replies) == 30

    run(body())


def test_keepalive_is_echoed() -> None:
    async def body() -> None:
        async with serving(Probe) as (_, port), FakePeer(port) as peer:
            peer._outbox.put_nowait(CCM(type=CCM.KEEPALIVE))
            await asyncio.wait_for(peer.keepalive.wait(), 5)

    run(body())


class Store(Contract):
    Name = "store"

    async def put(self, ctx: Ctx, key: str, value: str) -> None:
        await ctx.get_stub().put_state(key, value)

    async def get(self, ctx: Ctx, key: str) -> str:
        return (await ctx.get_stub().get_state(key)).decode()

    def caller(self, ctx: Ctx) -> str:
        return ctx.get_client_identity().get_mspid()


def test_contract_api_runs_on_the_runtime() -> None:
    proposal = signed_proposal(b"cert", {}, 1)

    async def body() -> None:
        async with serving(ContractChaincode.new_chaincode(Store())) as (_, port), FakePeer(port) as peer:
            assert response_of(await peer.execute("put", "k", "v")).status == 200
            assert peer.state["k"] == b"v"
            assert response_of(await peer.execute("store:get", "k")).payload == b"v"
            assert response_of(await peer.execute("caller", proposal=proposal)).payload == b"Org1MSP"
            missing = response_of(await peer.execute("nope"))
            assert missing.status == 500 and "nope" in missing.message
            meta = json.loads(response_of(await peer.execute("org.hyperledger.fabric:get_metadata")).payload)
            assert "store" in meta["contracts"]

    run(body())


def make_pki() -> dict[str, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(name: str, key: Any, issuer: str, signer: Any, ca: bool) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def pem_key(key: Any) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    return {
        "ca": cert("test-ca", ca_key, "test-ca", ca_key, True),
        "server": cert("chaincode", server_key, "test-ca", ca_key, False),
        "server_key": pem_key(server_key),
        "client": cert("peer0", client_key, "test-ca", ca_key, False),
        "client_key": pem_key(client_key),
    }


def test_mutual_tls(tmp_path: Any) -> None:
    pki = make_pki()
    (tmp_path / "server.pem").write_bytes(pki["server"])
    # One of each accepted form: a path, bytes, PEM text.
    tls = TlsConfig(cert=str(tmp_path / "server.pem"), key=pki["server_key"], client_ca=pki["ca"].decode())

    async def body() -> None:
        async with serving(Probe, tls=tls) as (_, port):
            peer = FakePeer(port)
            peer.credentials = grpc.ssl_channel_credentials(pki["ca"], pki["client_key"], pki["client"])
            async with peer:
                assert response_of(await peer.execute("incr", "k", "3")).payload == b"3"
            anonymous = FakePeer(port)
            anonymous.credentials = grpc.ssl_channel_credentials(pki["ca"])
            with pytest.raises(grpc.aio.AioRpcError):
                async with anonymous:
                    pass

    run(body())


def test_tls_arguments_are_checked() -> None:
    assert TlsConfig.from_args(None, None, None) is None
    with pytest.raises(ValueError):
        TlsConfig.from_args("cert.pem", None, None)
    with pytest.raises(ValueError):
        TlsConfig.from_args(None, None, "ca.pem")
    with pytest.raises(TypeError):
        ChaincodeServer(object, cc_id=CC_ID, address="127.0.0.1:0")  # type: ignore[arg-type]


def test_stop_lets_running_transactions_finish_and_refuses_new_ones() -> None:
    async def body() -> None:
        async with serving(Probe) as (server, port), FakePeer(port) as peer:
            running = asyncio.ensure_future(peer.execute("sleep", "0.5"))
            await asyncio.sleep(0.1)
            stopping = asyncio.ensure_future(server.stop(5))
            await asyncio.sleep(0.1)
            refused = await peer.execute("incr", "k", "1")
            assert refused.type == CCM.ERROR and b"shutting down" in refused.payload
            assert response_of(await running).payload == b"slept"
            started = time.monotonic()
            await asyncio.wait_for(stopping, 3)
            assert time.monotonic() - started < 1.5  # the drained stream ended; no waiting out the grace

    run(body())


def test_stop_cancels_what_outlives_the_grace() -> None:
    async def body() -> None:
        async with serving(Probe) as (server, port), FakePeer(port) as peer:
            stuck = asyncio.ensure_future(peer.execute("sleep", "30"))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await server.stop(0.3)
            assert time.monotonic() - started < 2
            assert not stuck.done()
            stuck.cancel()

    run(body())


SERVER_SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
    from fabric_chaincode_python.fabric_shim.response import success
    from fabkube.chaincode.runtime import start

    class Slow(Chaincode):
        @staticmethod
        async def init(stub):
            return success(b"")

        @staticmethod
        async def invoke(stub):
            await asyncio.sleep(float(stub.get_string_args()[1]))
            return success(b"done")

    logging.basicConfig(level=logging.INFO)
    start(Slow, cc_id="slow:1", address="127.0.0.1:0", grace=5, on_listening=lambda port: print(port, flush=True))
    """
)


def test_sigterm_drains_then_exits(tmp_path: Any) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER_SCRIPT)

    async def body() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            port = int(await asyncio.wait_for(proc.stdout.readline(), 15))
            async with FakePeer(port) as peer:
                running = asyncio.ensure_future(peer.execute("sleep", "0.6"))
                await asyncio.sleep(0.2)
                proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.1)
                refused = await peer.execute("sleep", "0")
                assert refused.type == CCM.ERROR and b"shutting down" in refused.payload
                assert response_of(await running).payload == b"done"
                assert await asyncio.wait_for(proc.wait(), 5) == 0
            stderr = (await proc.stderr.read()).decode()
            assert "Traceback" not in stderr and "SIGTERM" in stderr
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    run(body(), timeout=30)


def _samples(text: str) -> dict[str, float]:
    """The exposition's samples by their series (name and labels as written)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def test_metrics_count_transactions_by_function_and_outcome_and_are_served_over_http() -> None:
    """What the runtime serves on CHAINCODE_METRICS_ADDRESS: ok, error and failed transactions per
    function, a histogram whose +Inf bucket is the count, in-flight back at 0, the peer's stream."""
    import urllib.request

    from fabkube.chaincode.runtime.metrics import serve_metrics

    async def body() -> dict[str, float]:
        async with serving(Probe) as (server, port):
            exporter = serve_metrics(server.metrics, "127.0.0.1:0")
            try:
                async with FakePeer(port, {"k": b"1"}) as peer:
                    await peer.execute("incr", "k", "1")
                    await peer.execute("incr", "k", "2")
                    await peer.execute("refuse")
                    await peer.execute("boom")
                    url = f"http://127.0.0.1:{exporter.server_address[1]}/metrics"
                    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
                # The server sees the stream end once the cancellation reaches it.
                for _ in range(100):
                    if server.metrics.streams_open == 0:
                        break
                    await asyncio.sleep(0.05)
                return _samples(text) | {"streams_after": server.metrics.streams_open}
            finally:
                exporter.shutdown()

    s = run(body())
    p = "fabkube_chaincode_"
    assert s[p + 'transactions_total{function="incr",outcome="ok"}'] == 2
    assert s[p + 'transactions_total{function="refuse",outcome="error"}'] == 1
    assert s[p + 'transactions_total{function="boom",outcome="failed"}'] == 1
    assert s[p + 'transaction_duration_seconds_bucket{function="incr",le="+Inf"}'] == 2
    assert s[p + 'transaction_duration_seconds_count{function="incr"}'] == 2
    assert 0 < s[p + 'transaction_duration_seconds_sum{function="incr"}'] < 5
    assert s[p + 'transaction_duration_seconds_bucket{function="incr",le="10.0"}'] == 2
    assert s[p + "transactions_in_flight"] == 0
    assert s[p + "streams_opened_total"] == 1 and s[p + "streams_open"] == 1
    assert s["streams_after"] == 0


def test_metrics_keep_function_labels_bounded() -> None:
    from fabkube.chaincode.runtime.metrics import MAX_FUNCTIONS, Metrics

    m = Metrics()
    for i in range(MAX_FUNCTIONS + 20):
        m.started()
        m.finished(f"f{i}", "ok", 0.001)
    m.started()
    m.finished('we"ird\n', "ok", 0.001)
    text = m.render()
    lines = [line for line in text.splitlines() if "transactions_total{" in line]
    functions = {line.split('function="')[1].split('"')[0] for line in lines}
    assert len(functions) == MAX_FUNCTIONS + 1 and "other" in functions
    assert _samples(text)['fabkube_chaincode_transactions_total{function="other",outcome="ok"}'] == 21


def test_metrics_escape_label_values() -> None:
    from fabkube.chaincode.runtime.metrics import Metrics

    m = Metrics()
    m.started()
    m.finished('we"ird\\\n', "ok", 0.001)
    assert 'fabkube_chaincode_transactions_total{function="we\\"ird\\\\\\n",outcome="ok"} 1' in m.render()
