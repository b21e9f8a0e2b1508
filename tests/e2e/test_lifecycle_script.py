"""The lifecycle Job's script, run for real: the same steps rendered as the Kubernetes Job runs them,
executed by sh against a real local network (Fabric, Kafka, ZooKeeper, Python chaincode)."""

import os
import subprocess

import pytest
from conftest import live_processes, run_cli, seed_variant

from fabkube.backends.local.network import LocalNetwork
from fabkube.ops.lifecycle import plan, shell_script, smoke_step
from fabkube.spec import load_spec

pytestmark = pytest.mark.e2e


def test_job_script_runs_the_lifecycle_and_is_rerunnable(tools, home, tmp_path):
    spec = seed_variant(tmp_path, "jobscript", 17700)
    workdir = home / "networks" / "jobscript"
    try:
        up = run_cli("up", str(spec), "--no-lifecycle", home=home)
        assert "value is" not in up.stdout
        net = LocalNetwork(load_spec(workdir / "spec.yaml"), workdir)
        ids = net.state.data["package_ids"]
        steps = plan(net.layout, ids) + [smoke_step(net.layout, cc) for cc in net.topo.chaincodes]
        script = tmp_path / "lifecycle.sh"
        script.write_text(shell_script(steps, net.layout, str(tools.config_dir)))
        env = dict(os.environ, PATH=f"{tools.bin_dir}:{os.environ['PATH']}", FABRIC_LOGGING_SPEC="WARNING")

        first = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.strip().splitlines()[-1] == "100"
        assert "already done" not in first.stdout

        again = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        # create, 2 joins, anchors, 2 installs, approve, commit, init: all recognised as done
        assert again.stdout.count("already done") == 9, again.stdout
        assert run_cli("query", "mycc", "b", home=home).stdout.strip() == "200"

        # fabkube's own `up` recorded none of the Job's steps, yet finds each done by the same
        # done_if checks the script asks: 2 joins, 2 installs, commit. The create (refused as a
        # stale config update, then block 0 fetched), an identical approval and the anchors/Init
        # are recognised by their "already" answers and run again harmlessly.
        up = run_cli("up", str(spec), home=home)
        assert "mycc: value is 100" in up.stdout
        done = [line.strip() for line in up.stderr.splitlines() if line.endswith(": already done")]
        assert "create channel mychannel" in up.stderr
        assert done == [
            "peer0.org1 joins mychannel: already done",
            "peer1.org1 joins mychannel: already done",
            "install mycc_1.0 on peer0.org1: already done",
            "install mycc_1.0 on peer1.org1: already done",
            "commit mycc_1.0 on mychannel: already done",
        ], up.stderr
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert live_processes(workdir) == []
