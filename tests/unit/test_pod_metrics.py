# ruff: noqa: E501  (metric lines exactly as the kubelet served them)
"""Parsing the kubelet's /metrics/resource (lines as a v1.36.3 kubelet of the test cluster served them)."""

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
