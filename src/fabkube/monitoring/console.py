"""`fabkube console`: a web page about a running local network, served by fabkube itself.

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
import threading
import time
from collections import deque
from dataclasses import asdict
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from ipaddress import ip_address
from urllib.parse import parse_qs, urlparse

from fabkube.monitoring.live import LiveSampler, view

HISTORY = 150  # points of each chart (5 minutes at the default 2 s)
BLOCKS_KEPT = 10  # newest blocks listed per channel
COOKIE = "fabkube_console"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


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
        self._gateway = None
        self._groups = self._group_names()

    def _group_names(self) -> dict[str, str]:
        """Component -> the box it is drawn in on the topology picture."""
        topo = self.net.topo
        out = {o.name: f"{o.org.name} orderers" for o in topo.orderers}
        out |= {p.name: f"{p.org.name} peers" for p in topo.peers}
        out |= {f"chaincode-{c.name}": "chaincode servers" for c in topo.chaincodes}
        out |= {s.name: {"zookeeper": "ZooKeeper", "kafka": "Kafka brokers"}.get(s.kind, s.kind)
                for s in topo.ordering.services}  # fmt: skip
        return out

    # ------------------------------------------------------------ sampling
    def start(self) -> ConsoleState:
        self._before = self.sampler.sample()
        threading.Thread(target=self._loop, name="console-sampler", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._close_gateway()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # the page shows what went wrong; the next round tries again
                self.block_error = f"sampling failed: {exc}"

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
        self._read_blocks(v.heights)

    def _read_blocks(self, heights: dict[str, int]) -> None:
        from fabkube.gateway.blocks import read_blocks, summarize

        try:
            gw = self._open_gateway()
            for channel, kept in self.blocks.items():
                height = heights.get(channel)
                if not height:
                    continue
                newest = kept[-1].number if kept else -1
                first = max(newest + 1, height - BLOCKS_KEPT)
                if first > height - 1:
                    continue
                for block in read_blocks(gw, channel, first, height - 1, timeout=10):
                    summary = summarize(block)
                    with self._lock:
                        kept.append(summary)
            self.block_error = ""
        except Exception as exc:  # a peer restarting: read again next round, through a new connection
            self.block_error = f"blocks: {exc}"[:300]
            self._close_gateway()

    def _open_gateway(self):
        if self._gateway is None:
            cm = self.net.gateway()
            self._gateway = (cm, cm.__enter__())
        return self._gateway[1]

    def _close_gateway(self) -> None:
        if self._gateway is not None:
            cm, self._gateway = self._gateway[0], None
            with contextlib.suppress(Exception):  # a connection already broken
                cm.__exit__(None, None, None)

    # ------------------------------------------------------------ what the page reads
    def snapshot(self) -> dict:
        with self._lock:
            v = self._view
            rows = [asdict(r) | {"group": self._groups.get(r.name, r.kind)} for r in v.rows] if v else []
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
                "errors": [e for e in (self.block_error,) if e],
            }

    def log(self, name: str, lines: int) -> str | None:
        if name not in self._groups:
            return None
        try:
            return self.net.logs(name, lines)
        except Exception as exc:
            return f"(no log: {exc})"


def page() -> bytes:
    return resources.files("fabkube.monitoring").joinpath("console.html").read_bytes()


def make_server(state: ConsoleState, host: str, port: int, token: str | None) -> ThreadingHTTPServer:
    """The console's HTTP server (not yet serving: call serve_forever)."""
    html = page()

    class Handler(BaseHTTPRequestHandler):
        def _allowed(self, query: dict) -> tuple[bool, str | None]:
            """(may it be served, a cookie to set)."""
            if token is None:
                name = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                return name in LOOPBACK_NAMES, None
            given = (query.get("token") or [""])[0]
            if given and hmac.compare_digest(given, token):
                return True, given
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
            held = cookie[COOKIE].value if COOKIE in cookie else ""
            return bool(held) and hmac.compare_digest(held, token), None

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            ok, set_cookie = self._allowed(query)
            if not ok:
                why = b"open the URL the console printed when it started" if token else b"ask by localhost"
                self._send(401, b"401 unauthorized: " + why + b"\n", "text/plain")
                return
            if url.path == "/":
                self._send(200, html, "text/html; charset=utf-8", set_cookie)
            elif url.path == "/api/state":
                self._send(200, json.dumps(state.snapshot()).encode(), "application/json")
            elif url.path == "/api/logs":
                name = (query.get("name") or [""])[0]
                lines = min(int((query.get("lines") or ["200"])[0] or 200), 2000)
                text = state.log(name, lines)
                if text is None:
                    self._send(404, f"no component {name!r}\n".encode(), "text/plain")
                else:
                    self._send(200, text.encode(errors="replace"), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, kind: str, cookie: str | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; "
                             "script-src 'unsafe-inline'; img-src 'self' data:")  # fmt: skip
            if cookie:
                self.send_header("Set-Cookie", f"{COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # the page polls every second or two
            pass

    server = ThreadingHTTPServer((host.strip("[]"), port), Handler)
    server.daemon_threads = True
    return server
