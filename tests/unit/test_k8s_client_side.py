# ruff: noqa: E501  (metric lines exactly as the kubelet served them)
"""Client-side Kubernetes pieces: the kubelet metrics parser (lines as a v1.36.3 kubelet of the test cluster served them) and kubeconfig loading."""

from fabkube.backends.k8s.metrics import parse_resource_metrics

SAMPLE = """\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-6dcbdb97bf-tlrzs"} 0.118052973 1795675168472
container_cpu_usage_seconds_total{container="peer",namespace="seed-org1",pod="peer0-0"} 12.5 1795675168000
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-6dcbdb97bf-tlrzs"} 1.0379264e+07 1795675168472
container_memory_working_set_bytes{container="peer",namespace="seed-org1",pod="peer0-0"} 6.5e+07 1795675168000
node_cpu_usage_seconds_total 123.4 1795675168000
"""


def test_only_the_networks_namespaces_and_the_kubelets_timestamps():
    got = parse_resource_metrics(SAMPLE, {"seed-org1"})
    assert got == {"peer0-0/peer": (12.5, 6.5e7, 1795675168.0)}
    both = parse_resource_metrics(SAMPLE, {"seed-org1", "kube-system"})
    assert both["coredns-6dcbdb97bf-tlrzs/coredns"][1] == 1.0379264e7


def test_kubeconfig_env_set_after_the_client_was_imported(tmp_path, monkeypatch):
    """The kubernetes client reads KUBECONFIG once at import; a library user may set it later."""
    import kubernetes.config  # noqa: F401  (imported before KUBECONFIG is set, as in a long-lived process)
    import yaml

    from fabkube.backends.k8s.cluster import Cluster

    kc = tmp_path / "kubeconfig"
    kc.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kc))
    assert Cluster().host == "https://127.0.0.1:9"


class _FakeCore:
    """Serves prepared /metrics/resource texts, one per sample, for one node."""

    def __init__(self, texts):
        self.texts = list(texts)

    def list_node(self):
        from types import SimpleNamespace

        return SimpleNamespace(items=[SimpleNamespace(metadata=SimpleNamespace(name="hw2"))])

    def connect_get_node_proxy_with_path(self, node, path):
        assert (node, path) == ("hw2", "metrics/resource")
        return self.texts.pop(0) if len(self.texts) > 1 else self.texts[0]


def _line(cpu, stamp_ms, mem=5e7):
    labels = 'container="orderer",namespace="ha-ordererorg",pod="orderer0-0"'
    return (
        f"container_cpu_usage_seconds_total{{{labels}}} {cpu} {stamp_ms}\n"
        f"container_memory_working_set_bytes{{{labels}}} {mem} {stamp_ms}\n"
    )


def test_a_recreated_pods_counter_reset_is_not_negative_cpu():
    from fabkube.backends.k8s.metrics import PodMetricsMonitor

    # 10 s at one core, then the pod is recreated (counter back near 0), then 10 s at half a core.
    core = _FakeCore([_line(100.0, 0), _line(110.0, 10_000), _line(1.0, 20_000), _line(6.0, 30_000)])
    mon = PodMetricsMonitor(core, {"ha-ordererorg"}, interval=3600).start()  # sample 1
    mon._take()  # samples 2 and 3 as the sampling thread would take them
    mon._take()
    (usage,) = mon.stop()  # sample 4
    assert usage.name == "orderer0-0/orderer"
    assert abs(usage.cpu_avg - 100 * (10 + 1 + 5) / 30) < 1e-6 and usage.cpu_max == 100.0


def test_a_workload_is_ready_only_once_it_has_rolled_out():
    """Right after a changed template is applied the old pod is still the ready one: `certs renew`
    must wait for the new one, so ready means seen, updated and no old pod left."""
    from types import SimpleNamespace

    from fabkube.backends.k8s.cluster import Cluster

    def live(generation, **status):
        return SimpleNamespace(metadata=SimpleNamespace(generation=generation), status=status)

    cluster = Cluster.__new__(Cluster)
    cluster._resource = lambda obj: None
    sts = {"kind": "StatefulSet", "metadata": {"name": "orderer0", "namespace": "o"}, "spec": {"replicas": 1}}
    dep = {"kind": "Deployment", "metadata": {"name": "cc-basic", "namespace": "p"}, "spec": {"replicas": 1}}
    cases = [
        (sts, live(2, observedGeneration=1, readyReplicas=1, updatedReplicas=1), False),  # not seen yet
        (sts, live(2, observedGeneration=2, readyReplicas=1, updatedReplicas=0), False),  # old pod serving
        (sts, live(2, observedGeneration=2, readyReplicas=0, updatedReplicas=1), False),  # new pod starting
        (sts, live(2, observedGeneration=2, readyReplicas=1, updatedReplicas=1), True),
        (dep, live(3, observedGeneration=3, availableReplicas=1, updatedReplicas=1, replicas=2), False),
        (dep, live(3, observedGeneration=3, availableReplicas=1, updatedReplicas=1, replicas=1), True),
    ]
    for obj, state, want in cases:
        cluster._get = lambda res, meta, state=state: state
        assert cluster.workload_ready(obj)[0] is want, (obj["kind"], state)
