"""The gRPC server the peer dials (chaincode as a service): service protos.Chaincode, rpc Connect."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from fabric_chaincode_python.fabric_shim.interfaces import Chaincode
from fabric_protos.peer import chaincode_shim_pb2 as shim
from fabric_protos.peer import chaincode_shim_pb2_grpc as shim_grpc

from .handler import PeerSession
from .metrics import Metrics

LOG = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
DEFAULT_GRACE = 5.0

PemSource = str | bytes | os.PathLike[str]

SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Find a vanished peer within about a minute and a half instead of keeping its stream forever.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # The peer pings every 60 s (Fabric's default client keepalive); gRPC's default server
    # policy allows one ping per 5 minutes and answers more with GOAWAY "too_many_pings".
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    # gRPC sets SO_REUSEPORT by default on Linux: a second server on the same port would then
    # start without error and take half the connections.
    ("grpc.so_reuseport", 0),
]


@dataclass(frozen=True)
class TlsConfig:
    """PEM data: a path, PEM text, or bytes. A client CA makes client certificates required."""

    cert: PemSource
    key: PemSource
    client_ca: PemSource | None = None

    @classmethod
    def from_args(cls, cert: PemSource | None, key: PemSource | None, client_ca: PemSource | None) -> TlsConfig | None:
        if bool(cert) != bool(key):
            raise ValueError("tls_cert and tls_key go together")
        if not cert or not key:
            if client_ca:
                raise ValueError("client_ca needs tls_cert and tls_key (client certificates only exist with TLS)")
            return None
        return cls(cert, key, client_ca or None)

    def credentials(self) -> grpc.ServerCredentials:
        ca = _read_pem(self.client_ca) if self.client_ca else None
        pair = (_read_pem(self.key), _read_pem(self.cert))
        return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def _read_pem(source: PemSource) -> bytes:
    if isinstance(source, bytes):
        return source
    text = os.fspath(source)
    if text.lstrip().startswith("-----BEGIN"):
        return text.encode()
    return Path(text).read_bytes()


def _instantiate(chaincode: type[Chaincode] | Chaincode) -> Chaincode:
    # fabric-chaincode-python takes either; a class (static methods, as abstore) is instantiated once.
    if isinstance(chaincode, type):
        if not issubclass(chaincode, Chaincode):
            raise TypeError(f"{chaincode.__name__} does not subclass fabric_shim.interfaces.Chaincode")
        return chaincode()
    if not isinstance(chaincode, Chaincode):
        raise TypeError(f"{type(chaincode).__name__} is not a fabric_shim.interfaces.Chaincode")
    return chaincode


class ChaincodeServer:
    """`port = await server.start()`, later `await server.stop(grace)`."""

    def __init__(
        self, chaincode: type[Chaincode] | Chaincode, *, cc_id: str, address: str, tls: TlsConfig | None = None
    ) -> None:
        if not cc_id:
            raise ValueError("cc_id (the chaincode package ID) is required")
        if not address:
            raise ValueError("address (host:port to listen on) is required")
        self.cc_id = cc_id
        self.address = address
        self._chaincode = _instantiate(chaincode)
        self._tls = tls
        self._server: grpc.aio.Server | None = None
        self._sessions: set[PeerSession] = set()
        self._closing = False
        self.metrics = Metrics()

    async def start(self) -> int:
        """Listen; return the bound port (useful with port 0)."""
        server = grpc.aio.server(options=SERVER_OPTIONS)
        shim_grpc.add_ChaincodeServicer_to_server(_Servicer(self), server)
        if self._tls is None:
            port = server.add_insecure_port(self.address)
        else:
            # Reading the PEM files is blocking I/O: keep it off the event loop.
            credentials = await asyncio.to_thread(self._tls.credentials)
            port = server.add_secure_port(self.address, credentials)
        await server.start()
        self._server = server
        tls = "off" if self._tls is None else ("mutual" if self._tls.client_ca else "on")
        LOG.info("chaincode %s listening on %s (port %d, TLS %s)", self.cc_id, self.address, port, tls)
        return port

    async def stop(self, grace: float = DEFAULT_GRACE) -> None:
        """Stop accepting; let running transactions finish for up to grace seconds."""
        if self._server is None:
            return
        self._closing = True
        for session in list(self._sessions):
            session.begin_drain()
        # New RPCs are refused at once; drained sessions end their streams themselves, and
        # whatever still runs after grace is cancelled.
        await self._server.stop(grace)
        self._server = None
        LOG.info("chaincode %s stopped", self.cc_id)

    async def connect(self, requests: AsyncIterator[shim.ChaincodeMessage], context: grpc.aio.ServicerContext) -> None:
        if self._closing:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "chaincode server is shutting down")
        session = PeerSession(self._chaincode, self.cc_id, peer=context.peer(), metrics=self.metrics)
        self._sessions.add(session)
        self.metrics.stream(opened=True)
        try:
            await session.run(requests, context)
        finally:
            self._sessions.discard(session)
            self.metrics.stream(opened=False)


class _Servicer(shim_grpc.ChaincodeServicer):
    def __init__(self, server: ChaincodeServer) -> None:
        self._server = server

    async def Connect(  # the generated service's method name
        self, request_iterator: AsyncIterator[shim.ChaincodeMessage], context: grpc.aio.ServicerContext
    ) -> None:
        await self._server.connect(request_iterator, context)
