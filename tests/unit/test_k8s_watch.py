"""What `top` and the console see of pods: states and reasons from pod status as the API server
serializes it, CPU as a rate between the kubelet's own timestamps, memory per pod. The cluster is
faked at its boundary (pod lists, the kubelet's text); the real thing is test_seed_in_real_pods."""

from __future__ import annotations

import json
from types import SimpleNamespace

from fabkube.backends.k8s.network import Placed
from fabkube.backends.k8s.watch import CpuRates, K8sWatch, matches, newest, serving, why_not_running
from fabkube.monitoring.live import LiveSampler, view


def pod(name, *, ready=True, phase="Running", labels=None, deleting=False, created="2026-12-01T00:00:00Z",
        node="node-a", containers=None):  # fmt: skip
    meta = {"name": name, "labels": labels or {}, "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:01:00Z"
    statuses = containers if containers is not None else [{"name": "main", "ready": ready, "state": {"running": {}}}]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase, "containerStatuses": statuses}}


def test_selectors_match_every_pair():
    labels = {"app.kubernetes.io/name": "cc-mycc", "app.kubernetes.io/part-of": "seed"}
    assert matches(labels, "app.kubernetes.io/name=cc-mycc")
    assert matches(labels, "app.kubernetes.io/name=cc-mycc,app.kubernetes.io/part-of=seed")
    assert not matches(labels, "app.kubernetes.io/name=cc-mycc,app.kubernetes.io/part-of=other")
    assert not matches(labels, "statefulset.kubernetes.io/pod-name=kafka-0")


def test_a_pod_serves_only_running_ready_and_not_deleted():
    assert serving(pod("a"))
    assert not serving(pod("a", ready=False))
    assert not serving(pod("a", deleting=True))
    assert not serving(pod("a", phase="Pending", containers=[]))
    assert not serving(None)


def test_reasons_say_what_the_pod_status_says():
    assert why_not_running(None) == "no pod"
    assert why_not_running(pod("a", deleting=True)) == "pod deleted, terminating"
    back_off = {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
    crash = {"name": "main", "ready": False, "restartCount": 3, "state": {"waiting": back_off},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}  # fmt: skip
    assert why_not_running(pod("a", containers=[crash])) == (
        "CrashLoopBackOff: back-off 40s restarting failed container; restarted 3x, last exit 1 (Error)"
    )
    pull = {"name": "main", "ready": False, "state": {"waiting": {"reason": "ErrImagePull"}}}
    assert why_not_running(pod("a", phase="Pending", containers=[pull])) == "ErrImagePull"
    done = {"name": "main", "ready": False, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    assert why_not_running(pod("a", containers=[done])) == "exited 137 (OOMKilled)"
    probing = {"name": "main", "ready": False, "state": {"running": {}}}
    assert why_not_running(pod("a", containers=[probing])) == "running, not ready yet"
    init = pod("kafka-0", phase="Pending", containers=[{"name": "kafka", "ready": False,
               "state": {"waiting": {"reason": "PodInitializing"}}}])  # fmt: skip
    init["status"]["initContainerStatuses"] = [{"name": "wait-for-zookeeper", "ready": False, "state": {"running": {}}}]
    assert why_not_running(init) == "init wait-for-zookeeper: running"
    evicted = pod("a", phase="Failed", containers=[])
    evicted["status"] |= {"reason": "Evicted", "message": "The node was low on resource: memory."}
    assert why_not_running(evicted) == "Failed: Evicted: The node was low on resource: memory."
    lost = pod("a")  # a node gone NotReady: containers' flags stay as they were, the pod is not Ready
    lost["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "NodeNotReady",
                                     "message": "Node hw1 is not ready"}]  # fmt: skip
    assert not serving(lost) and why_not_running(lost) == "not ready: Node hw1 is not ready"
    pending = pod("a", phase="Pending", containers=[])
    pending["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "message": "0/2 nodes are available: 2 Insufficient memory."}
    ]
    assert why_not_running(pending) == "Pending: 0/2 nodes are available: 2 Insufficient memory."


def test_the_pod_standing_for_a_component_is_not_the_one_going_away():
    old = pod("cc-mycc-1", created="2026-12-01T00:00:00Z")
    leaving = pod("cc-mycc-2", created="2026-12-01T00:05:00Z", deleting=True)
    new = pod("cc-mycc-3", created="2026-12-01T00:03:00Z")
    assert newest([old, leaving, new])["metadata"]["name"] == "cc-mycc-3"
    assert newest([leaving])["metadata"]["name"] == "cc-mycc-2"
    assert newest([]) is None


def test_cpu_is_a_rate_between_the_kubelets_distinct_points():
    rates = CpuRates()
    rates.add("ns/p", 100.0, 5.0)
    assert rates.percent("ns/p") is None  # one point: no rate yet
    rates.add("ns/p", 100.0, 5.0)  # the same point again, read 2 s later: still none
    assert rates.percent("ns/p") is None
    rates.add("ns/p", 110.0, 7.5)
    assert rates.percent("ns/p") == 25.0
    rates.add("ns/p", 120.0, 1.0)  # restarted: the counter starts again, no rate across it
    assert rates.percent("ns/p") is None
    rates.add("ns/p", 130.0, 3.0)
    assert rates.percent("ns/p") == 20.0


def kubelet(points: dict[tuple[str, str], tuple[float, float]], stamp_ms: int) -> str:
    """The kubelet's /metrics/resource text for (namespace, pod) -> (cpu s, bytes): its pod-level
    series, and container-level ones the watch must not add in again."""
    lines = []
    for (ns, p), (cpu, mem) in points.items():
        lines.append(f'pod_cpu_usage_seconds_total{{namespace="{ns}",pod="{p}"}} {cpu} {stamp_ms}')
        lines.append(f'pod_memory_working_set_bytes{{namespace="{ns}",pod="{p}"}} {mem} {stamp_ms}')
        labels = f'container="main",namespace="{ns}",pod="{p}"'
        lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {cpu} {stamp_ms - 3000}")
        lines.append(f"container_memory_working_set_bytes{{{labels}}} {mem} {stamp_ms - 3000}")
    return "# HELP pod_cpu_usage_seconds_total ...\n" + "\n".join(lines) + "\n"


class FakeCluster:
    def __init__(self):
        self.pods_by_ns: dict[str, list[dict]] = {}
        self.text = ""
        self.logs: dict[str, str] = {}
        self.log_reads: list[tuple[str, bool]] = []
        self.core = SimpleNamespace(connect_get_node_proxy_with_path=lambda node, path, **kw: self.text)

    def pods(self, namespace, selector, timeout=None):
        return [p for p in self.pods_by_ns.get(namespace, []) if matches(p["metadata"]["labels"], selector)]

    def pod_log(self, namespace, name, tail=None, previous=False, timeout=None):
        self.log_reads.append((name, previous))
        return self.logs.get(name, "") if previous else ""


def fake_net(cluster):
    placed = [
        Placed("kafka-0", "kafka", "seed", "statefulset.kubernetes.io/pod-name=kafka-0"),
        Placed("kafka-1", "kafka", "seed", "statefulset.kubernetes.io/pod-name=kafka-1"),
        Placed("chaincode-mycc", "chaincode", "org1", "app.kubernetes.io/name=cc-mycc"),
        Placed("chaincode-mycc.org2", "chaincode", "org2", "app.kubernetes.io/name=cc-mycc"),
    ]
    topo = SimpleNamespace(orderers=[], peers=[])
    net = SimpleNamespace(name="seed", cluster=cluster, placed=lambda: placed, topo=topo, layout=None)
    net.watch = lambda: K8sWatch(net)
    return net


def test_a_look_at_the_pods_gives_states_reasons_cpu_and_memory():
    cluster = FakeCluster()
    part = {"app.kubernetes.io/part-of": "seed"}
    crash = {"name": "kafka", "ready": False, "restartCount": 2,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}  # fmt: skip
    cluster.pods_by_ns = {
        "seed": [
            pod("kafka-0", labels={**part, "statefulset.kubernetes.io/pod-name": "kafka-0"}),
            pod("kafka-1", labels={**part, "statefulset.kubernetes.io/pod-name": "kafka-1"}, containers=[crash]),
            pod("kafka-2", labels={**part, "statefulset.kubernetes.io/pod-name": "kafka-2"}),  # not the network's
        ],
        "org1": [pod("cc-mycc-abc", labels={**part, "app.kubernetes.io/name": "cc-mycc"})],
        "org2": [],
    }
    cluster.logs["kafka-1"] = "starting\nERROR Exiting Kafka due to fatal exception\n\n"
    net = fake_net(cluster)
    watch = net.watch()
    points = {("seed", "kafka-0"): (10.0, 300e6), ("org1", "cc-mycc-abc"): (1.0, 25e6),
              ("other", "cc-mycc-abc"): (50.0, 1e9)}  # fmt: skip
    cluster.text = kubelet(points, 1_000_000)
    first = {o.name: o for o in watch.observe()}
    assert first["kafka-0"].running and first["kafka-0"].cpu_percent is None  # one kubelet point so far
    assert first["kafka-0"].memory_bytes == 300e6
    assert first["chaincode-mycc"].memory_bytes == 25e6  # not another namespace's pod of the same name
    assert not first["kafka-1"].running
    assert first["kafka-1"].reason == (
        "CrashLoopBackOff; restarted 2x, last exit 1 (Error): ERROR Exiting Kafka due to fatal exception"
    )
    assert first["chaincode-mycc.org2"].reason == "no pod"
    assert first["kafka-1"].cpu_percent is None and first["kafka-1"].memory_bytes is None

    assert cluster.log_reads == [("kafka-1", True)]
    watch.observe()
    assert cluster.log_reads == [("kafka-1", True)], "the last words of a restart are read once"

    points[("seed", "kafka-0")] = (12.0, 310e6)
    points[("org1", "cc-mycc-abc")] = (1.5, 20e6)
    cluster.text = kubelet(points, 1_010_000)  # ten seconds later, by the kubelet's clock
    second = {o.name: o for o in watch.observe()}
    assert second["kafka-0"].cpu_percent == 20.0
    assert second["chaincode-mycc"].cpu_percent == 5.0

    # The sampler and the view carry the watch's own rate through, whatever the time between looks.
    sampler = LiveSampler(net)
    sampler.watch = watch
    before = sampler.sample()
    rows = {r.name: r for r in view("seed", before, sampler.sample()).rows}
    assert rows["kafka-0"].cpu_percent == 20.0 and rows["kafka-0"].memory_mib == 310e6 / 2**20
    assert rows["kafka-1"].state == "stopped" and rows["kafka-1"].reason.startswith("CrashLoopBackOff")


FORBIDDEN = (
    'nodes "node-a" is forbidden: User "viewer" cannot get resource "nodes/proxy" in API group "" at the cluster scope'
)


def refusing_cluster() -> FakeCluster:
    """One running broker; its node's kubelet metrics refused (no nodes/proxy right)."""
    cluster = FakeCluster()

    def refused(node, path, **kw):
        from kubernetes.client import ApiException

        exc = ApiException(status=403, reason="Forbidden")  # as the client raises it: the server's Status
        exc.body = json.dumps({"kind": "Status", "reason": "Forbidden", "code": 403, "message": FORBIDDEN})
        raise exc

    cluster.core = SimpleNamespace(connect_get_node_proxy_with_path=refused)
    part = {"app.kubernetes.io/part-of": "seed"}
    cluster.pods_by_ns = {"seed": [pod("kafka-0", labels={**part, "statefulset.kubernetes.io/pod-name": "kafka-0"})]}
    return cluster


def test_a_watch_without_kubelet_metrics_still_gives_states():
    watch = fake_net(refusing_cluster()).watch()
    seen = {o.name: o for o in watch.observe()}
    assert seen["kafka-0"].running and seen["kafka-0"].memory_bytes is None
    assert watch.errors == [f"resource metrics of node node-a: {FORBIDDEN}"]


def test_rates_of_pods_gone_are_forgotten():
    rates = CpuRates()
    rates.add("ns/old", 1.0, 1.0)
    rates.add("ns/old", 2.0, 2.0)
    rates.add("ns/new", 2.0, 0.5)
    rates.keep({"ns/new"})
    assert rates.percent("ns/old") is None
    rates.add("ns/old", 3.0, 0.1)  # the name again (a pod made again): no rate across the two
    assert rates.percent("ns/old") is None


def test_what_a_look_could_not_read_is_shown_not_swallowed():
    from rich.console import Console

    from fabkube.monitoring.screen import render

    sampler = LiveSampler(fake_net(refusing_cluster()))
    v = view("seed", sampler.sample(), sampler.sample())
    assert v.errors == [f"resource metrics of node node-a: {FORBIDDEN}"]
    screen = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    screen.print(render(v))
    assert 'cannot get resource "nodes/proxy"' in screen.export_text()


def test_top_once_does_not_wait_for_cpu_figures_that_cannot_come(capsys):
    """Without the nodes/proxy right no CPU figure comes: `top --once` prints after two looks that
    could not read the same things, not after the watch's 45 s for a slow kubelet."""
    from fabkube import cli

    net = fake_net(refusing_cluster())
    sampler = LiveSampler(net)
    assert sampler.watch.settle_seconds == 45.0
    looks = []
    sample = sampler.sample
    sampler.sample = lambda: looks.append(1) or sample()
    cli._top(net, sampler, 0.01, True, None)
    assert len(looks) == 2, len(looks)
    assert "nodes/proxy" in capsys.readouterr().out


def test_top_once_waits_for_cpu_figures_despite_other_lasting_errors(capsys):
    """A node whose operations endpoint cannot be read says nothing of the kubelets: `top --once`
    still waits (bounded by settle_seconds) for the CPU figures that will come."""
    from fabkube import cli

    cluster = FakeCluster()
    part = {"app.kubernetes.io/part-of": "seed"}
    cluster.pods_by_ns = {"seed": [pod("kafka-0", labels={**part, "statefulset.kubernetes.io/pod-name": "kafka-0"})]}
    cluster.text = kubelet({("seed", "kafka-0"): (1.0, 1e6)}, 1_000_000)  # one kubelet point, never a second
    net = fake_net(cluster)
    sampler = LiveSampler(net)
    sampler.watch.settle_seconds = 0.3
    observe = sampler.watch.observe

    def look():
        seen = observe()
        sampler.watch.errors.append("port-forward to peer0-org1: refused")
        return seen

    sampler.watch.observe = look
    looks = []
    sample = sampler.sample
    sampler.sample = lambda: looks.append(1) or sample()
    cli._top(net, sampler, 0.01, True, None)
    assert len(looks) > 3, len(looks)


def test_the_last_words_are_read_again_when_another_run_ended():
    """`--previous` reads the run before the current one: while a restarted container runs, the
    one that ended before it; once that one ended too, that one (same restart count)."""
    cluster = FakeCluster()
    part = {"app.kubernetes.io/part-of": "seed", "statefulset.kubernetes.io/pod-name": "kafka-0"}
    starting = {"name": "kafka", "ready": False, "restartCount": 2, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-12-01T00:01:00Z"}}}  # fmt: skip
    cluster.pods_by_ns = {"seed": [pod("kafka-0", labels=part, containers=[starting])]}
    cluster.logs["kafka-0"] = "second run's last words\n"
    watch = fake_net(cluster).watch()
    assert watch.observe()[0].reason.endswith("second run's last words")
    crashed = {**starting, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-12-01T00:02:00Z"}}}  # fmt: skip
    cluster.pods_by_ns = {"seed": [pod("kafka-0", labels=part, containers=[crashed])]}
    cluster.logs["kafka-0"] = "third run's last words\n"
    assert watch.observe()[0].reason.endswith("third run's last words")
    watch.observe()
    assert cluster.log_reads == [("kafka-0", True)] * 2
