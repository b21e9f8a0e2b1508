"""The Job script's `run` helper reads osnadmin's answers as the local executor does: osnadmin
exits 0 on HTTP errors, so a repeated join (405: already a member) counts as done, and any other
answer fails after its retries."""

import os
import subprocess

from fabkube.ops.lifecycle import PeerCommand, Step, shell_script


def run_script(tmp_path, answer: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "bin" / "osnadmin"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!/bin/sh\necho '{answer}'\n")
    fake.chmod(0o755)
    join = PeerCommand(["channel", "join"], "OrdererOrg", expect="Status: 201", already="Status: 405", tool="osnadmin")
    script = tmp_path / "job.sh"
    # The helpers retry 40 times, 2 s apart: make sleep instant for the failing case.
    text = shell_script([Step("orderer-join:ch:orderer0", "orderer0 joins ch", [join])], None, "/cfg")
    script.write_text(text.replace("sleep 2", "sleep 0"))
    env = dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}")
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)


def test_joined_already_is_done_and_other_errors_fail(tmp_path):
    assert "Status: 201" in run_script(tmp_path, "Status: 201").stdout
    again = run_script(tmp_path, 'Status: 405\n{"error": "cannot join: channel already exists"}')
    assert again.returncode == 0 and "already done" in again.stdout
    failed = run_script(tmp_path, "Status: 400")
    assert failed.returncode != 0 and "Status: 400" in failed.stderr
