"""What `render` writes for a shared cluster: every pod passes Pod Security "restricted" (the rules
of the standard, checked here as the API server's admission checks them; the real-pods tests prove
the admission itself), namespaces enforce it, NetworkPolicies open only the network's own flows,
and operations endpoints serve TLS with their probes on HTTPS."""

import pytest
from conftest import EXAMPLES

from fabkube.backends.k8s.render import render
from fabkube.spec import load_spec, parse_spec

RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@pytest.fixture(scope="module", params=["seed", "ha"])
def objects(request, tools, tmp_path_factory):
    out = render(load_spec(EXAMPLES / f"{request.param}.yaml"), tmp_path_factory.mktemp(request.param), tools)
    return [o for objs in out.files.values() for o in objs]


def restricted_violations(pod: dict) -> list[str]:
    """Pod Security Standards, restricted profile (kubernetes.io/docs/concepts/security/pod-security-standards)."""
    bad = []
    psc = pod.get("securityContext", {})
    for v in pod.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            bad.append(f"volume {v['name']}: {kinds}")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            bad.append(key)
    for c in [*pod.get("initContainers", []), *pod["containers"]]:
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            bad.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{name}: allowPrivilegeEscalation not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or set(sc.get("capabilities", {}).get("add", [])) - {
            "NET_BIND_SERVICE"
        }:
            bad.append(f"{name}: capabilities not drop ALL")
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
            bad.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            bad.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{name}: seccompProfile {seccomp}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            bad.append(f"{name}: hostPort")
    return bad


def pod_specs(objects):
    return [
        (f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("StatefulSet", "Deployment", "Job")
    ]


def test_every_pod_is_restricted_and_every_namespace_enforces_it(objects):
    pods = pod_specs(objects)
    assert len(pods) >= 5
    for where, pod in pods:
        assert restricted_violations(pod) == [], where
        assert pod["automountServiceAccountToken"] is False, where
        # One user for the network's volumes; the user's chaincode image runs as nobody.
        assert pod["securityContext"]["runAsUser"] == (65534 if where.startswith("Deployment") else 1000), where
        for c in pod["containers"]:
            ro = c["securityContext"]["readOnlyRootFilesystem"]
            assert ro is (not where.startswith("Deployment")), where  # a user image may write where it likes
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], where
        for v in pod["volumes"]:
            if "secret" in v:
                assert v["secret"]["defaultMode"] == 0o440, (where, v["name"])  # group-readable to the pod's user
    for ns in (o for o in objects if o["kind"] == "Namespace"):
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", ns["metadata"]["name"]
        assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_network_policies_open_only_the_networks_flows(objects):
    policies = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"] for o in objects if o["kind"] == "NetworkPolicy"
    }
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    name = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["labels"]["app.kubernetes.io/part-of"]
    for ns in namespaces:
        deny = policies[(ns, f"{name}-default-deny")]
        assert deny == {
            "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": name}},
            "policyTypes": ["Ingress"],
        }  # Ingress with no rule: nothing admitted

    def rules(ns, policy):
        return [([p["port"] for p in r["ports"]], r.get("from")) for r in policies[(ns, f"{name}-{policy}")]["ingress"]]

    kafka_ns = f"{name}-kafka"
    orderer_ns = f"{name}-ordererorg"
    kafka = rules(kafka_ns, "kafka")
    assert len(kafka) == 1 and kafka[0][1] is not None  # never open to all
    callers = {
        (
            f.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name"),
            f["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        )
        for f in kafka[0][1]
    }
    assert callers == {(orderer_ns, "orderer"), (kafka_ns, "kafka")}
    zk = rules(kafka_ns, "zookeeper")
    assert [f["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for f in zk[0][1]] == ["kafka"]
    assert [f["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for f in zk[1][1]] == ["zookeeper"]
    orderers = rules(orderer_ns, "orderers")
    assert orderers[0] == ([7050], None)  # clients and peers from anywhere
    admins = {
        (
            f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            f["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        )
        for f in orderers[1][1]
    }
    assert admins == {(ns, "tools") for ns in namespaces if ns != kafka_ns}  # every org's lifecycle Job
    assert len(orderers) == 2  # no operations port: kubernetes.operationsFrom is empty


def test_operations_ports_open_to_the_named_namespaces_only(tools, tmp_path):
    text = (EXAMPLES / "seed.yaml").read_text().replace("kubernetes:", "kubernetes:\n  operationsFrom: [monitoring]")
    out = render(parse_spec(text), tmp_path, tools)
    peers = next(o for o in out.files["network-policies.yaml"] if o["metadata"]["name"] == "seed-peers")
    assert len(peers["spec"]["ingress"]) == 2  # gRPC from anyone, operations from monitoring
    assert peers["spec"]["ingress"][1]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    off = render(
        parse_spec(text.replace("kubernetes:", "kubernetes:\n  networkPolicies: false")), tmp_path / "off", tools
    )
    assert off.files["network-policies.yaml"] == []


def test_operations_endpoints_serve_tls_and_probes_use_https(objects):
    for o in objects:
        if o["kind"] != "StatefulSet" or o["metadata"]["labels"]["app.kubernetes.io/component"] not in (
            "peer",
            "orderer",
        ):
            continue
        c = o["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in c["env"]}
        prefix = "CORE" if "CORE_PEER_ID" in env else "ORDERER"
        assert env[f"{prefix}_OPERATIONS_TLS_ENABLED"] == "true"
        assert env[f"{prefix}_OPERATIONS_TLS_CLIENTAUTHREQUIRED"] == "false"  # /healthz for probes, not /logspec
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if "httpGet" in c[probe]:
                assert c[probe]["httpGet"]["scheme"] == "HTTPS"
                assert c[probe]["httpGet"]["path"] == "/healthz"


def test_each_org_lifecycle_job_holds_only_its_own_keys(tools, tmp_path):
    """One lifecycle Job per signing org, in its namespace; its Secret has no other org's private key."""
    out = render(load_spec(EXAMPLES / "ha.yaml"), tmp_path, tools)
    objs = out.files["lifecycle.yaml"]
    secrets = {o["metadata"]["namespace"]: o for o in objs if o["kind"] == "Secret"}
    jobs = [o["metadata"]["namespace"] for o in objs if o["kind"] == "Job"]
    assert sorted(jobs) == sorted(secrets) and len(jobs) >= 2
    for ns, secret in secrets.items():
        org_domain = ns.split("-", 1)[1]  # ha-org1 -> org1
        private = [k for k in secret["data"] if k.endswith(("_sk", ".key", "priv_sk")) or "keystore" in k]
        assert private, ns
        foreign = [k for k in private if f"{org_domain}." not in k.lower()]
        assert foreign == [], (ns, foreign)
