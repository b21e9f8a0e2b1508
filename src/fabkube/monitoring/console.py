"""`fabkube console`: a web page about a running network (local or Kubernetes), served by fabkube itself.

One thread samples the network every interval (monitoring.live: states, CPU, memory, heights,
rates) and reads each channel's newest blocks from a peer (gateway.blocks); the page asks for the
whole state as JSON and redraws without a reload. Nothing but the page, its state and the
components' logs is served.

Access: by default the server listens on loopback only and answers only requests whose Host is a
loopback name (a web page elsewhere cannot reach it through DNS rebinding). Any other address needs
a token: then every request must carry it (`?token=` once, which sets a cookie, or the cookie).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from ipaddress import ip_address
from urllib.parse import parse_qs, urlparse

from fabkube.monitoring.live import LiveSampler, view

HISTORY = 150  # points of each chart (5 minutes at the default 2 s)
BLOCKS_KEPT = 10  # newest blocks listed per channel
COOKIE = "fabkube_console"
KIND_GROUPS = {"chaincode": "chaincode servers", "zookeeper": "ZooKeeper", "kafka": "Kafka brokers"}


def is_loopback(host: str) -> bool:
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class ConsoleState:
    """What the page shows, refreshed by one thread; `snapshot()` is the JSON the page reads."""

    def __init__(self, net, interval: float = 2.0) -> None:
        self.net = net
        self.interval = interval
        self.sampler = LiveSampler(net)
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self.blocks: dict[str, deque] = {ch.name: deque(maxlen=BLOCKS_KEPT) for ch in net.topo.channels}
        self.block_error = ""
        self._view = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._gw_lock = threading.Lock()
        self._gateways: dict[str, tuple] = {}  # peer -> (its context manager, the Gateway)
        self._thread: threading.Thread | None = None
        self._groups = self._group_names()

    def _group_names(self) -> dict[str, str]:
        """Orderer or peer -> the box it is drawn in on the topology picture (its org's); the rest
        are drawn by kind (KIND_GROUPS)."""
        topo = self.net.topo
        out = {o.name: f"{o.org.name} orderers" for o in topo.orderers}
        return out | {p.name: f"{p.org.name} peers" for p in topo.peers}

    # ------------------------------------------------------------ sampling
    def start(self) -> ConsoleState:
        self._before = self.sampler.sample()
        self._thread = threading.Thread(target=self._loop, name="console-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._close_gateway()
        self.sampler.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # the page shows what went wrong; the next round tries again
                self.block_error = f"sampling failed: {exc}"[:300]

    def refresh(self) -> None:
        now = self.sampler.sample()
        v = view(self.net.name, self._before, now)
        self._before = now
        point = {
            "t": time.time(),
            "tps": sum(v.tps.values()),
            "blocks": sum(v.blocks.values()),
            "latency_ms": v.latency_ms,
        }
        with self._lock:
            self._view = v
            self.history.append(point)
        self._read_blocks({f.name: f.heights for f in now.components if f.running})

    def _read_blocks(self, heights: dict[str, dict[str, int]]) -> None:
        """Each channel's new blocks from a running peer of one of its orgs, up to that peer's own
        height (blocks it has not committed would make the read wait)."""
        from fabkube.gateway.blocks import read_blocks, summarize

        errors = []
        for channel, kept in self.blocks.items():
            peers = self.net.topo.channel(channel).peers
            peer = next((p for p in peers if channel in heights.get(p.name, {})), None)
            if peer is None or self._stop.is_set():
                continue
            height = heights[peer.name][channel]
            newest = kept[-1].number if kept else -1
            first = max(newest + 1, height - BLOCKS_KEPT)
            if first > height - 1:
                continue
            try:
                for block in read_blocks(self._gateway_to(peer), channel, first, height - 1, timeout=5):
                    summary = summarize(block)
                    with self._lock:
                        kept.append(summary)
            except Exception as exc:  # a peer restarting: read again next round, through a new connection
                errors.append(f"blocks of {channel} from {peer.name}: {exc}"[:300])
                self._close_gateway(peer.name)
        self.block_error = "; ".join(errors)

    def _gateway_to(self, peer):
        with self._gw_lock:
            if self._stop.is_set():
                raise RuntimeError("the console is stopping")
            if peer.name not in self._gateways:
                cm = self.net.gateway(peer.org.name, peer.name)
                self._gateways[peer.name] = (cm, cm.__enter__())
            return self._gateways[peer.name][1]

    def _close_gateway(self, name: str | None = None) -> None:
        with self._gw_lock:
            names = [name] if name else list(self._gateways)
            for n in names:
                entry = self._gateways.pop(n, None)
                if entry is not None:
                    with contextlib.suppress(Exception):  # a connection already broken
                        entry[0].__exit__(None, None, None)

    # ------------------------------------------------------------ what the page reads
    def snapshot(self) -> dict:
        with self._lock:
            v = self._view
            group = lambda r: self._groups.get(r.name) or KIND_GROUPS.get(r.kind, r.kind)  # noqa: E731
            rows = [asdict(r) | {"group": group(r)} for r in v.rows] if v else []
            return {
                "network": self.net.name,
                "target": self.net.target,
                "interval": self.interval,
                "components": rows,
                "channels": {
                    ch: {
                        "height": v.heights.get(ch) if v else None,
                        "tps": v.tps.get(ch, 0.0) if v else 0.0,
                        "blocks_per_s": v.blocks.get(ch, 0.0) if v else 0.0,
                        "blocks": [asdict(b) for b in reversed(kept)],
                    }
                    for ch, kept in self.blocks.items()
                },
                "history": list(self.history),
                "errors": [e for e in (self.block_error, *(v.errors if v else [])) if e],
            }

    def log(self, name: str, lines: int) -> str | None:
        """A component's log; None for a name the page does not show (nothing else is served)."""
        with self._lock:
            shown = {r.name for r in self._view.rows} if self._view else set()
        if name not in shown:
            return None
        try:
            return self.net.logs(name, lines)
        except Exception as exc:
            return f"(no log: {exc})"


def page() -> bytes:
    return resources.files("fabkube.monitoring").joinpath("console.html").read_bytes()


def _host_name(header: str) -> str:
    """The name in a Host header, without its port ([::1]:8765 -> ::1)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0]


def _cookies(header: str) -> dict[str, str]:
    """name -> value, parsed leniently: one malformed cookie of another site must not hide ours."""
    out = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


def _lines(query: dict) -> int:
    """How many log lines a request asks for: 1 to 2000, 200 unless it says."""
    try:
        return max(1, min(int((query.get("lines") or ["200"])[0]), 2000))
    except ValueError:
        return 200


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(state: ConsoleState, host: str, port: int, token: str | None) -> ThreadingHTTPServer:
    """The console's HTTP server (not yet serving: call serve_forever). With a token, the browser
    keeps a session cookie that is an HMAC of it (the token itself never goes into a cookie, which
    other services on the same host name would be sent), named after the port."""
    html = page()
    server_cls = _Server6 if ":" in host.strip("[]") else _Server
    server = server_cls((host.strip("[]"), port), BaseHTTPRequestHandler)
    cookie_name = f"{COOKIE}_{server.server_address[1]}"
    session = hmac.new(token.encode(), b"fabkube console session", "sha256").hexdigest() if token else ""

    class Handler(BaseHTTPRequestHandler):
        def _allowed(self, query: dict) -> tuple[bool, bool]:
            """(may it be served, was the token given in the URL)."""
            if token is None:
                return is_loopback(_host_name(self.headers.get("Host") or "")), False
            given = (query.get("token") or [""])[0]
            if given and _same(given, token):
                return True, True
            held = _cookies(self.headers.get("Cookie") or "").get(cookie_name, "")
            return bool(held) and _same(held, session), False

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            ok, by_url = self._allowed(query)
            if not ok:
                why = b"open the URL the console printed when it started" if token else b"ask by localhost"
                self._send(401, b"401 unauthorized: " + why + b"\n", "text/plain")
                return
            if by_url:  # keep the token out of the address bar and the history
                self._send(303, b"", "text/plain", cookie=session, location=url.path or "/")
            elif url.path == "/":
                self._send(200, html, "text/html; charset=utf-8")
            elif url.path == "/api/state":
                self._send(200, json.dumps(state.snapshot()).encode(), "application/json")
            elif url.path == "/api/logs":
                name = (query.get("name") or [""])[0]
                text = state.log(name, _lines(query))
                if text is None:
                    self._send(404, f"no component {name!r}\n".encode(), "text/plain")
                else:
                    self._send(200, text.encode(errors="replace"), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, kind: str, cookie: str = "", location: str = "") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; "
                             "script-src 'unsafe-inline'; img-src 'self' data:")  # fmt: skip
            if cookie:
                self.send_header("Set-Cookie", f"{cookie_name}={cookie}; HttpOnly; SameSite=Strict; Path=/")
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # the page polls every second or two
            pass

    server.RequestHandlerClass = Handler
    return server
