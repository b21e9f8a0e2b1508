"""Run lifecycle steps locally: each PeerCommand is a real `peer` subprocess with its admin env."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.layout import Layout
from fabkube.ops.lifecycle import TRANSIENT, PeerCommand, Step, admin_env
from fabkube.toolchain import Toolchain


@dataclass
class Result:
    command: PeerCommand
    output: str


class LocalExecutor:
    def __init__(self, layout: Layout, tools: Toolchain, attempts: int = 40, delay: float = 1.0):
        self.layout, self.tools = layout, tools
        self.attempts, self.delay = attempts, delay

    @property
    def log(self) -> Path:
        return self.layout.log("lifecycle")

    def env(self, cmd: PeerCommand) -> dict[str, str]:
        topo = self.layout.topo
        peer = next((p for p in topo.peers if p.name == cmd.peer), None)
        env = dict(os.environ)
        if cmd.tool == "peer":  # osnadmin takes its identity from its flags
            env.update(admin_env(self.layout, topo.org(cmd.org), peer))
        env["FABRIC_CFG_PATH"] = str(self.tools.config_dir)
        env["FABRIC_LOGGING_SPEC"] = "WARNING"
        return env

    def run(self, cmd: PeerCommand, timeout: float = 120) -> Result:
        argv = [str(self.tools.bin(cmd.tool)), *cmd.args]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        delay = self.delay
        attempts = self.attempts if cmd.retry else 1
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                proc = subprocess.run(argv, env=self.env(cmd), capture_output=True, text=True, timeout=timeout)
                output, code = proc.stdout + proc.stderr, proc.returncode
            except subprocess.TimeoutExpired:
                output, code = f"timed out after {timeout}s", -1
            with self.log.open("a") as fh:
                fh.write(f"$ [{cmd.org} -> {cmd.peer or '-'}] {cmd.tool} {' '.join(cmd.args)}\n{output}\n")
            if code == 0 and (cmd.expect is None or cmd.expect in proc.stdout):
                return Result(cmd, proc.stdout.strip())
            # osnadmin answers HTTP errors with exit status 0: ALREADY counts with any status.
            if cmd.already and cmd.already in output:
                return Result(cmd, "already done")
            last = _last_error(output) or f"exit code {code}"
            if code == 0 and cmd.expect is not None:
                last = f"expected {cmd.expect!r}, got {proc.stdout.strip()!r}"
            if attempt < attempts and any(t in output for t in TRANSIENT):
                time.sleep(delay)
                delay = min(delay * 1.5, 5.0)
                continue
            break
        raise RuntimeFailure(f"{cmd.tool} {' '.join(cmd.args[:3])} failed: {last}", self.log)

    def run_step(self, step: Step) -> list[Result]:
        return [self.run(cmd) for cmd in step.commands]

    def holds(self, check: PeerCommand) -> bool:
        """Whether a step's done_if check passes now (one try, as the Job script's done_if)."""
        once = PeerCommand(check.args, check.org, check.peer, retry=False, expect=check.expect, tool=check.tool)
        try:
            self.run(once, timeout=30)
        except RuntimeFailure:
            return False
        return True


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "failed" in line:
            return line[:400]
    return lines[-1][:400] if lines else ""
