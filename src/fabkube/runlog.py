"""One way to run a tool: its command line and output appended to a log, a failure naming that log."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from fabkube.errors import RuntimeFailure

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


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
    lines = [clean for line in log.read_text(errors="replace").splitlines() if (clean := _ANSI.sub("", line).strip())]
    lines = lines[max((i for i, line in enumerate(lines) if line.startswith("$ ")), default=0) + 1 :]
    # Maven ends with advice; its first [ERROR] line says what failed.
    errors = [line for line in lines if line.startswith("[ERROR] ") and len(line) > 10]
    last = (errors or lines or [f"exit code {proc.returncode}"])[0 if errors else -1][:300]
    raise RuntimeFailure(f"{tool} could not {what}: {last}" if what else f"{tool} failed: {last}", log)
