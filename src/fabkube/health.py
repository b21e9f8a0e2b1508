"""Generic readiness probes, with no extra dependencies: a TCP port, a free port, an HTTP 200
(peers' /healthz), a TLS client context. An ordering type's own probes live with its deployment
(consensus/<type>/: ZooKeeper's `srvr` and Kafka's Metadata request in consensus/kafka/probes.py).
"""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request

from fabkube.nodes import Endpoint

TIMEOUT = 2.0


def tcp_open(ep: Endpoint, timeout: float = TIMEOUT) -> bool:
    try:
        with socket.create_connection((ep.host, ep.port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(ep: Endpoint) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ep.host, ep.port))
            return True
        except OSError:
            return False


def http_ok(ep: Endpoint, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ep.host}:{ep.port}{path}", timeout=TIMEOUT) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def client_tls(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """A TLS client context that verifies the server with `ca` and presents cert/key."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


def peers_known(operations: Endpoint, channel: str) -> int:
    """How many other peers of `channel` a peer's gossip knows (its gossip_membership_total_peers_known)."""
    try:
        with urllib.request.urlopen(f"http://{operations.host}:{operations.port}/metrics", timeout=TIMEOUT) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return 0
    prefix = f'gossip_membership_total_peers_known{{channel="{channel}"}} '
    return next((int(float(line[len(prefix) :])) for line in text.splitlines() if line.startswith(prefix)), 0)
