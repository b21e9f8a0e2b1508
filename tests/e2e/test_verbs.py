"""Every CLI verb against a local network and against a Kubernetes network on the test control plane:
each works, or answers with a one-line reason (exit 1 or 2); none ends in a traceback."""

import json
import os

import pytest
from conftest import EXAMPLES, run_cli, seed_variant

pytestmark = pytest.mark.e2e


def no_traceback(proc) -> None:
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    assert proc.returncode in (0, 1, 2), text
    if proc.returncode:
        errors = [line for line in proc.stderr.splitlines() if line.strip()]
        assert errors and all(line.startswith(("error:", "warning:", "✗", " ")) for line in errors), proc.stderr


def verbs(spec: str, network: str, tmp_path) -> list[tuple[str, ...]]:
    """Every verb with arguments a user would give for this network."""
    return [
        ("validate", spec),
        ("schema",),
        ("status", "--network", network),
        ("status", "--json", "--network", network),
        ("logs", "peer0.org1", "-n", "5", "--network", network),
        ("logs", "lifecycle", "-n", "5", "--network", network),
        ("logs", "nope", "--network", network),
        ("query", "mycc", "a", "--network", network),
        ("query", "mycc", "a", "--peer", "peer9.org1", "--network", network),
        ("invoke", "mycc", "move", "a", "b", "1", "--network", network),
        ("invoke", "nope", "f", "--network", network),
        ("stop", "kafka-1", "--network", network),
        ("start", "kafka-1", "--network", network),
        ("generate", spec, "--target", "k8s", "--out", str(tmp_path / "gen")),
        ("render", spec, "--out", str(tmp_path / "manifests")),
        ("chaincode", "dockerfile", spec, "mycc", "--out", str(tmp_path / "ctx")),
        ("toolchain", "status"),
    ]


def test_every_verb_on_a_local_network(tools, home, tmp_path):
    spec = str(seed_variant(tmp_path, "verbs", 17500))
    try:
        up = run_cli("up", spec, home=home, check=False)
        no_traceback(up)
        assert up.returncode == 0
        results = {}
        for args in verbs(spec, "verbs", tmp_path):
            proc = run_cli(*args, home=home, check=False)
            no_traceback(proc)
            results[args] = proc
        ok = {a[0] + (" " + a[1] if a[0] in ("logs", "query", "invoke") else "") for a, p in results.items()}
        assert results[("query", "mycc", "a", "--network", "verbs")].stdout.strip() == "100"
        assert "committed (VALID)" in results[("invoke", "mycc", "move", "a", "b", "1", "--network", "verbs")].stdout
        assert results[("logs", "nope", "--network", "verbs")].returncode == 2
        assert results[("invoke", "nope", "f", "--network", "verbs")].returncode == 2
        assert results[("query", "mycc", "a", "--peer", "peer9.org1", "--network", "verbs")].returncode == 2
        failed = {a: p.stderr for a, p in results.items() if p.returncode and a[1] != "nope" and "peer9.org1" not in a}
        assert failed == {}, (failed, ok)
        status = json.loads(results[("status", "--json", "--network", "verbs")].stdout)
        assert status["target"] == "local" and {c["state"] for c in status["components"]} == {"running"}
        assert run_cli("query", "mycc", "b", "--network", "verbs", home=home).stdout.strip() == "201"
    finally:
        no_traceback(run_cli("down", "--network", "verbs", home=home, check=False))
        no_traceback(run_cli("down", "--purge", "--network", "verbs", home=home, check=False))


@pytest.fixture(scope="module")
def sim(tools, tmp_path_factory):
    from tooling.k8s_sim import NODE_SETS, SimCluster
    from tooling.k8s_sim_build import K8sSimBuild

    K8sSimBuild(tools).install()
    cluster = SimCluster(tmp_path_factory.mktemp("verbsim") / "sim", 18560, tools)
    cluster.up(NODE_SETS["seed"])
    yield cluster
    cluster.down(purge=True)


def test_every_verb_on_a_kubernetes_network(sim, home, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(sim.kubeconfig))
    spec = str(EXAMPLES / "seed.yaml")
    up = run_cli("up", spec, "--target", "k8s", "--job-timeout", "1", home=home, check=False)
    no_traceback(up)
    assert up.returncode == 0
    try:
        results = {args: run_cli(*args, home=home, check=False) for args in verbs(spec, "seed-k8s", tmp_path)}
        for proc in results.values():
            no_traceback(proc)
        status = json.loads(results[("status", "--json", "--network", "seed-k8s")].stdout)
        kinds = sorted(c["kind"] for c in status["components"])
        assert status["target"] == "k8s" and kinds == sorted(
            ["zookeeper"] * 3 + ["kafka"] * 3 + ["orderer", "peer", "peer", "chaincode", "tools"]
        ), kinds
        assert {c["node"] for c in status["components"] if c["kind"] == "kafka"} == {"hw1"}
        # kwok runs no containers: no logs, no port-forward. Each says so in one line.
        assert results[("logs", "peer0.org1", "-n", "5", "--network", "seed-k8s")].returncode == 1
        assert results[("query", "mycc", "a", "--network", "seed-k8s")].returncode == 1
        assert "port-forward" in results[("query", "mycc", "a", "--network", "seed-k8s")].stderr
        for verb in ("stop", "start"):
            proc = results[(verb, "kafka-1", "--network", "seed-k8s")]
            assert proc.returncode == 2 and "Kubernetes" in proc.stderr
        assert (
            results[("validate", spec)].returncode == 0
            and results[("render", spec, "--out", str(tmp_path / "manifests"))].returncode == 0
        )
    finally:
        no_traceback(run_cli("down", "--network", "seed-k8s", home=home, check=False))
        no_traceback(run_cli("down", "--purge", "--network", "seed-k8s", home=home, check=False))
    assert not (home / "networks" / "seed-k8s").exists()
    assert os.environ["KUBECONFIG"] == str(sim.kubeconfig)
