"""Generic readiness probes, with no extra dependencies: a TCP port, a free port, a node's
operations endpoint, a TLS client context. An ordering type's own probes live with its deployment
(consensus/<type>/: ZooKeeper's `srvr` and Kafka's Metadata request in consensus/kafka/probes.py).

Operations endpoints serve HTTPS when the network has TLS, with client authentication optional
(Fabric's clientAuthRequired false): /healthz and /version answer anyone (kubelet probes), while
/metrics and /logspec want a client certificate from the node's org TLS CA. fabkube presents the
org admin's TLS pair.
"""

from __future__ import annotations

import json
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


def operations_get(ep: Endpoint, path: str, tls: ssl.SSLContext | None, timeout: float = TIMEOUT) -> str | None:
    """The body of GET `path` on an operations endpoint (HTTPS with `tls`, else HTTP); None unless 200."""
    scheme = "https" if tls else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://{ep.host}:{ep.port}{path}", timeout=timeout, context=tls) as resp:
            return resp.read().decode() if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def fabric_version(ep: Endpoint, tls: ssl.SSLContext | None, timeout: float = TIMEOUT) -> str | None:
    """The Fabric version a node reports on its operations endpoint (/version), None if it does not."""
    try:
        return json.loads(operations_get(ep, "/version", tls, timeout) or "null").get("Version")
    except (ValueError, AttributeError):
        return None


def operations_ok(ep: Endpoint, path: str, tls: ssl.SSLContext | None) -> bool:
    return operations_get(ep, path, tls) is not None


def org_client_tls(layout, org) -> ssl.SSLContext:
    """An org admin's TLS client: verifies the org's nodes by its TLS CA and presents the admin's
    TLS pair (what an orderer's admin endpoint and every operations endpoint of the org accept)."""
    pair = layout.admin_tls(org)
    return client_tls(str(layout.tls_ca(org)), str(pair / "client.crt"), str(pair / "client.key"))


def operations_tls(layout, org) -> ssl.SSLContext | None:
    """How fabkube reads the operations endpoints of `org`'s nodes: None (HTTP) without TLS."""
    return org_client_tls(layout, org) if layout.topo.spec.tls else None


def client_tls(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """A TLS client context that verifies the server with `ca` and presents cert/key."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


def peers_known(operations: Endpoint, tls: ssl.SSLContext | None, channel: str) -> int:
    """How many other peers of `channel` a peer's gossip knows (its gossip_membership_total_peers_known)."""
    text = operations_get(operations, "/metrics", tls) or ""
    prefix = f'gossip_membership_total_peers_known{{channel="{channel}"}} '
    return next((int(float(line[len(prefix) :])) for line in text.splitlines() if line.startswith(prefix)), 0)
