"""One way to run a tool: its command line and output appended to a log, a failure naming that log."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fabkube.errors import RuntimeFailure


def run_logged(cmd: list[str], log: Path, what: str = "", cwd: Path | None = None, env: dict | None = None) -> None:
    """Run `cmd`, appending `$ cmd` and its output to `log`; on failure raise RuntimeFailure
    "<tool> could not <what>: <last output line>" (or the exit code) pointing at the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode == 0:
        return
    tool = Path(cmd[0]).name
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1][:300] if lines and not lines[-1].startswith("$ ") else f"exit code {proc.returncode}"
    raise RuntimeFailure(f"{tool} could not {what}: {last}" if what else f"{tool} failed: {last}", log)
