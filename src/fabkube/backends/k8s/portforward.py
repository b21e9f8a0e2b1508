"""A port-forward to a pod through the API server, served on a loopback port of this machine.

Each connection to the local port gets its own forwarding stream (as `kubectl port-forward`
does), so a gRPC client can reconnect. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fabkube.errors import RuntimeFailure

CHUNK = 64 * 1024


def _quiet_resets(args: threading.ExceptHookArgs, _default=threading.excepthook) -> None:
    """The client library's own proxy thread dies with a traceback on stderr when the pod end of a
    stream resets (an orderer restarting, a client hanging up): that ends one stream, and the
    next connection gets a new one. Say nothing then; anything else as before."""
    name = getattr(args.thread, "name", "") or ""
    if name.startswith("Kubernetes port forward proxy") and issubclass(args.exc_type, ConnectionError | OSError):
        return
    _default(args)


threading.excepthook = _quiet_resets


@contextmanager
def port_forward(core, namespace: str, pod: str, port: int) -> Iterator[str]:
    """Yield "127.0.0.1:PORT" forwarding to `port` of `pod` while the context is open."""
    from kubernetes import client
    from kubernetes.stream import portforward

    def open_stream():
        # The client library swaps its ApiClient's request method for a websocket one while it opens
        # a stream: on a shared client, another thread's call (a pod list, a second stream) made
        # meanwhile goes the wrong way ("Missing required parameter `ports`"). Each stream gets one.
        own = client.CoreV1Api(client.ApiClient(core.api_client.configuration))
        try:
            pf = portforward(own.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
            return pf, pf.socket(port)
        except Exception as exc:  # the client raises ApiException, WebSocket errors, ...
            raise RuntimeFailure(f"cannot port-forward to {namespace}/{pod}:{port}: {exc}") from None

    # Fail here, before a client dials, if the pod cannot be reached at all.
    probe_pf, probe_sock = open_stream()
    probe_sock.close()
    probe_pf.close()

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([listener], [], [], 0.2)
            if not ready:
                continue
            conn, _ = listener.accept()
            threading.Thread(target=_relay, args=(conn, open_stream, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def _relay(conn: socket.socket, open_stream, stop: threading.Event) -> None:
    try:
        pf, remote = open_stream()
    except RuntimeFailure:
        conn.close()
        return
    try:
        pairs = {conn: remote, remote: conn}
        while not stop.is_set():
            ready, _, _ = select.select(list(pairs), [], [], 0.2)
            for src in ready:
                data = src.recv(CHUNK)
                if not data:
                    return
                pairs[src].sendall(data)
    except OSError:
        return
    finally:
        conn.close()
        remote.close()
        pf.close()
