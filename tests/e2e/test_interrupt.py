"""Ctrl-C during `up` stops what that run started: no orphan JVMs, exit code 130."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import live_processes, run_cli, seed_variant

pytestmark = pytest.mark.e2e


def test_ctrl_c_during_up_leaves_nothing_running(tools, home, tmp_path):
    spec = seed_variant(tmp_path, "intr", 15800)
    workdir = home / "networks" / "intr"
    env = dict(os.environ, FABKUBE_HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fabkube.cli", "up", str(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (workdir / "logs" / "kafka-0.log").exists():  # mid-way: ZooKeeper up, Kafka starting
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        assert any("java" in p for p in live_processes(workdir))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert live_processes(workdir) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        run_cli("down", "--purge", home=home, check=False)
