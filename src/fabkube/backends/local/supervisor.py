"""Start, watch and stop component processes; remember them in the work dir's state.json.

Each component runs in its own session/process group (so a JVM and its children stop
together), with stdout and stderr appended to logs/<name>.log. A pid is only trusted
together with its kernel start time, so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from fabkube.components import Component
from fabkube.layout import Layout


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


class State:
    """The work dir's memory: running pids, finished lifecycle steps, package IDs."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("processes", {})
        self.data.setdefault("done", [])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        tmp.replace(self.path)

    @property
    def processes(self) -> dict[str, dict]:
        return self.data["processes"]

    def is_done(self, step_id: str) -> bool:
        return step_id in self.data["done"]

    def mark_done(self, step_id: str) -> None:
        if step_id not in self.data["done"]:
            self.data["done"].append(step_id)
            self.save()


# What a component may take from the user's environment: where programs and the home are, the
# locale and time zone, and Java's home. Nothing else (tokens, cloud credentials, the user's own
# CORE_* or CHAINCODE_* settings) reaches a node; each component's own settings come from it.
INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "JAVA_HOME")


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in INHERITED or k.startswith("LC_")}


class Supervisor:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.state = State(layout.state_file)

    def reload(self) -> None:
        """Read the state file again: for a watcher (top, console) while other commands start and
        stop components."""
        self.state = State(self.layout.state_file)

    def pid(self, name: str) -> int | None:
        entry = self.state.processes.get(name)
        if not entry:
            return None
        if _start_time(entry["pid"]) != entry["start"]:
            return None
        return entry["pid"]

    def log_offset(self, name: str) -> int:
        """Where the output of the component's current run begins in its log (0 if unknown)."""
        return int(self.state.processes.get(name, {}).get("log_offset", 0))

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def start(self, comp: Component) -> int:
        for path, content in comp.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        self.layout.data_dir(comp.name).mkdir(parents=True, exist_ok=True)
        log = self.layout.log(comp.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**base_env(), **comp.env}
        with log.open("ab") as out:
            offset = out.tell()
            out.write(f"\n==== fabkube starts {comp.name}: {' '.join(comp.command)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                comp.command,
                cwd=comp.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.state.processes[comp.name] = {
            "pid": proc.pid,
            "start": _start_time(proc.pid) or "",
            "kind": comp.kind,
            "log_offset": offset,  # where this run's output begins in the log
        }
        self.state.save()
        return proc.pid

    def exited(self, name: str) -> bool:
        """True when a process we started is gone (reaping it if it was our child)."""
        entry = self.state.processes.get(name)
        if not entry:
            return True
        try:
            done, _ = os.waitpid(entry["pid"], os.WNOHANG)
            if done:
                return True
        except ChildProcessError:
            pass
        return not self.running(name)

    def stop_many(self, names: list[str], timeout: float = 30.0) -> None:
        """SIGTERM each group, wait together, then SIGKILL what is left."""
        pids = {n: self.pid(n) for n in names}
        for pid in pids.values():
            if pid:
                _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid and not self.exited(n) for n, pid in pids.items()):
            time.sleep(0.2)
        for n, pid in pids.items():
            if pid and not self.exited(n):
                _signal_group(pid, signal.SIGKILL)
                time.sleep(0.2)
                self.exited(n)
            self.state.processes.pop(n, None)
        self.state.save()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def last_lines(log: Path, n: int) -> str:
    """The last `n` lines of a file, read from its end: logs grow large, and watchers ask often."""
    with log.open("rb") as fh:
        size = fh.seek(0, 2)
        data, block = b"", 65536
        while size > 0 and data.count(b"\n") <= n:
            step = min(block, size)
            size -= step
            fh.seek(size)
            data = fh.read(step) + data
            block *= 2
    return "".join(data.decode(errors="replace").splitlines(keepends=True)[-n:])


def tail(log: Path) -> str:
    """ ": <its last non-empty line>" of a log, or "" (none, or no log)."""
    try:
        lines = [line for line in last_lines(log, 50).splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1][:300]}" if lines else ""
