"""Readiness of Kafka ordering in each component's own protocol, with no extra dependencies.

ZooKeeper: the `srvr` four-letter word (a node without quorum says it is not serving).
Kafka: a Metadata v0 request, which lists the brokers registered in ZooKeeper.
Kafka orderers: never /healthz (see `kafka_orderer_started`).
"""

from __future__ import annotations

import socket
import ssl
import struct
from pathlib import Path

from fabkube.health import TIMEOUT, tcp_open
from fabkube.nodes import Endpoint


def zookeeper_mode(ep: Endpoint, tls: ssl.SSLContext | None = None) -> str | None:
    """'leader', 'follower' or 'standalone' when the node serves, else None (over TLS with `tls`:
    ZooKeeper's secure port answers four-letter words after the handshake)."""
    try:
        with socket.create_connection((ep.host, ep.port), timeout=TIMEOUT) as raw:
            s = tls.wrap_socket(raw, server_hostname=ep.host) if tls else raw
            s.settimeout(TIMEOUT)
            s.sendall(b"srvr")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except (OSError, ssl.SSLError):
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


def kafka_chain_started_line(channel: str) -> str:
    """What Fabric's Kafka chain logs once it can order on `channel` (orderer/consensus/kafka/chain.go,
    startThread): producer, topic and consumers are set up, Broadcast and Deliver go through."""
    return f"[channel: {channel}] Start phase completed successfully"


def kafka_orderer_started(ep: Endpoint, log: Path, offset: int, channels: list[str]) -> bool:
    """A Kafka orderer is ready when its gRPC port accepts connections and, since its latest start
    (log bytes from `offset` on), its Kafka chain of every channel has logged the start phase.

    Why not the operations /healthz: in Fabric 2.5 the Kafka chain's HealthCheck calls the chain's
    producer without a nil check, and the producer exists only after the chain connected to Kafka.
    One GET of /healthz before that moment panics in a goroutine and kills the orderer. The gRPC
    port is opened after every chain was created; the log line is written right after the chain
    opened Broadcast (startChan) and Deliver (errorChan), so it means "can order on that channel".
    """
    if not tcp_open(ep):
        return False
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return False
    return all(kafka_chain_started_line(ch) in text for ch in channels)
