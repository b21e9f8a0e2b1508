"""Kubernetes commands with a bad or unreachable cluster: clear errors, nothing written."""

from conftest import EXAMPLES, run_cli

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: gone
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: gone, context: {cluster: gone, user: u}}]
"""


def test_missing_kubeconfig_is_bad_input(home, tmp_path):
    proc = run_cli(
        "preflight", str(EXAMPLES / "seed.yaml"), "--kubeconfig", str(tmp_path / "nope"), home=home, check=False
    )
    assert (
        proc.returncode == 2 and f"--kubeconfig {tmp_path / 'nope'}: cannot load a cluster configuration" in proc.stderr
    )
    assert not home.exists()


def test_unreachable_cluster_is_a_runtime_failure(home, tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    for args in (["preflight"], ["up", "--target", "k8s"]):
        proc = run_cli(
            *args[:1], str(EXAMPLES / "seed.yaml"), *args[1:], "--kubeconfig", str(config), home=home, check=False
        )
        assert proc.returncode == 1, proc.stderr
        assert "cluster at https://127.0.0.1:1 is not reachable" in proc.stderr
    assert not home.exists()


def test_certs_renew_on_a_kubernetes_network_never_up_says_so_and_changes_nothing(home, tmp_path):
    import json

    workdir = tmp_path / "seed-k8s"
    run_cli("render", str(EXAMPLES / "seed.yaml"), "--out", str(tmp_path / "out"), "-w", str(workdir), home=home)
    (workdir / "target.json").write_text(json.dumps({"target": "k8s", "context": None, "kubeconfig": None}))
    before = sorted(p.name for p in (workdir / "crypto").rglob("*.pem"))
    proc = run_cli("certs", "renew", "--all", "-w", str(workdir), home=home, check=False)
    assert proc.returncode == 2 and "was never brought up on Kubernetes: nothing to renew" in proc.stderr, proc.stderr
    assert sorted(p.name for p in (workdir / "crypto").rglob("*.pem")) == before
