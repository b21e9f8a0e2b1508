"""fabkube's Python chaincode runtime: chaincode as a service for Fabric 2.5 peers.

Runs chaincode written against fabric-chaincode-python (fabric_shim.interfaces.Chaincode, its
response helpers, ContractChaincode) unchanged. It imports nothing else from fabkube, so
chaincode images can copy this package as it is.

    from fabkube.chaincode.runtime import start
    start(MyChaincode, cc_id=os.environ["CHAINCODE_ID"], address="0.0.0.0:9999")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

from fabric_chaincode_python.fabric_shim.interfaces import Chaincode

from .iterators import HistoryQueryIterator, QueryResultIterator, StateQueryIterator
from .metrics import serve_metrics
from .protocol import PeerError
from .server import DEFAULT_GRACE, MAX_MESSAGE_BYTES, ChaincodeServer, PemSource, TlsConfig
from .stub import ChaincodeStub

__all__ = [
    "DEFAULT_GRACE",
    "MAX_MESSAGE_BYTES",
    "ChaincodeServer",
    "ChaincodeStub",
    "HistoryQueryIterator",
    "PeerError",
    "QueryResultIterator",
    "StateQueryIterator",
    "TlsConfig",
    "serve",
    "start",
]

LOG = logging.getLogger(__name__)


async def serve(
    chaincode_cls_or_instance: type[Chaincode] | Chaincode,
    *,
    cc_id: str,
    address: str,
    tls_cert: PemSource | None = None,
    tls_key: PemSource | None = None,
    client_ca: PemSource | None = None,
    grace: float = DEFAULT_GRACE,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[int], object] | None = None,
    metrics_address: str | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or until `stop` is set, when given), then shut down gracefully.

    tls_cert/tls_key/client_ca are PEM files (paths), PEM text or bytes; a client CA makes client
    certificates required. on_listening gets the bound port (address may say port 0). With
    metrics_address (host:port), Prometheus metrics are served there over plain HTTP.
    """
    tls = TlsConfig.from_args(tls_cert, tls_key, client_ca)
    server = ChaincodeServer(chaincode_cls_or_instance, cc_id=cc_id, address=address, tls=tls)
    port = await server.start()
    exporter = None
    try:
        if metrics_address:
            try:
                exporter = serve_metrics(server.metrics, metrics_address)
            except (OSError, ValueError) as exc:  # metrics are optional: the chaincode serves on
                LOG.warning("metrics not served on %s: %s", metrics_address, exc)
        if on_listening is not None:
            on_listening(port)
        stop_event = stop if stop is not None else asyncio.Event()
        with _stop_on_signals(stop_event, grace, enabled=stop is None):
            await stop_event.wait()
        # The default handlers are back from here on: a second signal ends the grace period at once.
    finally:
        await server.stop(grace)
        if exporter is not None:
            await asyncio.to_thread(exporter.shutdown)
            exporter.server_close()


def start(
    chaincode_cls_or_instance: type[Chaincode] | Chaincode,
    *,
    cc_id: str,
    address: str,
    tls_cert: PemSource | None = None,
    tls_key: PemSource | None = None,
    client_ca: PemSource | None = None,
    grace: float = DEFAULT_GRACE,
    on_listening: Callable[[int], object] | None = None,
    metrics_address: str | None = None,
) -> None:
    """Blocking serve(): returns after SIGTERM/SIGINT and the graceful shutdown."""
    asyncio.run(
        serve(
            chaincode_cls_or_instance,
            cc_id=cc_id,
            address=address,
            tls_cert=tls_cert,
            tls_key=tls_key,
            client_ca=client_ca,
            grace=grace,
            on_listening=on_listening,
            metrics_address=metrics_address,
        )
    )


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event, grace: float, *, enabled: bool) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        LOG.info("%s: stopping, letting running transactions finish for up to %.0f s", sig.name, grace)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT) if enabled else ():
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signal support: the caller stops us some other way
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
