"""One peer's stream: registration, transactions running concurrently, replies matched back.

Every message to the peer goes through one queue drained by one writer task: grpc.aio allows a
single outstanding write per call, and concurrent writes fail with TOO_MANY_OPERATIONS.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_protos.peer import chaincode_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim
from google.protobuf.message import Message

from .metrics import Metrics
from .protocol import PeerError, type_name
from .stub import ChaincodeStub

LOG = logging.getLogger(__name__)
CCM = shim.ChaincodeMessage
ERROR_THRESHOLD = 400
ERROR_STATUS = 500
FLUSH_TIMEOUT = 2.0  # seconds to get already queued replies out when the stream ends

TxKey = tuple[str, str]


def _reply(request: CCM, msg_type: int, payload: bytes, event: Any = None) -> CCM:
    msg = CCM(type=msg_type, payload=payload, txid=request.txid, channel_id=request.channel_id)
    if event is not None:
        msg.chaincode_event.CopyFrom(event)
    return msg


def _error(request: CCM, text: str) -> CCM:
    return _reply(request, CCM.ERROR, text.encode())


class Transaction:
    """One transaction's request channel; the stub's `client`."""

    def __init__(self, session: PeerSession, channel_id: str, txid: str) -> None:
        self.channel_id = channel_id
        self.txid = txid
        self.pending: asyncio.Future[CCM] | None = None
        self.finished = False
        self.function, self.outcome = "", "failed"  # what the metrics say of it (PeerSession._run)
        self._session = session
        self._lock = asyncio.Lock()

    async def request(self, msg_type: int, payload: Message) -> CCM:
        msg = CCM(type=msg_type, payload=payload.SerializeToString(), txid=self.txid, channel_id=self.channel_id)
        # The peer's reply carries only (channel, txid), so two requests of one transaction in
        # flight (asyncio.gather in user code) could not be told apart: one at a time.
        async with self._lock:
            if self.finished:
                raise PeerError(f"transaction {self.txid} has already completed")
            self.pending = asyncio.get_running_loop().create_future()
            try:
                self._session.send(msg)
                reply = await self.pending
            finally:
                self.pending = None
        if reply.type == CCM.RESPONSE:
            return reply
        if reply.type == CCM.ERROR:
            raise PeerError(reply.payload.decode(errors="replace"))
        raise PeerError(f"unexpected {type_name(reply.type)} in reply to {type_name(msg_type)}")


class PeerSession:
    """Handles one Connect stream; several peers means several sessions."""

    def __init__(self, chaincode: Chaincode, cc_id: str, peer: str = "peer", metrics: Metrics | None = None) -> None:
        self.peer = peer
        self._metrics = metrics or Metrics()
        self._chaincode = chaincode
        self._cc_id = cc_id
        self._state = "created"
        self._outbox: asyncio.Queue[CCM | None] = asyncio.Queue()
        self._txs: dict[TxKey, Transaction] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._draining = False
        self._idle = asyncio.Event()

    # ----- stream lifecycle -----

    async def run(self, requests: AsyncIterator[CCM], context: grpc.aio.ServicerContext) -> None:
        writer = asyncio.create_task(self._write_loop(context))
        reader = asyncio.create_task(self._read_loop(requests))
        idle = asyncio.create_task(self._idle.wait())
        register = CCM(type=CCM.REGISTER, payload=chaincode_pb2.ChaincodeID(name=self._cc_id).SerializeToString())
        register.timestamp.GetCurrentTime()
        self.send(register)
        try:
            await asyncio.wait({writer, reader, idle}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._close(reader, writer, idle)

    def begin_drain(self) -> None:
        """Refuse new transactions; the stream ends once the running ones have replied."""
        self._draining = True
        self._check_idle()

    def send(self, msg: CCM) -> None:
        if self._closed:
            raise PeerError("the stream to the peer is closed")
        self._outbox.put_nowait(msg)

    async def _write_loop(self, context: grpc.aio.ServicerContext) -> None:
        while (msg := await self._outbox.get()) is not None:
            await context.write(msg)

    async def _read_loop(self, requests: AsyncIterator[CCM]) -> None:
        async for msg in requests:
            self._dispatch(msg)

    async def _close(self, reader: asyncio.Task[None], writer: asyncio.Task[None], idle: asyncio.Task[Any]) -> None:
        self._closed = True
        reader.cancel()
        idle.cancel()
        for task in self._tasks:
            task.cancel()
        gone = PeerError("the stream to the peer is closed")
        for tx in self._txs.values():
            # No reply can reach the peer now; it waits for its execute timeout.
            LOG.warning("[%s:%s] abandoned: the stream to %s closed first", tx.channel_id, tx.txid, self.peer)
            if tx.pending is not None and not tx.pending.done():
                tx.pending.set_exception(gone)
        await asyncio.gather(reader, idle, *self._tasks, return_exceptions=True)
        self._report_end(reader, writer)
        # The sentinel goes after whatever is queued, so replies already produced still go out.
        self._outbox.put_nowait(None)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(writer, FLUSH_TIMEOUT)

    def _report_end(self, reader: asyncio.Task[None], writer: asyncio.Task[None]) -> None:
        for what, task in (("reading from", reader), ("writing to", writer)):
            if task.done() and not task.cancelled() and task.exception() is not None:
                LOG.warning("stream with %s failed while %s it: %s", self.peer, what, task.exception())
                return
        LOG.info("stream with %s closed", self.peer)

    # ----- incoming messages -----

    def _dispatch(self, msg: CCM) -> None:
        if msg.type == CCM.KEEPALIVE:
            self.send(msg)  # the peer expects its keepalive echoed
        elif self._state == "ready":
            self._on_ready(msg)
        elif self._state == "established" and msg.type == CCM.READY:
            self._state = "ready"
            LOG.info("registered as %s with %s", self._cc_id, self.peer)
        elif self._state == "created" and msg.type == CCM.REGISTERED:
            self._state = "established"
        else:
            self._protocol_error(msg)

    def _protocol_error(self, msg: CCM) -> None:
        text = f"[{msg.txid}] chaincode cannot handle message ({type_name(msg.type)}) while in state {self._state}"
        if msg.type == CCM.ERROR:
            text = f"{self.peer} refused the chaincode while {self._state}: {msg.payload.decode(errors='replace')}"
        self.send(CCM(type=CCM.ERROR, payload=text.encode(), txid=msg.txid))
        # Before READY nothing can work on this stream; end it, as the Go shim does.
        raise PeerError(text)

    def _on_ready(self, msg: CCM) -> None:
        if msg.type in (CCM.RESPONSE, CCM.ERROR):
            self._deliver(msg)
        elif msg.type in (CCM.TRANSACTION, CCM.INIT):
            self._start(msg)
        else:
            LOG.warning("[%s:%s] unexpected %s from %s", msg.channel_id, msg.txid, type_name(msg.type), self.peer)
            self.send(_error(msg, f"chaincode cannot handle message ({type_name(msg.type)}) while ready"))

    def _deliver(self, msg: CCM) -> None:
        tx = self._txs.get((msg.channel_id, msg.txid))
        if tx is None or tx.pending is None or tx.pending.done():
            LOG.warning(
                "[%s:%s] %s from %s matches no request", msg.channel_id, msg.txid, type_name(msg.type), self.peer
            )
            return
        tx.pending.set_result(msg)

    # ----- transactions -----

    def _start(self, msg: CCM) -> None:
        key = (msg.channel_id, msg.txid)
        if self._draining:
            self.send(_error(msg, "chaincode server is shutting down"))
            return
        if key in self._txs:
            # An ERROR with this txid would land on the running transaction; the peer never
            # sends a duplicate anyway, so drop it.
            LOG.warning("[%s:%s] duplicate transaction from %s ignored", *key, self.peer)
            return
        tx = Transaction(self, *key)
        self._txs[key] = tx
        task = asyncio.create_task(self._run(msg, tx))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.warning("transaction task failed: %s", task.exception())
        self._check_idle()

    def _check_idle(self) -> None:
        if self._draining and not self._tasks:
            self._idle.set()

    async def _run(self, msg: CCM, tx: Transaction) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._metrics.started()
        if msg.type == CCM.INIT:  # _execute names an invoke's function and every outcome
            tx.function = "init"
        try:
            reply = await self._execute(msg, tx)
        finally:
            tx.finished = True
            self._txs.pop((tx.channel_id, tx.txid), None)
            self._metrics.finished(tx.function, tx.outcome, loop.time() - started)
        with contextlib.suppress(PeerError):
            self.send(reply)
        if LOG.isEnabledFor(logging.DEBUG):
            elapsed = (loop.time() - started) * 1000
            LOG.debug(
                "[%s:%s] %s %s in %.1f ms", msg.channel_id, msg.txid, type_name(msg.type), _outcome(reply), elapsed
            )

    async def _execute(self, msg: CCM, tx: Transaction) -> CCM:
        method = "init" if msg.type == CCM.INIT else "invoke"
        try:
            cc_input = chaincode_pb2.ChaincodeInput.FromString(msg.payload)
            if method == "invoke" and cc_input.args:
                tx.function = cc_input.args[0][:64].decode(errors="replace")
            proposal = msg.proposal if msg.HasField("proposal") else None
            stub = ChaincodeStub(tx, msg.channel_id, msg.txid, cc_input, proposal)
            result = getattr(self._chaincode, method)(stub)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            LOG.warning("[%s:%s] chaincode %s failed: %r", msg.channel_id, msg.txid, method, exc, exc_info=True)
            return _error(msg, str(exc) or type(exc).__name__)
        return self._completion(msg, method, result, stub, tx)

    def _completion(self, msg: CCM, method: str, result: Any, stub: ChaincodeStub, tx: Transaction) -> CCM:
        if not isinstance(result, proposal_response_pb2.Response) or not result.status:
            LOG.warning(
                "[%s:%s] chaincode %s returned %r, not success() or error()", msg.channel_id, msg.txid, method, result
            )
            text = f"chaincode {method}() did not return success() or error()"
            result = proposal_response_pb2.Response(status=ERROR_STATUS, message=text)
        events = stub.get_events()
        event = events[-1] if events else None
        # As in the Go shim: a failed Init is an ERROR message, a failed Invoke a COMPLETED one
        # whose response carries the status (the endorser rejects it either way).
        if method == "init" and result.status >= ERROR_THRESHOLD:
            return _reply(msg, CCM.ERROR, result.message.encode(), event)
        tx.outcome = "error" if result.status >= ERROR_THRESHOLD else "ok"
        return _reply(msg, CCM.COMPLETED, result.SerializeToString(), event)


def _outcome(reply: CCM) -> str:
    if reply.type != CCM.COMPLETED:
        return f"{type_name(reply.type)} {reply.payload[:200].decode(errors='replace')!r}"
    response = proposal_response_pb2.Response.FromString(reply.payload)
    return f"status {response.status}" + (f" {response.message!r}" if response.message else "")
