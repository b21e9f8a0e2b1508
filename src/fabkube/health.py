"""Readiness probes that speak each component's own protocol, with no extra dependencies.

ZooKeeper: the `srvr` four-letter word (a node without quorum says it is not serving).
Kafka: a Metadata v0 request, which lists the brokers registered in ZooKeeper.
Fabric: the operations endpoint's /healthz.
"""

from __future__ import annotations

import socket
import ssl
import struct
import urllib.error
import urllib.request

from fabkube.topology import Endpoint

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


def zookeeper_mode(ep: Endpoint) -> str | None:
    """'leader', 'follower' or 'standalone' when the node serves, else None."""
    try:
        with socket.create_connection((ep.host, ep.port), timeout=TIMEOUT) as s:
            s.sendall(b"srvr")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def _kafka_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def kafka_brokers(ep: Endpoint, tls: ssl.SSLContext | None = None) -> list[int] | None:
    """Broker IDs the cluster metadata lists (Metadata API v0), or None if unreachable."""
    body = struct.pack(">hhi", 3, 0, 1) + _kafka_string("fabkube") + struct.pack(">i", 0)
    try:
        with socket.create_connection((ep.host, ep.port), timeout=TIMEOUT) as raw:
            s = tls.wrap_socket(raw, server_hostname=ep.host) if tls else raw
            s.settimeout(TIMEOUT)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", head)
            payload = _recv_exact(s, size)
    except (OSError, ValueError, ssl.SSLError):
        return None
    offset = 4  # correlation id
    (count,) = struct.unpack_from(">i", payload, offset)
    offset += 4
    ids = []
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        (host_len,) = struct.unpack_from(">h", payload, offset)
        offset += 2 + host_len + 4
        ids.append(node_id)
    return sorted(ids)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ValueError("connection closed")
        data += chunk
    return data


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
