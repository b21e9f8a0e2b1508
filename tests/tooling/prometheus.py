"""A real Prometheus for the tests: built from the Go module proxy once per version into the
toolchain cache (test tooling, not the product), run on loopback with a given config, and asked
through its HTTP API.

v0.316.0 is Prometheus 3.16.0 (v3.N.x is published as v0.3NN.x; its VERSION file says so).
`-tags remove_all_sd` keeps only file and HTTP service discovery: the build takes half the time.
No `builtinassets`: the web UI is not needed, and that tag wants generated assets.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import yaml

from fabkube.errors import RuntimeFailure
from fabkube.toolchain import Toolchain
from tooling.node_build import GoBuild

PROMETHEUS_VERSION = "3.16.0"
PROMETHEUS = GoBuild(
    "prometheus",
    "github.com/prometheus/prometheus",
    "0.316.0",
    ("github.com/prometheus/prometheus/cmd/prometheus",),
    ("prometheus",),
    f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_VERSION} "
    "-X github.com/prometheus/common/version.Revision=v0.316.0",
    tags="remove_all_sd",
)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


class Prometheus:
    """One Prometheus server on 127.0.0.1, scraping what `config` says."""

    def __init__(self, url: str):
        self.url = url

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as resp:
            body = json.loads(resp.read())
        if body.get("status") != "success":
            raise AssertionError(f"{path}: {body}")
        return body["data"]

    def targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def query(self, promql: str) -> list[dict]:
        return self.api("query", query=promql)["result"]

    def wait_all_up(self, timeout: float = 60.0) -> list[dict]:
        """Until every target was scraped and is up; fails naming those that are not."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            down = [f"{t['scrapeUrl']} ({t['health']}: {t.get('lastError', '')})" for t in targets
                    if t["health"] != "up"]  # fmt: skip
            if targets and not down:
                return targets
            if time.monotonic() > deadline:
                raise AssertionError(f"targets not up after {timeout:.0f}s: {down or 'none configured'}")
            time.sleep(1)


@contextmanager
def running(tools: Toolchain, config: dict, workdir: Path):
    """Prometheus serving `config` on a loopback port until the block ends."""
    binary = PROMETHEUS.bin(tools) / "prometheus"
    if not PROMETHEUS.ready(tools):
        raise RuntimeFailure(f"Prometheus {PROMETHEUS_VERSION} is not built: run `./dev test` (it builds it)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            str(binary),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeFailure("Prometheus did not become ready", workdir / "prometheus.log") from None
                time.sleep(0.5)
        yield Prometheus(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


if __name__ == "__main__":  # python -m tooling.prometheus build
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m tooling.prometheus build")
    took = PROMETHEUS.install(Toolchain().ensure(), lambda m: print(f"== {m}", file=sys.stderr))
    done = f"built in {took:.0f}s" if took else "already built"
    print(f"== Prometheus {PROMETHEUS_VERSION}: {done}", file=sys.stderr)
