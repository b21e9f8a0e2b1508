"""Cold starts on a slow or busy machine: readiness polling never crashes a Kafka orderer, and the
seed comes up every time, also with every core busy."""

import os
import subprocess
import time

import pytest
from conftest import live_processes, run_cli, seed_variant

from fabkube import health
from fabkube.backends.base import UpOptions
from fabkube.backends.local.network import LocalNetwork
from fabkube.spec import load_spec

pytestmark = pytest.mark.e2e

BROKERS = ["kafka-0", "kafka-1", "kafka-2"]


def test_orderer_started_before_the_brokers_survives_readiness_polling(tools, home, tmp_path):
    """The orderer comes up while Kafka is down, fabkube keeps polling its readiness, then the brokers
    start: the orderer must survive and the network must come up. A control GET of /healthz in
    the same state shows the scenario is the dangerous one (Fabric 2.5 panics on it)."""
    spec = seed_variant(tmp_path, "cold", 15200)
    workdir = home / "networks" / "cold"
    net = LocalNetwork(load_spec(spec), workdir, tools)
    orderer = net.component("orderer0")
    ready = net._probe(orderer)
    try:
        net.up(options=UpOptions(lifecycle=False))
        net.stop_components(["orderer0", *BROKERS])

        pid = net.supervisor.start(orderer)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert not ready(), "the orderer cannot be ready without brokers"
            assert not net.supervisor.exited("orderer0"), "readiness polling killed the orderer"
            time.sleep(0.5)
        assert net.supervisor.pid("orderer0") == pid

        # Control: the operations /healthz in this very state kills the orderer.
        node = net.topo.orderers[0]
        health.operations_get(node.operations, "/healthz", health.operations_tls(net.layout, node.org))
        deadline = time.monotonic() + 15
        while not net.supervisor.exited("orderer0") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert net.supervisor.exited("orderer0"), "expected Fabric 2.5's Kafka HealthCheck panic"
        assert "HealthCheck" in net.layout.log("orderer0").read_text(errors="replace")

        # Again with our probe only; then the brokers come, and the orderer starts ordering.
        net.supervisor.start(orderer)
        time.sleep(5)
        assert not ready() and not net.supervisor.exited("orderer0")
        net.start_components(BROKERS)
        net.start_components(["orderer0"])  # waits for the chain's start phase, polling all along
        assert ready()

        assert net.up().smoke == {"mycc": "100"}
    finally:
        net.down(purge=True)
    assert live_processes(workdir) == []


def _busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(count)]


@pytest.mark.parametrize("cycles", [2])
def test_seed_up_down_cycles_half_under_cpu_load(tools, home, tmp_path, cycles):
    """`up` / `down --purge` of the seed, again and again; the second half with a busy loop on every
    core. Every run must reach `value is 100`. Prints the timings (figures, not asserts)."""
    spec = seed_variant(tmp_path, "cycle", 15300)
    workdir = home / "networks" / "cycle"
    timings = []
    hogs: list[subprocess.Popen] = []
    try:
        for i in range(cycles):
            loaded = i >= cycles // 2
            if loaded and not hogs:
                hogs = _busy_loops(os.cpu_count() or 2)
            start = time.monotonic()
            up = run_cli("up", str(spec), home=home, check=False)
            timings.append((loaded, time.monotonic() - start))
            assert up.returncode == 0 and "mycc: value is 100" in up.stdout, (
                f"cycle {i + 1} ({'cores busy' if loaded else 'idle'}) failed:\n{up.stdout}\n{up.stderr}"
            )
            run_cli("down", "--purge", home=home)
            assert live_processes(workdir) == []
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        run_cli("down", "--purge", home=home, check=False)
    for loaded, seconds in timings:
        print(f"seed up {'with every core busy' if loaded else 'idle'}: {seconds:.1f} s")
