"""Figures for the seed network on this machine: time to `value is 100`, memory, idle CPU.

    .venv/bin/python benchmarks/seed_footprint.py [--idle 20]

Uses a temporary FABKUBE_HOME and a spare port range; removes everything afterwards.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def resident_memory_kib(pids: list[int]) -> int:
    """Sum of VmRSS over the given processes and all their descendants."""
    total, seen = 0, set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            todo += [int(c) for c in children]
        except OSError:
            continue
    return total


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return ticks / 100.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU sampling")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FABKUBE_HOME"] = tmp
        from fabkube.backends.local.network import LocalNetwork
        from fabkube.spec import parse_spec

        text = (ROOT / "examples" / "seed.yaml").read_text() + "local: {basePort: 17600}\n"
        net = LocalNetwork(parse_spec(text), Path(tmp) / "seed", spec_dir=ROOT / "examples")
        try:
            t0 = time.monotonic()
            result = net.up()
            print(f"up to smoke query ({result.smoke['mycc']}): {time.monotonic() - t0:.1f} s")
            t0 = time.monotonic()
            net.up()
            print(f"second up (no-op): {time.monotonic() - t0:.1f} s")
            t0 = time.monotonic()
            net.invoke("mycc", ["move", "a", "b", "1"])
            print(f"invoke until committed: {time.monotonic() - t0:.2f} s")
            rows = net.status().components
            pids = [r.pid for r in rows if r.pid]
            for r in rows:
                print(f"  {r.name:16} {resident_memory_kib([r.pid]) / 1024:7.1f} MiB")
            print(f"resident memory, all components: {resident_memory_kib(pids) / 1024:.0f} MiB")
            c0, t0 = cpu_seconds(pids), time.monotonic()
            time.sleep(args.idle)
            share = (cpu_seconds(pids) - c0) / (time.monotonic() - t0) / (os.cpu_count() or 1)
            print(f"idle CPU over {args.idle:.0f} s: {100 * share:.1f} % of {os.cpu_count()} cores")
        finally:
            t0 = time.monotonic()
            net.down(purge=True)
            print(f"down --purge: {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
