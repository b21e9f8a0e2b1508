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


def smoke_run(tmp_path, init_done: bool, value: str) -> subprocess.CompletedProcess:
    """A Job script whose Init was done before (the peer answers "already initialized") or runs now,
    then a smoke query answering `value`: the tools are shell stand-ins on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    init_answer = "echo 'Error: chaincode is already initialized'; exit 1" if init_done else "echo invoked"
    for name, text in {"init": init_answer, "query": f"echo {value}"}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{text}\n")
        (bin_dir / name).chmod(0o755)
    init = Step("cc-init:mycc:1", "init mycc", [PeerCommand([], "Org1", already="is already initialized", tool="init")])
    smoke = Step("smoke:mycc", "query mycc a", [PeerCommand([], "Org1", expect="100", tool="query")])
    script = tmp_path / "job.sh"
    script.write_text(shell_script([init, smoke], None, "/cfg").replace("sleep 2", "sleep 0"))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)


def test_smoke_expects_the_initial_value_only_when_init_ran_in_this_run(tmp_path):
    assert smoke_run(tmp_path, init_done=False, value="100").returncode == 0
    assert smoke_run(tmp_path, init_done=False, value="89").returncode != 0  # Init just ran: 100 or fail
    later = smoke_run(tmp_path, init_done=True, value="89")  # a later Job after transactions
    assert later.returncode == 0 and "89" in later.stdout, later.stderr
