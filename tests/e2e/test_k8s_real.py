"""The seed on Kubernetes with real nodes: pods run through kubelet, containerd and runc.

The two-node test cluster is shaped like the user's (hw1 control plane with its taint, hw2
worker, 2 CPU / 4 GiB each); images are built here from our own binaries and loaded on the
nodes under their official names (tooling/images.py). What the user did by hand, fabkube does
from examples/seed.yaml, and every claim is checked against the running pods.
"""

import contextlib
import json
import os
import re
import ssl
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import EXAMPLES, run_cli, wait_for
from kubernetes import client, config
from load import RetryingLoad, SubmitLoad, assert_on_every_peer, kill_leader_under_load
from tooling.console import console_shows_the_network
from tooling.k8s_cluster import RealCluster
from tooling.podmonitors import install_crd, load_image, running_in_pod
from user_chaincode import IN_FLIGHT, LANGUAGES, SUBMITS, chaincode_dirs, spec_text

from fabkube.dashboard import queries

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tools):
    yield from RealCluster(tools=tools).for_tests(2)


@contextmanager
def kubeconfig(cluster):
    """KUBECONFIG set to the test cluster's while the block runs (what was set before is kept)."""
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous


def cli(cluster, *args, home, check=True):
    with kubeconfig(cluster):
        return run_cli(*args, home=home, check=check, timeout=900)


def api(cluster):
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


def seed_spec(tmp_path, version="1.0", sequence=1):
    text = (EXAMPLES / "seed.yaml").read_text()
    if version != "1.0":
        text = text.replace(
            "channel: mychannel, init:", f'channel: mychannel, version: "{version}", sequence: {sequence}, init:'
        )
        assert version in text
    path = tmp_path / f"seed-{version}.yaml"
    path.write_text(text)
    return path


def test_nothing_routes_off_the_machine(cluster):
    """Nodes route only the bridge, pod and service ranges; the host forwards nothing off the bridge."""
    import subprocess

    for node in cluster.nodes():
        ns = ["ip", "-n", node.netns, "route", "get"]
        assert subprocess.run([*ns, "10.244.2.9"], capture_output=True).returncode == 0
        off = subprocess.run([*ns, "1.1.1.1"], capture_output=True, text=True)
        assert off.returncode != 0 and "unreachable" in off.stderr, off.stdout
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    assert "-A FORWARD -i fkbr0 ! -o fkbr0 -m comment --comment fabkube-cluster -j DROP" in rules


def test_preflight_blocks_a_chaincode_image_nobody_publishes(cluster, home, tmp_path):
    spec = seed_spec(tmp_path, "0.9")  # no image for this version was built or loaded
    up = cli(cluster, "up", str(spec), "--target", "k8s", home=home, check=False)
    assert up.returncode == 2, up.stderr
    assert "chaincode mycc" in up.stderr and "fabkube/mycc-chaincode:0.9" in up.stderr, up.stderr
    assert "Traceback" not in up.stderr
    core = client.CoreV1Api(api(cluster))
    assert not [n.metadata.name for n in core.list_namespace().items if n.metadata.name.startswith("seed-")]


def test_seed_in_real_pods(cluster, home, tmp_path):
    core = client.CoreV1Api(api(cluster))
    spec = seed_spec(tmp_path)
    assert cluster.load_chaincode_images(spec) == ["docker.io/fabkube/mycc-chaincode:1.0"]

    start = time.monotonic()
    up = cli(cluster, "up", str(spec), "--target", "k8s", home=home)
    print(f"seed up on real pods in {time.monotonic() - start:.0f}s")
    out = up.stderr.replace("\n", " ")
    assert "42 objects, 42 changed" in out, up.stderr
    assert "lifecycle Job succeeded" in out and "== query mycc a   100" in up.stderr.replace("\n", " "), up.stderr

    # Placed as in the user's `kubectl get pods -owide`: ZooKeeper and Kafka on hw1, Fabric on hw2.
    pods = core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items
    where: dict[str, set] = {}
    for p in pods:
        where.setdefault(p.metadata.labels["app.kubernetes.io/component"], set()).add(p.spec.node_name)
        if p.status.phase == "Running":
            assert p.status.pod_ip.startswith("10.244."), p.status.pod_ip  # a real pod address from the CNI
            assert all(cs.ready for cs in p.status.container_statuses), p.metadata.name
    assert where["zookeeper"] == where["kafka"] == {"hw1"}
    assert where["orderer"] == where["peer"] == where["chaincode"] == {"hw2"}
    # Kafka's log dir is a subdirectory: the volume root holds lost+found, as on ext4.
    claim = core.read_namespaced_persistent_volume_claim("data-kafka-0", "seed-kafka")
    volume = core.read_persistent_volume(claim.spec.volume_name).spec.host_path.path
    assert (Path(volume) / "lost+found").is_dir() and (Path(volume) / "logs" / "mychannel-0").is_dir()
    kafka_logs = cli(cluster, "logs", "kafka-0", "-n", "400", "--network", "seed-k8s", home=home).stdout
    assert "dir=/var/lib/kafka/data/logs]" in kafka_logs, kafka_logs[-2000:]

    # Day to day, through a port-forward to the peer's pod and the Gateway.
    assert cli(cluster, "query", "mycc", "query", "a", "--network", "seed-k8s", home=home).stdout.strip() == "100"
    inv = cli(cluster, "invoke", "mycc", "move", "a", "b", "10", "--network", "seed-k8s", home=home)
    assert "committed (VALID)" in inv.stdout, inv.stdout + inv.stderr
    assert cli(cluster, "query", "mycc", "query", "b", "--network", "seed-k8s", home=home).stdout.strip() == "210"
    status = cli(cluster, "status", "--network", "seed-k8s", "--json", home=home).stdout
    rows = {r["name"]: r for r in json.loads(status)["components"]}
    assert rows["peer0-0"]["node"] == "hw2" and "ready" in rows["peer0-0"]["state"], rows
    assert {r["fabric"] for r in rows.values() if r["kind"] in ("orderer", "peer")} == {"2.5.9"}, rows
    summary = json.loads(status)["channels"]["mychannel"]
    assert summary["type"] == "kafka" and summary["capabilities"]["application"] == ["V2_5"], summary
    assert (
        "Start phase completed successfully"
        in cli(cluster, "logs", "orderer0", "-n", "500", "--network", "seed-k8s", home=home).stdout
    )

    # A second `up` changes nothing and does not run the lifecycle again.
    again = cli(cluster, "up", str(spec), "--target", "k8s", home=home).stderr.replace("\n", " ")
    assert "42 objects, 0 changed" in again, again

    # A new chaincode version and a second chaincode in one `up`: their images, then the Job is
    # replaced and the lifecycle runs again (mycc's new sequence runs Init again: init-required).
    # `fabkube bench` then loads the new chaincode through the port-forward and reports each pod's
    # CPU and memory from the kubelets' resource metrics.
    spec2 = seed_spec(tmp_path, "1.1", 2)
    spec3 = tmp_path / "seed-basic.yaml"
    spec3.write_text(
        spec2.read_text().replace(
            "kubernetes:",
            "  - {name: basic, path: 'builtin:asset-transfer-basic', channel: mychannel}\nkubernetes:",
            1,
        )
    )
    assert cluster.load_chaincode_images(spec3) == [
        "docker.io/fabkube/mycc-chaincode:1.1",
        "docker.io/fabkube/basic-chaincode:1.0",
    ]
    # The same `up` turns monitoring on: refused while the cluster serves no PodMonitor API, applied
    # once the Prometheus Operator's own CRD is installed (the API server validates the monitors).
    spec3.write_text(spec3.read_text().replace("kubernetes:\n", f"kubernetes:\n{MONITORING}", 1))
    refused = cli(cluster, "preflight", str(spec3), home=home, check=False)
    assert refused.returncode == 2 and "needs the PodMonitor CRD" in refused.stdout + refused.stderr, refused
    install_crd(api(cluster))
    load_image(cluster, cluster.tools)
    changed = cli(cluster, "up", str(spec3), "--target", "k8s", home=home).stderr
    assert "install mycc_1.1 on peer0.org1" in changed and "install basic_1.0 on peer0.org1" in changed, changed
    assert "lifecycle Job succeeded" in changed, changed
    committed = cli(cluster, "query", "mycc", "query", "a", "--network", "seed-k8s", home=home).stdout.strip()
    assert committed == "100", committed  # init-required: the new sequence ran Init again
    with running_in_pod(api(cluster), monitors_applied(cluster)) as prometheus:
        scraped_as_the_monitors_say(cluster, prometheus)
        bench_in_pods(cluster, home)
        # Every dashboard panel has data from the pods, Kafka's and ZooKeeper's too.
        panels = queries("seed", "kafka")

        def without_data() -> list[str]:
            return [title for title, q in panels.items() if not prometheus.query(q)]

        with contextlib.suppress(AssertionError):  # the assert below names the panels still empty
            wait_for("every dashboard panel's query to return data", lambda: not without_data(), 90)
        assert not without_data()

    top_and_console_in_pods(cluster, home, tmp_path)
    shared_cluster_checks(cluster, home)
    migrate_in_pods(cluster, home, spec3)

    down = cli(cluster, "down", "--network", "seed-k8s", home=home)
    assert down.returncode == 0
    assert not core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items or _gone(core)
    pvcs = core.list_persistent_volume_claim_for_all_namespaces(label_selector="").items
    assert any(p.metadata.namespace == "seed-kafka" for p in pvcs), "down keeps the data"
    cli(cluster, "down", "--network", "seed-k8s", "--purge", home=home)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(n.metadata.name.startswith("seed-") for n in core.list_namespace().items):
        time.sleep(2)
    assert not [n.metadata.name for n in core.list_namespace().items if n.metadata.name.startswith("seed-")]


STRANGER_PROBE = """
for t in "$@"; do
  if timeout 4 bash -c "exec 3<>/dev/tcp/${t%:*}/${t##*:}" 2>/dev/null; then echo "open $t"; else echo "closed $t"; fi
done
"""


# The test cluster's broker image carries the JMX exporter agent (tooling/images.py), as a user's
# image built FROM apache/kafka with it would (README, Metrics).
AGENT = "/opt/kafka/libs/jmx_prometheus_javaagent-1.0.1.jar"
MONITORING = f"  monitoring: prometheus-operator\n  operationsFrom: [monitoring]\n  kafkaMetricsAgent: {AGENT}\n"
MONITORED_KINDS = ("orderer", "peer", "chaincode", "zookeeper", "kafka")


def bench_in_pods(cluster, home):
    bench = cli(
        cluster,
        "bench",
        "--tx",
        "200",
        "--backlog",
        "20",
        "--warmup",
        "20",
        "--json",
        "--network",
        "seed-k8s",
        home=home,
    )
    figures = json.loads(bench.stdout)
    print(f"bench on real pods: {figures['throughput']:.0f} TPS, p99 {figures['p99']:.2f}s")
    assert figures["succ"] == 200 and figures["fail"] == 0, figures
    usage = {u["name"]: u for u in figures["resources"]}
    assert usage["peer0-0/peer"]["cpu_avg"] > 1 and usage["peer0-0/peer"]["rss_max_mib"] > 10, usage
    assert any(name.startswith("cc-basic-") for name in usage) and "bench client" in usage, sorted(usage)


# The seed's components as `logs`, `top` and the console name them on Kubernetes, as locally.
SEED_COMPONENTS = ["zookeeper-0", "zookeeper-1", "zookeeper-2", "kafka-0", "kafka-1", "kafka-2", "orderer0",
                   "peer0.org1", "peer1.org1", "chaincode-mycc", "chaincode-basic"]  # fmt: skip


def top_and_console_in_pods(cluster, home, tmp_path):
    """`fabkube top` and `fabkube console` on the seed in pods, as locally: every component running
    with CPU (from the kubelets' counters) and memory, the channel's height and committed tx/s while
    a client submits; in a browser the topology, a new transaction in the block list, the TPS chart
    moving, and a deleted broker pod red within seconds, green again once its StatefulSet has it back."""
    from fabkube.backends import open_network

    core = client.CoreV1Api(api(cluster))
    with kubeconfig(cluster):
        net = open_network(home / "networks" / "seed-k8s")
        with net.gateway("Org1") as gw, SubmitLoad(gw.contract("mychannel", "basic"), "top", workers=2) as load:
            time.sleep(3)
            start = time.monotonic()
            top = run_cli("top", "--once", "--interval", "2", "--network", "seed-k8s", home=home, timeout=120)
            took = time.monotonic() - start
        shown = top.stdout
        print(f"top --once in pods took {took:.1f}s\n{shown}{load.summary()}")
        rate = re.search(r"mychannel: height (\d+)\s+([\d.]+) tx/s committed", shown)
        assert rate and float(rate.group(2)) > 0, shown
        assert f"{len(SEED_COMPONENTS)}/{len(SEED_COMPONENTS)} running" in shown, shown
        for name in SEED_COMPONENTS:
            assert re.search(rf"^{re.escape(name)}\s+\S+\s+running\s+[\d.]+\s+\d+", shown, re.M), (name, shown)
        assert re.search(r"^peer0\.org1 .* mychannel \d+", shown, re.M), shown

        console_shows_the_network(
            home,
            net,
            SEED_COMPONENTS,
            stop=lambda: core.delete_namespaced_pod("kafka-2", "seed-kafka"),
            start=lambda: None,  # the StatefulSet's controller makes the pod again
            picture=tmp_path / "console-k8s.png",
            console_args=("--network", "seed-k8s"),
            red_within=15,
            back_within=240,
        )


def monitors_applied(cluster) -> list[dict]:
    """The seed's PodMonitors as the API server holds them, and its dashboard ConfigMap there."""
    core, custom = client.CoreV1Api(api(cluster)), client.CustomObjectsApi(api(cluster))
    monitors = custom.list_cluster_custom_object(
        "monitoring.coreos.com", "v1", "podmonitors", label_selector="app.kubernetes.io/part-of=seed"
    )["items"]
    assert sorted(m["metadata"]["name"] for m in monitors) == [
        "seed-chaincode-org1",
        "seed-kafka",
        "seed-orderers-ordererorg",
        "seed-peers-org1",
        "seed-zookeeper",
    ], monitors
    assert {m["metadata"]["labels"]["release"] for m in monitors} == {"kube-prometheus-stack"}
    board = core.read_namespaced_config_map("seed-dashboard", "seed-ordererorg")
    assert board.metadata.labels["grafana_dashboard"] == "1" and len(board.data) == 1
    return monitors


def scraped_as_the_monitors_say(cluster, prometheus):
    """Every target up, over TLS where the node serves it, and exactly the pods and ports meant:
    each running Fabric node, chaincode server, ZooKeeper node and broker of the seed once, on its
    container port named operations or metrics; no Job pod."""
    core = client.CoreV1Api(api(cluster))
    targets = prometheus.wait_all_up(timeout=120)
    want = {}
    for p in core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items:
        kind = p.metadata.labels["app.kubernetes.io/component"]
        if p.status.phase != "Running" or p.metadata.deletion_timestamp or kind not in MONITORED_KINDS:
            continue
        (port,) = [cp for c in p.spec.containers for cp in c.ports or [] if cp.name in ("operations", "metrics")]
        scheme = "https" if port.name == "operations" else "http"
        want[(p.metadata.namespace, p.metadata.name)] = (
            kind,
            f"{scheme}://{p.status.pod_ip}:{port.container_port}/metrics",
        )
    got = {}
    for t in targets:
        labels = t["labels"]
        assert labels["network"] == "seed" and labels["org"] in ("OrdererOrg", "Org1"), labels
        got[(labels["namespace"], labels["pod"])] = (labels["kind"], t["scrapeUrl"])
    assert got == want
    assert len(got) == 11  # orderer0, two peers, two chaincode servers, three ZooKeeper nodes, three brokers


def shared_cluster_checks(cluster, home):
    """The seed on a shared cluster: Pod Security "restricted" is enforced on its namespaces (the
    API server's admission refuses a privileged pod there; every pod of the seed was admitted and
    runs), kube-router enforces its NetworkPolicies (a pod of another namespace reaches the peer's
    and orderer's gRPC ports, and nothing else: not ZooKeeper, Kafka, the orderer's admin port or
    any operations port), and an operations endpoint answers /healthz to anyone but /logspec only
    to a client certificate of the org."""
    from fabkube.backends.k8s.portforward import port_forward
    from fabkube.health import client_tls, operations_get

    core = client.CoreV1Api(api(cluster))
    image = "docker.io/hyperledger/fabric-tools:2.5.9"
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "c", "image": image, "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(client.exceptions.ApiException) as refused:
        core.create_namespaced_pod("seed-org1", privileged)
    assert refused.value.status == 403 and "violates PodSecurity" in refused.value.body, refused.value.body

    svc = "svc.cluster.local"
    (basic,) = [p for p in core.list_namespaced_pod("seed-org1").items if p.metadata.name.startswith("cc-basic-")]
    allowed = [f"peer0.seed-org1.{svc}:7051", f"orderer0.seed-ordererorg.{svc}:7050"]
    denied = [
        f"zookeeper.seed-kafka.{svc}:2181",
        f"kafka-0.kafka-headless.seed-kafka.{svc}:9092",
        f"orderer0.seed-ordererorg.{svc}:7053",  # admin: channel participation
        f"orderer0.seed-ordererorg.{svc}:9443",  # operations
        f"peer0.seed-org1.{svc}:9444",  # operations
        f"peer0.seed-org1.{svc}:7052",  # chaincode listener
        f"zookeeper-0.zookeeper-headless.seed-kafka.{svc}:7000",  # metrics: to operationsFrom only
        f"kafka-0.kafka-headless.seed-kafka.{svc}:7071",
        f"{basic.status.pod_ip}:9180",  # the chaincode runtime's metrics
    ]
    core.create_namespace({"metadata": {"name": "stranger"}})
    try:
        pod = {
            "metadata": {"name": "probe"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "probe",
                        "image": image,
                        "command": ["bash", "-c", STRANGER_PROBE, "probe", *allowed, *denied],
                    }
                ],
            },
        }
        core.create_namespaced_pod("stranger", pod)
        deadline = time.monotonic() + 120
        while core.read_namespaced_pod("probe", "stranger").status.phase not in ("Succeeded", "Failed"):
            assert time.monotonic() < deadline, "the probe pod did not finish"
            time.sleep(2)
        seen = core.read_namespaced_pod_log("probe", "stranger")
    finally:
        core.delete_namespace("stranger")
    assert sorted(seen.split("\n")[:-1]) == sorted(
        [*(f"open {t}" for t in allowed), *(f"closed {t}" for t in denied)]
    ), seen

    from fabkube.backends import open_network

    net = open_network(home / "networks" / "seed-k8s")
    peer0 = net.topo.peers[0]
    pod = core.list_namespaced_pod("seed-org1", label_selector="statefulset.kubernetes.io/pod-name=peer0-0").items[0]
    crypto = net.layout
    tls = crypto.admin_tls(peer0.org)
    admin = client_tls(str(crypto.tls_ca(peer0.org)), str(tls / "client.crt"), str(tls / "client.key"))
    anonymous = ssl.create_default_context(cafile=str(crypto.tls_ca(peer0.org)))
    with port_forward(core, "seed-org1", pod.metadata.name, peer0.operations.port) as here:
        from fabkube.nodes import Endpoint

        host, port = here.rsplit(":", 1)
        ep = Endpoint(host, int(port))
        assert operations_get(ep, "/healthz", anonymous) is not None
        assert operations_get(ep, "/logspec", anonymous) is None  # 401 without a client certificate
        assert '"spec"' in (operations_get(ep, "/logspec", admin) or "")
        assert operations_get(ep, "/healthz", None) is None  # no plain HTTP at all


def migrate_in_pods(cluster, home, spec):
    """Kafka to Raft in real pods, live: a client submits through the whole `migrate --to raft`
    (over a port-forward to the peer); what it saw committed is on both peers, what was written
    before reads the same, new transactions commit, and Kafka's and ZooKeeper's StatefulSets are
    gone while their volumes stay."""
    from fabkube.backends import open_network

    before = cli(cluster, "query", "mycc", "query", "a", "--network", "seed-k8s", home=home).stdout.strip()
    with kubeconfig(cluster):
        net = open_network(home / "networks" / "seed-k8s")
        with net.gateway("Org1") as gw, SubmitLoad(gw.contract("mychannel", "basic"), "k8smig", 4, 30) as load:
            time.sleep(3)
            start = time.monotonic()
            migrate = cli(cluster, "migrate", "--to", "raft", "--network", "seed-k8s", home=home)
            end = time.monotonic()
            at_end = load.count()
            # The peer's Gateway dials the restarted orderer again after its gRPC backoff (seconds to tens).
            deadline = end + 90
            while load.count() <= at_end + 5 and time.monotonic() < deadline:
                time.sleep(1)
            resumed = time.monotonic() - end
            assert load.count() > at_end + 5, f"nothing commits after the migration: {load.summary()}"
        print(f"migrate in real pods: {end - start:.0f}s; commits again {resumed:.0f}s after it returned; "
              f"longest stretch without a commit {load.longest_gap(start, time.monotonic()):.1f}s; "
              f"{load.summary()}\n{migrate.stdout}")  # fmt: skip
        assert all(f"✓ {n}/7 " in migrate.stderr for n in range(1, 8)), migrate.stderr
        for peer in ("peer0.org1", "peer1.org1"):
            with net.gateway("Org1", peer) as pgw:
                missing = load.missing_on(pgw.contract("mychannel", "basic"))
            assert not missing, f"reported committed but not on {peer}: {missing[:10]}"
    assert cli(cluster, "query", "mycc", "query", "a", "--network", "seed-k8s", home=home).stdout.strip() == before
    assert "committed (VALID)" in cli(cluster, "invoke", "mycc", "move", "a", "b", "1", "--network", "seed-k8s",
                                      home=home).stdout  # fmt: skip
    apps = client.AppsV1Api(api(cluster))
    assert [s.metadata.name for s in apps.list_namespaced_stateful_set("seed-kafka").items] == []
    core = client.CoreV1Api(api(cluster))
    claims = {c.metadata.name for c in core.list_namespaced_persistent_volume_claim("seed-kafka").items}
    assert {"data-kafka-0", "data-zookeeper-0"} <= claims, claims
    assert any(c.startswith("backup-") for c in claims), claims
    status = json.loads(cli(cluster, "status", "--network", "seed-k8s", "--json", home=home).stdout)
    assert status["orderers"]["orderer0"]["mychannel"]["leader"] is True, status["orderers"]
    raft = spec.with_name("seed-basic-raft.yaml")
    raft.write_text(spec.read_text().replace("type: kafka", "type: raft"))
    again = cli(cluster, "up", str(raft), "--target", "k8s", home=home).stderr.replace("\n", " ")
    assert "lifecycle Job" in again, again

    # One consenter tolerates no fault: two more, added by `up` one at a time through port-forwards.
    grown = spec.with_name("seed-basic-raft3.yaml")
    grown.write_text(raft.read_text().replace("  orderers: 1\n", "  orderers: 3\n"))
    plan = cli(cluster, "plan", str(grown), "--target", "k8s", home=home).stdout
    assert "add orderer orderer1 (OrdererOrg) as a consenter of every channel" in plan, plan
    start = time.monotonic()
    up3 = cli(cluster, "up", str(grown), "--target", "k8s", home=home).stderr.replace("\n", " ")
    print(f"2 consenters added in real pods in {time.monotonic() - start:.0f}s")
    assert "orderer1 on mychannel, orderer2 on mychannel" in up3, up3
    status = json.loads(cli(cluster, "status", "--network", "seed-k8s", "--json", home=home).stdout)["orderers"]
    assert sorted(status) == ["orderer0", "orderer1", "orderer2"], status
    assert all(by["mychannel"]["status"] == "active" for by in status.values()), status
    assert "committed (VALID)" in cli(cluster, "invoke", "mycc", "move", "a", "b", "1", "--network", "seed-k8s",
                                      home=home).stdout  # fmt: skip


def _gone(core, timeout=120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=seed").items:
            return True
        time.sleep(2)
    return False


def test_every_language_in_real_pods(cluster, home, tmp_path):
    """Each language's image from `fabkube chaincode dockerfile` (built by following its recipe),
    served in a real pod with TLS: 2,000 submits at 50 in flight, none failed, all on the ledger."""
    dirs = chaincode_dirs(tmp_path)
    spec = tmp_path / "langs.yaml"
    resources = "resources: {chaincode: {requests: {cpu: 25m, memory: 64Mi}, limits: {cpu: '1', memory: 256Mi}}}\n"
    spec.write_text(spec_text("langs-k8s", True, 18600, dirs) + resources)
    assert len(cluster.load_chaincode_images(spec)) == len(LANGUAGES)
    cli(cluster, "up", str(spec), "--target", "k8s", home=home)
    try:
        for chaincode in LANGUAGES:
            bench = cli(
                cluster, "bench", "--chaincode", chaincode, "--tx", str(SUBMITS), "--backlog", str(IN_FLIGHT),
                "--warmup", "0", "--json", home=home,
            )  # fmt: skip
            report = json.loads(bench.stdout)
            print(f"{chaincode} in pods: {report['throughput']:.0f} TPS, p99 {report['p99']:.2f} s")
            assert (report["succ"], report["fail"]) == (SUBMITS, 0), report["failures"]
            assets = json.loads(cli(cluster, "query", chaincode, "GetAllAssets", home=home).stdout)
            assert len([a for a in assets if a["ID"].startswith("bench-")]) == SUBMITS
    finally:
        cli(cluster, "down", "--network", "langs-k8s", "--purge", home=home, check=False)


def test_raft_in_real_pods_survives_its_leader_renews_and_moves_to_fabric3_bft(cluster, home, tmp_path):
    """examples/raft.yaml (four consenters) on real pods: the Job joins every orderer with osnadmin
    and queries 100; `status` names the leader; deleting the leader's pod under load elects another,
    and every transaction the client saw committed is on the ledger. Then, each under load: `certs
    renew --all`, `upgrade --fabric 3.1.1`, `migrate --to bft`."""
    from fabkube.backends import open_network

    core = client.CoreV1Api(api(cluster))
    spec = tmp_path / "raft.yaml"
    text = (EXAMPLES / "raft.yaml").read_text().replace("batchTimeout: 2s, maxMessageCount: 10", "batchTimeout: 250ms")
    text = text.replace("orderers: 3,", "orderers: 4,")  # BFT, at the end, needs four
    spec.write_text(
        text.replace(
            "chaincodes:\n",
            "chaincodes:\n  - {name: basic, path: 'builtin:asset-transfer-basic-go', channel: mychannel}\n",
        )
    )
    cluster.load_chaincode_images(spec)
    start = time.monotonic()
    up = cli(cluster, "up", str(spec), "--target", "k8s", home=home)
    print(f"raft up on real pods in {time.monotonic() - start:.0f}s")
    assert "orderer2 joins mychannel" in up.stderr and "lifecycle Job succeeded" in up.stderr, up.stderr
    assert "== query mycc a   100" in up.stderr.replace("\n", " "), up.stderr

    def orderers():
        return json.loads(cli(cluster, "status", "--network", "raft-k8s", "--json", home=home).stdout)["orderers"]

    def leader():
        status = cli(cluster, "status", "--network", "raft-k8s", "--json", home=home, check=False)
        if status.returncode != 0:  # e.g. while a pod is being replaced
            return None
        by_orderer = json.loads(status.stdout)["orderers"]
        found = [o for o, by in by_orderer.items() if by.get("mychannel", {}).get("leader")]
        return found[0] if len(found) == 1 else None

    first = orderers()
    assert sorted(first) == ["orderer0", "orderer1", "orderer2", "orderer3"], first
    assert len({by["mychannel"]["height"] for by in first.values()}) == 1, first
    old = leader()
    assert old, first

    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)  # the in-process client reads it
    try:
        net = open_network(home / "networks" / "raft-k8s")
        with net.gateway("Org1") as gw:
            contract = gw.contract("mychannel", "basic")
            with SubmitLoad(contract, "pod", workers=6, timeout=15) as load:
                time.sleep(10)
                before = load.count()
                core.delete_namespaced_pod(f"{old}-0", "raft-ordererorg", grace_period_seconds=0)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and leader() in (None, old):
                    time.sleep(2)
                time.sleep(20)
                after = load.count()
            print(f"leader pod {old}-0 deleted; {load.summary()}")
            assert after > before, "nothing committed after the leader's pod was deleted"
            missing = load.missing_on(contract)
            assert not missing, f"reported committed but not on the ledger: {missing[:10]}"
        renew_in_pods(cluster, home, core)
        upgrade_in_pods(cluster, home, core)
        bft_in_pods(cluster, home, core)
    finally:
        os.environ.pop("KUBECONFIG", None)
    cli(cluster, "down", "--network", "raft-k8s", "--purge", home=home)


def stage_in_pods(cluster, home, prefix: str, *argv: str, settle: float = 5):
    """`fabkube ARGV` on the Raft network in real pods while a client submits through each of
    Org1's peers (one that retries through the other peer while its own rolls, as Fabric's Gateway
    docs advise). Checks that every transaction is accounted for and each one the client saw
    committed is on both peers. Returns the command's result, the load and the seconds it took."""
    from fabkube.backends import open_network

    net = open_network(home / "networks" / "raft-k8s")
    with contextlib.ExitStack() as stack:
        contracts = [
            stack.enter_context(net.gateway("Org1", p.name)).contract("mychannel", "basic") for p in net.topo.peers
        ]
        with RetryingLoad(contracts, prefix, workers=3, timeout=15) as load:
            time.sleep(5)
            start = time.monotonic()
            done = cli(cluster, *argv, "--network", "raft-k8s", home=home)
            took = time.monotonic() - start
            time.sleep(settle)
        print(f"{' '.join(argv)} in real pods: {took:.0f}s; {load.summary()}; retries {load.retries}\n"
              f"{done.stdout}{done.stderr}")  # fmt: skip
        assert len(load.committed) + len(load.failed) == len(load.outcomes) > 0
        for contract in contracts:
            missing = load.missing_on(contract)
            assert not missing, f"reported committed but not on the ledger: {missing[:10]}"
    return done, load, took


def renew_in_pods(cluster, home, core) -> None:
    """`certs renew --all` on the Raft network in real pods while a client submits (one that
    retries through the org's other peer while its own rolls): the Secrets change, every pod rolls
    one at a time, each orderer's consenter entry gets its renewed certificate first, nothing is
    lost; the orderers then serve the renewed certificates and the peers' chaincode connections
    carry the renewed client certificate."""
    from cryptography import x509

    from fabkube.backends import open_network
    from fabkube.crypto.inventory import certificates
    from fabkube.crypto.renewal import CA_KINDS

    net = open_network(home / "networks" / "raft-k8s")

    def serials() -> dict:
        return {
            c.path: x509.load_pem_x509_certificate(c.path.read_bytes()).serial_number for c in certificates(net.layout)
        }

    before = serials()
    selector = "app.kubernetes.io/part-of=raft"
    uids = {p.metadata.name: p.metadata.uid for p in core.list_pod_for_all_namespaces(label_selector=selector).items}
    renew, load, _took = stage_in_pods(cluster, home, "renew", "certs", "renew", "--all")
    assert not load.failed, load.summary()
    assert (
        "channel config updates (orderer0 on mychannel, orderer1 on mychannel, orderer2 on mychannel, orderer3 on "
        "mychannel)" in renew.stderr.replace("\n", " ")
    )
    after = serials()
    leaves = [c.path for c in certificates(net.layout) if c.kind not in CA_KINDS]
    assert leaves and all(after[p] != before[p] for p in leaves), [p for p in leaves if after[p] == before[p]][:5]
    assert all(after[c.path] == before[c.path] for c in certificates(net.layout) if c.kind in CA_KINDS)
    pods = core.list_pod_for_all_namespaces(label_selector=selector).items
    kept = [
        p.metadata.name
        for p in pods
        if uids.get(p.metadata.name) == p.metadata.uid and "lifecycle" not in p.metadata.name
    ]
    assert not kept, f"pods not rolled: {kept}"
    # What the orderers serve now is the renewed certificate in the work dir.
    with net.orderer_reach() as reach:
        for r, node in zip(reach, net.topo.orderers, strict=True):
            served = x509.load_pem_x509_certificate(
                ssl.get_server_certificate((r.address.host, r.address.port)).encode()
            )
            on_disk = x509.load_pem_x509_certificate((net.layout.node_tls(node) / "server.crt").read_bytes())
            assert served.serial_number == on_disk.serial_number, node.name
    for p in (p for p in pods if p.metadata.labels.get("app.kubernetes.io/component") == "peer"):
        log = core.read_namespaced_pod_log(p.metadata.name, p.metadata.namespace, container="connections")
        assert "connection.json of basic_1.0-" in log and ": current" in log, log
    again = cli(cluster, "certs", "renew", "--network", "raft-k8s", home=home)
    assert "0 certificates renewed, 0 components restarted" in again.stderr, again.stderr


def upgrade_in_pods(cluster, home, core) -> None:
    """`upgrade --fabric 3.1.1` on the Raft network in real pods while a client submits through both
    peers: the orderers, then the peers, roll one at a time onto Fabric 3.1.1's images, each node's
    volume copied by a Job first; the channel ends at V3_0 and nothing the client saw committed is
    lost; a second run has nothing to do."""
    from fabkube.backends import open_network

    upgrade, load, _took = stage_in_pods(cluster, home, "upgrade", "upgrade", "--fabric", "3.1.1")
    assert not load.failed, load.summary()
    net = open_network(home / "networks" / "raft-k8s")
    assert "runs Fabric 3.1.1" in upgrade.stdout, upgrade.stdout
    status = json.loads(cli(cluster, "status", "--network", "raft-k8s", "--json", home=home).stdout)
    fabric = {c["name"]: c.get("fabric") for c in status["components"] if c["kind"] in ("orderer", "peer")}
    assert set(fabric.values()) == {"3.1.1"} and len(fabric) == 6, fabric
    assert status["channels"]["mychannel"]["capabilities"]["channel"] == ["V3_0"], status["channels"]
    pods = core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/part-of=raft").items
    images = {c.image for p in pods for c in p.spec.containers if c.image.split(":")[0].endswith(("-orderer", "-peer"))}
    assert images and all(i.endswith(":3.1.1") for i in images), images
    kept = net.layout.root / "backups" / "upgrade-to-3.1.1"
    assert sorted(d.name for d in kept.iterdir()) == sorted(n.name for n in [*net.topo.orderers, *net.topo.peers])
    assert all("data-" in (d / "volumes.txt").read_text() for d in kept.iterdir())
    moved = cli(cluster, "invoke", "mycc", "move", "a", "b", "5", "--network", "raft-k8s", home=home)
    assert "committed (VALID)" in moved.stdout, moved.stdout + moved.stderr
    again = cli(cluster, "upgrade", "--fabric", "3.1.1", "--network", "raft-k8s", home=home)
    assert "already runs Fabric 3.1.1: nothing to do" in again.stdout, again.stdout + again.stderr


def bft_in_pods(cluster, home, core) -> None:
    """`migrate --to bft` on the upgraded network in real pods while a client submits: seven phases;
    every transaction the client sent is accounted for and each one it saw committed is on both
    peers; the channel runs BFT with one leader, the peers' pods came back with BFT's block
    deliverer, and new transactions commit."""
    from fabkube.backends import open_network

    moved, _load, _took = stage_in_pods(cluster, home, "tobft", "migrate", "--to", "bft", settle=10)
    assert all(f"✓ {n}/7 " in moved.stderr for n in range(1, 8)), moved.stderr
    net = open_network(home / "networks" / "raft-k8s")
    status = json.loads(cli(cluster, "status", "--network", "raft-k8s", "--json", home=home).stdout)
    assert status["channels"]["mychannel"]["type"] == "BFT", status["channels"]
    leading = [o for o, by in status["orderers"].items() if by["mychannel"]["leader"]]
    assert len(leading) == 1, status["orderers"]
    for p in net.topo.peers:
        ns, pod = net._pod_name(p.name)
        log = core.read_namespaced_pod_log(pod, ns, container="peer")
        assert "Creating a BFT (byzantine fault tolerant) BlockDeliverer" in log, (p.name, log[-3000:])
    invoked = cli(cluster, "invoke", "mycc", "move", "a", "b", "5", "--network", "raft-k8s", home=home)
    assert "committed (VALID)" in invoked.stdout, invoked.stdout + invoked.stderr
    again = cli(cluster, "migrate", "--to", "bft", "--network", "raft-k8s", home=home)
    assert "already runs BFT: nothing to do" in again.stdout, again.stdout + again.stderr


def test_bft_on_fabric_3_in_real_pods_loses_nothing_when_its_leader_is_killed(cluster, home, tmp_path):
    """examples/bft.yaml on real pods (Fabric 3.1.1's images; the Jobs on fabric-tools 2.5.9, as
    upstream publishes no 3.x tools image): four SmartBFT orderers reach 100; the leader's pod
    deleted under load, another leads and every transaction is accounted for, on both peers."""
    from fabkube.backends import open_network

    core = client.CoreV1Api(api(cluster))
    spec = tmp_path / "bft.yaml"
    basic = "  - {name: basic, path: 'builtin:asset-transfer-basic-go', channel: mychannel}\n"
    spec.write_text((EXAMPLES / "bft.yaml").read_text().replace("chaincodes:\n", "chaincodes:\n" + basic))
    cluster.load_chaincode_images(spec)
    start = time.monotonic()
    up = cli(cluster, "up", str(spec), "--target", "k8s", home=home)
    print(f"bft up on real pods in {time.monotonic() - start:.0f}s")
    try:
        assert "orderer3 joins mychannel" in up.stderr and "lifecycle Job succeeded" in up.stderr, up.stderr
        assert "== query mycc a   100" in up.stderr.replace("\n", " "), up.stderr

        def status() -> dict:
            return json.loads(cli(cluster, "status", "--network", "bft-k8s", "--json", home=home).stdout)

        def leader() -> str | None:
            done = cli(cluster, "status", "--network", "bft-k8s", "--json", home=home, check=False)
            if done.returncode != 0:
                return None
            by_orderer = json.loads(done.stdout)["orderers"]
            found = [o for o, by in by_orderer.items() if by.get("mychannel", {}).get("leader")]
            return found[0] if len(found) == 1 else None

        first = status()
        assert sorted(first["orderers"]) == ["orderer0", "orderer1", "orderer2", "orderer3"], first["orderers"]
        assert len({by["mychannel"]["height"] for by in first["orderers"].values()}) == 1, first["orderers"]
        fabric = {c.get("fabric") for c in first["components"] if c["kind"] in ("orderer", "peer")}
        assert fabric == {"3.1.1"}, first["components"]
        assert first["channels"]["mychannel"]["capabilities"]["channel"] == ["V3_0"], first["channels"]
        old = leader()
        assert old, first["orderers"]

        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)  # the in-process client reads it
        try:
            net = open_network(home / "networks" / "bft-k8s")
            ns, pod = net._pod_name(old)
            load, elected, before, after = kill_leader_under_load(
                net,
                lambda: core.delete_namespaced_pod(pod, ns, grace_period_seconds=0),
                "bftpod",
                lambda: leader() not in (None, old),
                "another BFT leader",
                elect_timeout=120,
                settle=15,
                workers=4,
                timeout=30,
            )
            print(f"BFT leader's pod {ns}/{pod} deleted: another leads after {elected:.1f}s; {load.summary()}")
            assert after > before, "nothing committed after the leader's pod was deleted"
            assert len(load.committed) + len(load.failed) == len(load.outcomes) > 0
            assert_on_every_peer(net, load)
        finally:
            os.environ.pop("KUBECONFIG", None)
    finally:
        cli(cluster, "down", "--network", "bft-k8s", "--purge", home=home, check=False)


def test_seed_without_tls_in_real_pods(cluster, home, tmp_path):
    """`tls: false` on Kubernetes: the Job reaches 100, and invoke, query and bench work through the
    port-forward (the channel's MSPs carry no TLS CAs, so the Gateway dials orderers in plaintext)."""
    spec = tmp_path / "plain.yaml"
    text = (EXAMPLES / "seed.yaml").read_text().replace("name: seed", "name: plain")
    spec.write_text("tls: false\n" + text.replace("kafka: {brokers: 3, replicationFactor: 3, minInsyncReplicas: 2}",
                                                  "kafka: {brokers: 1, replicationFactor: 1, minInsyncReplicas: 1}")
                    .replace("zookeeper: {nodes: 3}", "zookeeper: {nodes: 1}"))  # fmt: skip
    cluster.load_chaincode_images(spec)
    up = cli(cluster, "up", str(spec), "--target", "k8s", home=home)
    assert "lifecycle Job succeeded" in up.stderr and "== query mycc a   100" in up.stderr.replace("\n", " ")
    try:
        inv = cli(cluster, "invoke", "mycc", "move", "a", "b", "10", "--network", "plain-k8s", home=home)
        assert "committed (VALID)" in inv.stdout, inv.stdout + inv.stderr
        assert cli(cluster, "query", "mycc", "a", "--network", "plain-k8s", home=home).stdout.strip() == "90"
    finally:
        cli(cluster, "down", "--network", "plain-k8s", "--purge", home=home, check=False)
