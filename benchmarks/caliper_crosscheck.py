"""Cross-check `fabkube bench` against Hyperledger Caliper 0.6.0 on one running network.

    .venv/bin/python benchmarks/caliper_crosscheck.py [--workdir DIR] [--chaincode basic] [--tx 2000]
        [--backlog 50 | --rate TPS]

Needs Node.js 18+ and npm, and a running network with an asset-transfer-basic chaincode
(e.g. `.venv/bin/fabkube up examples/bench.yaml`); starts and stops no network.
Installs Caliper once into --cache (npm, then `caliper bind` for the peer Gateway connector),
runs Caliper's create-asset round (1 worker, fixed-load = backlog), then fabkube's own round
on the same peer with the same arguments, and prints both in Caliper's columns.
Prints figures; asserts nothing. Exits non-zero only when something could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import yaml

from fabkube.backends import open_network
from fabkube.backends.base import Network, OrgConnection, PeerConnection
from fabkube.bench import RoundOptions, run_bench, workload
from fabkube.bench.report import COLUMNS
from fabkube.layout import default_workdir
from fabkube.topology import ChaincodeInfo

CALIPER = "0.6.0"
BIND_SPEC = "fabric:fabric-gateway"  # Caliper 0.6.0's config.yaml: @hyperledger/fabric-gateway@1.5.0, grpc-js 1.10.3
PACKAGES = (
    "@hyperledger/caliper-cli",
    "@hyperledger/caliper-core",
    "@hyperledger/caliper-fabric",
    "@hyperledger/fabric-gateway",
    "@grpc/grpc-js",
)
CALIPER_COLUMNS = COLUMNS[:8]  # Name .. Throughput (TPS); p50/p99 are fabkube's own
LAUNCH_TIMEOUT = 900.0  # seconds for the whole Caliper run
EXIT_GRACE = 30.0  # seconds Caliper may take to exit once it says it finished
AGREE = 0.15
ANSI = re.compile(r"\x1b\[[0-9;]*m")

WORKLOAD_JS = """'use strict';
const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

// CreateAsset with unique IDs, as fabkube's "create" workload: [id, "x" * payload, "1", "bench", "100"]
class CreateAssetWorkload extends WorkloadModuleBase {
    constructor() {
        super();
        this.txIndex = 0;
    }

    async submitTransaction() {
        const args = this.roundArguments;
        const id = `${args.prefix}-${this.workerIndex}-${this.txIndex++}`;
        return this.sutAdapter.sendRequests({
            contractId: args.contractId,
            contractFunction: 'CreateAsset',
            contractArguments: [id, 'x'.repeat(args.payload), '1', 'bench', '100'],
            readOnly: false,
        });
    }
}

module.exports.createWorkloadModule = () => new CreateAssetWorkload();
"""


# ---------------------------------------------------------------- Caliper, installed once
def package_version(cache: Path, name: str) -> str | None:
    manifest = cache / "node_modules" / name / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


def npm(cache: Path, *args: str) -> None:
    print(f"  $ {' '.join(args)}", flush=True)
    if subprocess.run(args, cwd=cache).returncode != 0:
        raise SystemExit(f"error: `{' '.join(args)}` failed in {cache}")


def install_caliper(cache: Path) -> None:
    """npm install caliper-cli and bind it to the peer Gateway connector, unless already done; print the versions."""
    if not shutil.which("npm") or not shutil.which("npx"):
        raise SystemExit("error: Caliper needs Node.js 18+ with npm and npx on PATH")
    cache.mkdir(parents=True, exist_ok=True)
    if package_version(cache, "@hyperledger/caliper-cli") != CALIPER:
        print(f"installing Caliper {CALIPER} into {cache}")
        if not (cache / "package.json").is_file():
            npm(cache, "npm", "init", "-y")
        npm(cache, "npm", "install", "--no-audit", "--no-fund", f"@hyperledger/caliper-cli@{CALIPER}")
    if package_version(cache, "@hyperledger/fabric-gateway") is None:
        print(f"binding Caliper to {BIND_SPEC}")
        npm(cache, "npx", "caliper", "bind", "--caliper-bind-sut", BIND_SPEC)
    versions = ", ".join(f"{name} {package_version(cache, name) or 'missing'}" for name in PACKAGES)
    print(f"Caliper in {cache}: {versions}")


# ---------------------------------------------------------------- Caliper's files for one round
def key_file(msp_dir: Path) -> Path:
    keys = sorted(p for p in (msp_dir / "keystore").glob("*") if p.is_file())
    keys.sort(key=lambda p: not (p.name == "priv_sk" or p.name.endswith("_sk")))
    if not keys:
        raise SystemExit(f"error: no private key in {msp_dir / 'keystore'}")
    return keys[0]


def write_round(
    run: Path,
    conn: OrgConnection,
    peer: PeerConnection,
    address: str,
    cc: ChaincodeInfo,
    tx: int,
    backlog: int,
    rate: float | None,
) -> None:
    """networkconfig.yaml, connection-profile.yaml, create-asset.js and benchconfig.yaml in `run`.

    The connection profile lists only `peer` (Caliper's peer Gateway connector uses an org's first peer),
    so both tools load the same peer through its Gateway as the org admin."""
    tls = peer.tls_root is not None
    entry: dict = {"url": f"{'grpcs' if tls else 'grpc'}://{address}"}
    if tls:
        entry["tlsCACerts"] = {"path": str(peer.tls_root)}
        entry["grpcOptions"] = {"ssl-target-name-override": peer.server_name}
    profile = {
        "name": f"fabkube-{conn.org}",
        "version": "1.0.0",
        "client": {"organization": conn.org},
        "organizations": {conn.org: {"mspid": conn.msp_id, "peers": [peer.name]}},
        "peers": {peer.name: entry},
    }
    cert = sorted((conn.msp_dir / "signcerts").glob("*.pem"))
    if not cert:
        raise SystemExit(f"error: no certificate in {conn.msp_dir / 'signcerts'}")
    identity = {
        "name": "admin",
        "clientPrivateKey": {"path": str(key_file(conn.msp_dir))},
        "clientSignedCert": {"path": str(cert[0])},
    }
    network = {
        "name": "fabkube",
        "version": "2.0.0",
        "caliper": {"blockchain": "fabric"},
        "channels": [{"channelName": cc.channel, "contracts": [{"id": cc.name}]}],
        "organizations": [
            {
                "mspid": conn.msp_id,
                "identities": {"certificates": [identity]},
                "connectionProfile": {"path": str(run / "connection-profile.yaml"), "discover": True},
            }
        ],
    }
    round_ = {
        "label": "create",
        "txNumber": tx,
        "rateControl": (
            {"type": "fixed-rate", "opts": {"tps": rate}}
            if rate
            else {"type": "fixed-load", "opts": {"transactionLoad": backlog}}
        ),
        "workload": {
            "module": str(run / "create-asset.js"),
            "arguments": {"contractId": cc.name, "prefix": f"caliper-{uuid.uuid4().hex[:8]}", "payload": 100},
        },
    }
    bench = {
        "test": {"name": "fabkube-crosscheck", "workers": {"number": 1}, "rounds": [round_]},
        "monitors": {"resource": [], "transaction": []},  # no Docker/process/Prometheus monitors
    }
    (run / "connection-profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    (run / "networkconfig.yaml").write_text(yaml.safe_dump(network, sort_keys=False))
    (run / "benchconfig.yaml").write_text(yaml.safe_dump(bench, sort_keys=False))
    (run / "create-asset.js").write_text(WORKLOAD_JS)


# ---------------------------------------------------------------- Caliper's run and its summary table
def stop_group(proc: subprocess.Popen, why: str) -> None:
    """SIGTERM the process group this script started for Caliper (npx, its manager and its worker)."""
    if proc.poll() is None:
        print(f"  {why}: stopping Caliper's process group {proc.pid}", flush=True)
        os.killpg(proc.pid, signal.SIGTERM)


def launch_caliper(cache: Path, run: Path) -> str:
    """`caliper launch manager` on the files in `run`; its whole output (also in run/caliper.log)."""
    cmd = ["npx", "caliper", "launch", "manager", "--caliper-workspace", str(run)]
    cmd += ["--caliper-networkconfig", "networkconfig.yaml", "--caliper-benchconfig", "benchconfig.yaml"]
    cmd += ["--caliper-flow-only-test", "--caliper-report-path", str(run / "report.html")]
    print(f"  $ {' '.join(cmd)}", flush=True)
    proc = subprocess.Popen(
        cmd, cwd=cache, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    timers = [threading.Timer(LAUNCH_TIMEOUT, stop_group, (proc, f"no end after {LAUNCH_TIMEOUT:.0f} s"))]
    timers[0].start()
    lines: list[str] = []
    finished = False
    errors = 0
    assert proc.stdout is not None
    with (run / "caliper.log").open("w") as log:
        for raw in proc.stdout:
            line = ANSI.sub("", raw.rstrip("\n"))
            lines.append(line)
            log.write(line + "\n")
            errors += " error " in line
            if re.search(r" (warn|error) |[Rr]ound|Benchmark", line) and (errors <= 10 or " error " not in line):
                print(f"  caliper: {line}", flush=True)
            if "Benchmark successfully finished" in line and not finished:
                finished = True  # Caliper has printed its tables; it should exit by itself now
                why = f"still running {EXIT_GRACE:.0f} s after finishing"
                timers.append(threading.Timer(EXIT_GRACE, stop_group, (proc, why)))
                timers[-1].start()
    proc.wait()
    for timer in timers:
        timer.cancel()
    if proc.returncode != 0 and not finished:
        raise SystemExit(f"error: Caliper failed (exit {proc.returncode}); its log: {run / 'caliper.log'}")
    return "\n".join(lines)


def parse_summary(text: str) -> dict[str, str]:
    """The last row of Caliper's last results table (`| Name | Succ | ... | Throughput (TPS) |`)."""
    lines = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|-")]
    rows = [[cell.strip() for cell in line.strip("| ").split("|")] for line in lines]
    headers = [i for i, r in enumerate(rows) if r and r[0] == "Name" and "Throughput (TPS)" in r]
    if not headers or headers[-1] + 1 >= len(rows):
        raise SystemExit("error: no results table in Caliper's output")
    header = rows[headers[-1]]
    return dict(zip(header, rows[headers[-1] + 1], strict=False))


# ---------------------------------------------------------------- the comparison
def show(rows: list[tuple[str, list[str]]]) -> None:
    """One line per tool in Caliper's columns (the tool in place of the round's name)."""
    table = [["tool", *CALIPER_COLUMNS[1:]]] + [[tool, *cells[1:]] for tool, cells in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def ratio_line(what: str, ours: float, theirs: float) -> str:
    if not theirs > 0:  # also NaN: Caliper printed no number
        return f"{what}: fabkube {ours:.2f}, Caliper {theirs:.2f}: no ratio"
    r = ours / theirs
    verdict = "agree" if abs(r - 1) <= AGREE else "DISAGREE"
    return f"{what}: fabkube / Caliper = {r:.2f} ({verdict} within {AGREE:.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=default_workdir("bench"), help="a running network's work dir")
    parser.add_argument("--chaincode", default="basic", help="an asset-transfer-basic chaincode of that network")
    parser.add_argument("--tx", type=int, default=2000, help="transactions in each round")
    parser.add_argument("--backlog", type=int, default=50, help="transactions in flight (Caliper: fixed-load)")
    parser.add_argument("--rate", type=float, default=None, help="fixed rate (TPS) for both, instead of a backlog")
    cache = Path.home() / ".cache" / "fabkube" / f"caliper-{CALIPER}"
    parser.add_argument("--cache", type=Path, default=cache, help="Caliper, installed once (%(default)s)")
    args = parser.parse_args()
    cache = args.cache.expanduser().resolve()

    install_caliper(cache)
    net: Network = open_network(args.workdir.expanduser().resolve())
    cc = net.chaincode_info(args.chaincode)
    node = net.query_peer(cc, None)  # the peer `fabkube bench` sends to
    conn = net.connection(node.org.name)
    peer = next(p for p in conn.peers if p.name == node.name)
    print(f"network {net.name} ({args.workdir}): {cc.name} on {cc.channel}, through {peer.name}'s Gateway")

    run = Path(tempfile.mkdtemp(prefix="run-", dir=cache))  # under the cache: the workload resolves caliper-core
    load = f"fixed-rate {args.rate} TPS" if args.rate else f"fixed-load {args.backlog}"
    print(f"Caliper {CALIPER}: create, {args.tx} transactions, {load} (files in {run})")
    with net.dial(peer) as address:
        write_round(run, conn, peer, address, cc, args.tx, args.backlog, args.rate)
        caliper = parse_summary(launch_caliper(cache, run))

    print(f"fabkube bench: create, {args.tx} transactions, {load}")
    report, _ = run_bench(
        net,
        workload("create"),
        RoundOptions(args.tx, backlog=args.backlog, rate=args.rate, warmup=0),
        chaincode=cc.name,
        stage=lambda m: print(f"  {m}", flush=True),
    )
    shutil.rmtree(run)

    print()
    show([(f"Caliper {CALIPER}", [caliper.get(c, "?") for c in CALIPER_COLUMNS]), ("fabkube", report.row()[:8])])
    print()

    def number(column: str) -> float:
        try:
            return float(caliper.get(column, "nan"))
        except ValueError:
            return float("nan")

    print(ratio_line("throughput", report.throughput, number("Throughput (TPS)")))
    print(ratio_line("avg latency", report.avg_latency, number("Avg Latency (s)")))
    if report.fail or caliper.get("Fail", "0") != "0":
        print("note: with failures the throughputs differ by definition: Caliper counts succeeded + failed,")
        print(f"      fabkube succeeded only (fabkube's failures: {report.failures})")


if __name__ == "__main__":
    main()
