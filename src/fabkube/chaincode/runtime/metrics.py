"""The chaincode server's own Prometheus metrics, in the text exposition format, served over HTTP.

No client library: chaincode images copy this package and install only what the chaincode needs,
and four families take a few lines. Function names come from proposals, so anyone who can send
one could grow the label set without end: past MAX_FUNCTIONS distinct names, the rest count as
"other"."""

from __future__ import annotations

import bisect
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger(__name__)
MAX_FUNCTIONS = 100
# Seconds: chaincode calls run from well under a millisecond (a state read) to seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX = "fabkube_chaincode"


class Metrics:
    """Transactions by function and outcome (ok: status below 400; error: an error response;
    failed: the chaincode raised, or a failed Init), their duration, how many run now, and the
    peers' streams (opened in total: a reconnect counts; open now). The first MAX_FUNCTIONS names
    seen keep their own label until the server restarts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str], int] = {}
        self._buckets: dict[str, list[int]] = {}
        self._sum: dict[str, float] = {}
        self.in_flight = 0
        self.streams_opened = 0
        self.streams_open = 0

    def function(self, name: str) -> str:
        with self._lock:
            known = name in self._buckets or len(self._buckets) < MAX_FUNCTIONS
        return name if known else "other"

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self, function: str, outcome: str, seconds: float) -> None:
        function = self.function(function)
        with self._lock:
            self.in_flight -= 1
            self._count[(function, outcome)] = self._count.get((function, outcome), 0) + 1
            buckets = self._buckets.setdefault(function, [0] * len(BUCKETS))
            for i in range(bisect.bisect_left(BUCKETS, seconds), len(BUCKETS)):
                buckets[i] += 1
            self._sum[function] = self._sum.get(function, 0.0) + seconds

    def stream(self, opened: bool) -> None:
        with self._lock:
            if opened:
                self.streams_opened += 1
                self.streams_open += 1
            else:
                self.streams_open -= 1

    def render(self) -> str:
        with self._lock:
            lines = [
                f"# HELP {PREFIX}_transactions_total Transactions the chaincode ran, by function and outcome.",
                f"# TYPE {PREFIX}_transactions_total counter",
                *(
                    f'{PREFIX}_transactions_total{{function="{_esc(f)}",outcome="{o}"}} {n}'
                    for (f, o), n in sorted(self._count.items())
                ),
                f"# HELP {PREFIX}_transaction_duration_seconds Time from a transaction's arrival to its reply.",
                f"# TYPE {PREFIX}_transaction_duration_seconds histogram",
            ]
            for f, buckets in sorted(self._buckets.items()):
                total = sum(n for (g, _), n in self._count.items() if g == f)
                label = f'function="{_esc(f)}"'
                lines += [f'{PREFIX}_transaction_duration_seconds_bucket{{{label},le="{b}"}} {n}'
                          for b, n in zip(BUCKETS, buckets, strict=True)]  # fmt: skip
                lines += [
                    f'{PREFIX}_transaction_duration_seconds_bucket{{{label},le="+Inf"}} {total}',
                    f"{PREFIX}_transaction_duration_seconds_sum{{{label}}} {self._sum[f]}",
                    f"{PREFIX}_transaction_duration_seconds_count{{{label}}} {total}",
                ]
            lines += [
                f"# HELP {PREFIX}_transactions_in_flight Transactions running now.",
                f"# TYPE {PREFIX}_transactions_in_flight gauge",
                f"{PREFIX}_transactions_in_flight {self.in_flight}",
                f"# HELP {PREFIX}_streams_opened_total Streams peers opened (each reconnect is one more).",
                f"# TYPE {PREFIX}_streams_opened_total counter",
                f"{PREFIX}_streams_opened_total {self.streams_opened}",
                f"# HELP {PREFIX}_streams_open Streams from peers open now.",
                f"# TYPE {PREFIX}_streams_open gauge",
                f"{PREFIX}_streams_open {self.streams_open}",
            ]
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def serve_metrics(metrics: Metrics, address: str) -> ThreadingHTTPServer:
    """GET /metrics on host:port, from a daemon thread; `server.shutdown()` stops it."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # a scrape every few seconds is not news
            pass

    server = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    LOG.info("metrics on http://%s/metrics", address)
    return server
