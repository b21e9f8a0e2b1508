"""Kafka and Raft side by side on this machine, in one run, same topology, blocks and client:
`up` to the smoke query (cold, then warm: a second network from the same toolchain and crypto-free
start), resident memory of the network, and `fabkube bench` create and read.

    .venv/bin/python benchmarks/raft_vs_kafka.py [--tx 3000] [--backlog 200]

The Kafka network is examples/bench.yaml (1 orderer, 3 brokers, 3 ZooKeeper, Org1 with 2 peers,
blocks of 100 / 250 ms); the Raft network is the same with `ordering: {type: raft, orderers: 3}`.
Uses a temporary FABKUBE_HOME and spare port ranges; removes everything afterwards. Prints
figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from seed_footprint import resident_memory_kib

ROOT = Path(__file__).resolve().parent.parent


def specs() -> dict[str, str]:
    kafka = (
        (ROOT / "examples" / "bench.yaml").read_text().replace("local: {basePort: 17100}", "local: {basePort: 19100}")
    )
    raft = (
        kafka.replace("name: bench", "name: benchraft")
        .replace("ordering: {type: kafka, orderers: 1,", "ordering: {type: raft, orderers: 3,")
        .replace("kafka: {brokers: 3, replicationFactor: 3, minInsyncReplicas: 2}\n", "")
        .replace("zookeeper: {nodes: 3}\n", "")
        .replace("basePort: 19100", "basePort: 19200")
    )
    return {"kafka": kafka, "raft": raft}


def measure(kind: str, text: str, tmp: Path, tx: int, backlog: int) -> dict:
    from fabkube.backends.local.network import LocalNetwork
    from fabkube.bench import RoundOptions, run_bench, workload
    from fabkube.spec import parse_spec

    net = LocalNetwork(parse_spec(text), tmp / kind, spec_dir=ROOT / "examples")
    out: dict = {}
    try:
        t0 = time.monotonic()
        net.up()
        out["up"] = time.monotonic() - t0
        net.down()
        t0 = time.monotonic()
        net.up()  # everything generated and joined: start the processes again
        out["up again"] = time.monotonic() - t0
        pids = [r.pid for r in net.status().components if r.pid]
        out["rss"] = resident_memory_kib(pids) / 1024
        for name in ("create", "read"):
            report, _ = run_bench(net, workload(name), RoundOptions(tx, backlog=backlog, warmup=200), "basicgo")
            out[name] = report
        out["rss loaded"] = resident_memory_kib(pids) / 1024
    finally:
        net.down(purge=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tx", type=int, default=3000)
    parser.add_argument("--backlog", type=int, default=200)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FABKUBE_HOME"] = tmp
        for kind, text in specs().items():
            results[kind] = measure(kind, text, Path(tmp), args.tx, args.backlog)
    print(f"{'':28}{'Kafka':>12}{'Raft':>12}")
    rows = [
        ("up to smoke query (s)", lambda r: f"{r['up']:.1f}"),
        ("up again, all stopped (s)", lambda r: f"{r['up again']:.1f}"),
        ("resident memory idle (MiB)", lambda r: f"{r['rss']:.0f}"),
        ("resident memory after (MiB)", lambda r: f"{r['rss loaded']:.0f}"),
        (f"create TPS ({args.backlog} in flight)", lambda r: f"{r['create'].throughput:.0f}"),
        ("create p99 (s)", lambda r: f"{r['create'].p99:.2f}"),
        ("create failed", lambda r: f"{r['create'].fail}"),
        ("read TPS", lambda r: f"{r['read'].throughput:.0f}"),
        ("read p99 (s)", lambda r: f"{r['read'].p99:.2f}"),
    ]
    for label, cell in rows:
        print(f"{label:28}{cell(results['kafka']):>12}{cell(results['raft']):>12}")
    ratio = results["raft"]["create"].throughput / max(results["kafka"]["create"].throughput, 1e-9)
    print(f"Raft/Kafka create throughput: {ratio:.2f}")


if __name__ == "__main__":
    main()
