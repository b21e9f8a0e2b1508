"""Users' chaincode, unchanged, in every language fabkube serves: Go with the contract API's own
Start(), Go with the chaincode-external main, JavaScript, TypeScript and Java. Each holds 2,000
submits at 50 in flight with none failed, on a network with TLS and on one without; every
asset the bench reported created is on the ledger (read back through a function without
arguments, GetAllAssets); and a bench printed to a pipe keeps its column names."""

import json
import os
import subprocess
import sys

import pytest
from conftest import live_processes, run_cli
from user_chaincode import IN_FLIGHT, LANGUAGES, SUBMITS, chaincode_dirs, spec_text

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=[True, False], ids=["tls", "no-tls"])
def langnet(request, tools, tmp_path_factory):
    tls = request.param
    root = tmp_path_factory.mktemp("langs-tls" if tls else "langs-plain")
    home = root / "home"
    name = "langs" if tls else "langsplain"
    spec = root / f"{name}.yaml"
    spec.write_text(spec_text(name, tls, 15600 if tls else 15700, chaincode_dirs(root)))
    try:
        run_cli("up", str(spec), home=home, timeout=1500)
        yield home
    finally:
        run_cli("down", "--purge", home=home, check=False)
        assert live_processes(home / "networks" / name) == []


@pytest.mark.parametrize("chaincode", list(LANGUAGES))
def test_chaincode_holds_load_unchanged(langnet, chaincode):
    bench = run_cli(
        "bench", "--chaincode", chaincode, "--tx", str(SUBMITS), "--backlog", str(IN_FLIGHT), "--warmup", "0",
        "--json", home=langnet,
    )  # fmt: skip
    report = json.loads(bench.stdout)
    assert (report["succ"], report["fail"]) == (SUBMITS, 0), report["failures"]
    print(f"{chaincode}: {report['throughput']:.0f} TPS, p99 {report['p99']:.2f} s")
    # Every created asset is on the ledger, read through a function that takes no arguments.
    assets = json.loads(run_cli("query", chaincode, "GetAllAssets", home=langnet).stdout)
    assert len([a for a in assets if a["ID"].startswith("bench-")]) == SUBMITS


def test_invoke_query_and_piped_tables(langnet):
    assert (
        "committed"
        in run_cli("invoke", "javascript", "CreateAsset", "cli-1", "red", "3", "Ann", "7", home=langnet).stdout
    )
    assert json.loads(run_cli("query", "javascript", "ReadAsset", "cli-1", home=langnet).stdout)["Owner"] == "Ann"
    # A table printed to a pipe keeps every column name (no COLUMNS: as in a log file or CI).
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"FABKUBE_HOME": str(langnet)}
    proc = subprocess.run(
        [sys.executable, "-m", "fabkube.cli", "bench", "--chaincode", "gostart", "--tx", "50", "--warmup", "0"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    for column in ("Send Rate (TPS)", "Throughput (TPS)", "Avg Latency (s)", "p99 (s)", "Memory (max MiB)"):
        assert column in proc.stdout, proc.stdout
