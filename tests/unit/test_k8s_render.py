"""Rendered Kubernetes manifests: valid for several Kubernetes versions, and safe by policy."""

import base64
import json
import subprocess

import kubernetes_validate
import pytest
from conftest import EXAMPLES

from fabkube.backends.k8s.objects import memory_mib
from fabkube.backends.k8s.render import render, write_manifests
from fabkube.spec import load_spec, parse_spec

K8S_VERSIONS = ["1.30.0", "1.33.0", "1.37.0"]


@pytest.fixture(scope="module", params=["seed", "ha"])
def rendered(request, tools, tmp_path_factory):
    loaded = load_spec(EXAMPLES / f"{request.param}.yaml")
    return loaded, render(loaded, tmp_path_factory.mktemp("k8s"), tools)


def containers(obj):
    pod = pod_spec(obj)
    return (pod.get("initContainers", []) + pod.get("containers", [])) if pod else []


def pod_spec(obj):
    if obj["kind"] in ("StatefulSet", "Deployment", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_objects_validate_against_official_schemas(rendered, version):
    _, r = rendered
    for obj in r.objects():
        kubernetes_validate.validate(obj, version, strict=True)


def test_policy_no_privilege_no_host_no_docker(rendered):
    _, r = rendered
    text = json.dumps(r.objects())
    assert "docker.sock" not in text and "hostPath" not in text and "hostNetwork" not in text
    for obj in r.objects():
        for c in containers(obj):
            assert c["securityContext"]["privileged"] is False, (obj["metadata"]["name"], c["name"])
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert set(c["resources"]["requests"]) == {"cpu", "memory"}, c["name"]
            assert set(c["resources"]["limits"]) == {"cpu", "memory"}, c["name"]


def test_non_root_images_can_read_their_secrets(rendered):
    """Kafka (uid 1000) and chaincode (nobody) images do not run as root: their Secret files are
    group-owned through fsGroup and group-readable."""
    _, r = rendered
    for obj in r.objects():
        pod = pod_spec(obj)
        if pod is None or obj["metadata"]["labels"]["app.kubernetes.io/component"] not in ("kafka", "chaincode"):
            continue
        assert pod["securityContext"]["fsGroup"] in (1000, 65534), obj["metadata"]["name"]
        for vol in pod.get("volumes", []):
            if "secret" in vol:
                assert vol["secret"]["defaultMode"] & 0o040, (obj["metadata"]["name"], vol["name"])


def test_private_keys_only_in_secrets(rendered):
    _, r = rendered
    keys_in_secrets = 0
    for obj in r.objects():
        blobs = list(obj.get("data", {}).values())
        decoded = [base64.b64decode(v) for v in obj.get("binaryData", {}).values()]
        if obj["kind"] == "Secret":
            decoded += [base64.b64decode(v) for v in blobs]
            keys_in_secrets += sum(b"PRIVATE KEY" in d for d in decoded)
        else:
            assert not any("PRIVATE KEY" in str(v) for v in blobs), obj["metadata"]["name"]
            assert not any(b"PRIVATE KEY" in d for d in decoded), obj["metadata"]["name"]
            assert "PRIVATE KEY" not in json.dumps(obj)
    assert keys_in_secrets > 0


def test_genesis_brokers_are_the_kafka_statefulset_pods(rendered, tools, tmp_path):
    _, r = rendered
    sts = next(o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "kafka")
    ns, svc = sts["metadata"]["namespace"], sts["spec"]["serviceName"]
    pods = [f"kafka-{i}.{svc}.{ns}.svc.cluster.local:9092" for i in range(sts["spec"]["replicas"])]
    headless = next(o for o in r.objects() if o["kind"] == "Service" and o["metadata"]["name"] == svc)
    assert headless["spec"]["clusterIP"] == "None" and headless["metadata"]["namespace"] == ns
    cm = next(o for o in r.objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "genesis-block")
    block = tmp_path / "genesis.block"
    block.write_bytes(base64.b64decode(cm["binaryData"]["system-genesis.block"]))
    decoded = json.loads(
        subprocess.run(
            [str(tools.bin("configtxlator")), "proto_decode", "--input", str(block), "--type", "common.Block"],
            capture_output=True,
            check=True,
        ).stdout
    )
    orderer = decoded["data"]["data"][0]["payload"]["data"]["config"]["channel_group"]["groups"]["Orderer"]
    assert orderer["values"]["KafkaBrokers"]["value"]["brokers"] == pods
    start = sts["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert f"advertised.listeners=SSL://${{HOSTNAME}}.{svc}.{ns}.svc.cluster.local:9092" in start
    props = next(o for o in r.objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kafka-config")
    assert "ssl.client.auth=required" in props["data"]["server.properties"]
    mounts = sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "tls", "mountPath": "/tls", "readOnly": True} in mounts
    assert "broker.id=${HOSTNAME##*-}" in start


def test_placement_matches_spec(rendered):
    loaded, r = rendered
    placement = loaded.spec.kubernetes.placement
    for obj in r.objects():
        kind = obj["metadata"]["labels"].get("app.kubernetes.io/component")
        pod = pod_spec(obj)
        if pod is None or kind not in ("zookeeper", "kafka", "orderer", "peer"):
            continue
        assert pod.get("nodeSelector", {}) == getattr(placement, kind).nodeSelector, obj["metadata"]["name"]
    if loaded.spec.name == "seed":
        kafka = next(o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "kafka")
        assert pod_spec(kafka)["nodeSelector"] == {"type": "hw1"}


def test_seed_requests_fit_a_2cpu_4gib_node(tools, tmp_path):
    r = render(load_spec(EXAMPLES / "seed.yaml"), tmp_path, tools)
    cpu = mem = 0
    for obj in r.objects():
        if obj["kind"] == "Job":
            continue  # runs once, after the rollout
        replicas = obj["spec"].get("replicas", 1) if pod_spec(obj) else 0
        for c in pod_spec(obj)["containers"] if pod_spec(obj) else []:
            req = c["resources"]["requests"]
            cpu += replicas * (int(req["cpu"][:-1]) if req["cpu"].endswith("m") else int(float(req["cpu"]) * 1000))
            mem += replicas * memory_mib(req["memory"])
    assert cpu <= 2000 * 0.75 and mem <= 4096 * 0.75, (cpu, mem)


def test_registry_mirror_and_tolerations(tools, tmp_path):
    text = (
        (EXAMPLES / "seed.yaml").read_text()
        + """\
  images: {registry: mirror.example.cn:5000, pullSecrets: [regcred]}
"""
    )
    text = text.replace(
        "    peer: {nodeSelector: {type: hw2}}",
        "    peer:\n      nodeSelector: {type: hw2}\n"
        "      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]",
    )
    r = render(parse_spec(text), tmp_path, tools)
    images = {c["image"] for o in r.objects() for c in containers(o)}
    assert images and all(i.startswith("mirror.example.cn:5000/") for i in images), images
    peer = next(o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "peer0")
    assert pod_spec(peer)["tolerations"] == [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod_spec(peer)["imagePullSecrets"] == [{"name": "regcred"}]


def test_manifest_files_and_kustomization(tools, tmp_path):
    r = render(load_spec(EXAMPLES / "seed.yaml"), tmp_path / "work", tools)
    files = write_manifests(r, tmp_path / "out")
    import yaml

    kust = yaml.safe_load((tmp_path / "out" / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(f.name for f in files if f.name != "kustomization.yaml")
    loaded_back = [o for f in files if f.name != "kustomization.yaml" for o in yaml.safe_load_all(f.read_text())]
    assert len(loaded_back) == len(r.objects())
    job = next(o for o in loaded_back if o["kind"] == "Job")
    script = next(o for o in loaded_back if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "lifecycle")
    steps = [line for line in script["data"]["lifecycle.sh"].splitlines() if line.startswith("echo '==")]
    assert steps[0] == "echo '== create channel mychannel'" and steps[-1] == "echo '== query mycc a'"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/hyperledger/fabric-tools:2.5.9"


def test_kafka_orderers_are_never_probed_on_healthz(rendered):
    """One GET of /healthz before a Kafka orderer's chain has connected to Kafka panics Fabric 2.5's
    orderer, so its startup, readiness and liveness probes must not touch the operations endpoint."""
    loaded, r = rendered
    orderers = [o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"].startswith("orderer")]
    assert len(orderers) == loaded.spec.ordering.orderers
    for sts in orderers:
        (container,) = pod_spec(sts)["containers"]
        probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
        assert "healthz" not in json.dumps(probes), sts["metadata"]["name"]
        grpc = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
        assert all(p["tcpSocket"]["port"] == grpc for p in probes.values())
        # Kafka may take minutes on a cold cluster: the startup probe must outlast it.
        startup = probes["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_peers_have_startup_readiness_and_liveness_probes(rendered):
    _, r = rendered
    peers = [o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"].startswith("peer")]
    assert peers
    for sts in peers:
        (container,) = pod_spec(sts)["containers"]
        for key in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[key]["httpGet"]["path"] == "/healthz"
            assert container[key]["timeoutSeconds"] >= 3


def test_manifest_files_with_secrets_are_private(tools, tmp_path):
    """Secrets carry private keys: their files are 0600 like the crypto dir, the rest stay 0644."""
    import yaml

    r = render(load_spec(EXAMPLES / "seed.yaml"), tmp_path / "work", tools)
    out = tmp_path / "out"
    out.mkdir()
    (out / "orderers.yaml").write_text("stale\n")  # a file from an earlier render keeps no old mode
    (out / "orderers.yaml").chmod(0o644)
    files = write_manifests(r, out)
    with_secrets = [f for f in files if any(o and o["kind"] == "Secret" for o in yaml.safe_load_all(f.read_text()))]
    assert with_secrets
    for f in files:
        assert f.stat().st_mode & 0o777 == (0o600 if f in with_secrets else 0o644), f.name


def test_peers_mount_a_core_yaml_without_docker_endpoint(rendered):
    """With the image's own core.yaml (vm.endpoint = the Docker socket) a peer's /healthz fails
    forever in a pod without Docker; peers get Fabric's core.yaml of the same release with the
    endpoint empty and the image's ccaas builder, through FABRIC_CFG_PATH."""
    import yaml

    loaded, r = rendered
    configs = {o["metadata"]["namespace"]: o for o in r.objects() if o["metadata"]["name"] == "peer-config"}
    assert len(configs) == len(loaded.spec.organizations)
    core = yaml.safe_load(next(iter(configs.values()))["data"]["core.yaml"])
    assert core["vm"]["endpoint"] == ""
    assert core["chaincode"]["externalBuilders"] == [
        {
            "name": "ccaas_builder",
            "path": "/opt/hyperledger/ccaas_builder",
            "propagateEnvironment": ["CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"],
        }
    ]
    peers = [o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"].startswith("peer")]
    for sts in peers:
        pod = pod_spec(sts)
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "peer-config")
        assert env["FABRIC_CFG_PATH"] == mount["mountPath"]
        volume = next(v for v in pod["volumes"] if v["name"] == "peer-config")
        assert volume["configMap"]["name"] == "peer-config"
        assert sts["metadata"]["namespace"] in configs


def test_kafka_logs_in_a_subdirectory_and_zookeeper_keeps_its_conf(rendered):
    """ext4 puts lost+found at a volume's root and Kafka refuses it as a log dir entry; the
    ZooKeeper image's /conf (its logging setup) must not be hidden by our ConfigMap."""
    _, r = rendered
    kafka_cm = next(o for o in r.objects() if o["metadata"]["name"] == "kafka-config")
    props = dict(line.split("=", 1) for line in kafka_cm["data"]["server.properties"].splitlines())
    kafka = next(o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "kafka")
    data_mount = next(m for m in pod_spec(kafka)["containers"][0]["volumeMounts"] if m["name"] == "data")
    assert props["log.dirs"].startswith(data_mount["mountPath"] + "/") and props["log.dirs"] != data_mount["mountPath"]
    zk = next(o for o in r.objects() if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "zookeeper")
    (container,) = pod_spec(zk)["containers"]
    assert all(m["mountPath"] != "/conf" for m in container["volumeMounts"])
    config_mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert f"{config_mount['mountPath']}/zoo.cfg" in container["command"][-1]


def test_default_chaincode_image_is_marked_for_preflight(rendered):
    _loaded, r = rendered
    deployments = [o for o in r.objects() if o["kind"] == "Deployment"]
    assert deployments
    for d in deployments:
        assert d["metadata"]["annotations"]["fabkube.io/default-image"] == "true"


def test_preflight_blocks_a_default_image_no_node_has():
    from fabkube.backends.k8s.preflight import _default_images

    deploy = {
        "kind": "Deployment",
        "metadata": {"name": "cc-mycc", "annotations": {"fabkube.io/default-image": "true"}},
        "spec": {"template": {"spec": {"containers": [{"image": "docker.io/fabkube/mycc-chaincode:1.0"}]}}},
    }
    node = {"metadata": {"name": "hw2"}, "status": {"images": [{"names": ["docker.io/library/busybox:1"]}]}}
    (blocked,) = _default_images([deploy], [node])
    assert blocked.level == "block" and "chaincode mycc" in blocked.what
    node["status"]["images"].append({"names": ["docker.io/fabkube/mycc-chaincode:1.0"]})
    (ok,) = _default_images([deploy], [node])
    assert ok.level == "ok"
    named = {**deploy, "metadata": {"name": "cc-mycc"}}  # the spec names an image: not ours to judge
    assert _default_images([named], [node]) == []


def test_render_notes_what_apply_k_does_not_check(tmp_path, home):
    from conftest import run_cli

    res = run_cli("render", str(EXAMPLES / "seed.yaml"), "-o", str(tmp_path / "out"), home=home)
    assert "default StorageClass" in res.stderr and "published nowhere" in res.stderr, res.stderr


def test_no_pod_mounts_a_service_account_token(rendered):
    """No component talks to the Kubernetes API: a token in every pod is only something to steal."""
    _, r = rendered
    pods = [(o["metadata"]["name"], pod_spec(o)) for o in r.objects() if pod_spec(o)]
    assert pods and all(p.get("automountServiceAccountToken") is False for _, p in pods), [
        n for n, p in pods if p.get("automountServiceAccountToken") is not False
    ]


def test_volumes_are_kept_explicitly_and_brokers_leave_one_at_a_time(rendered):
    _, r = rendered
    with_volumes = [o for o in r.objects() if o["kind"] == "StatefulSet" and o["spec"].get("volumeClaimTemplates")]
    assert with_volumes
    for sts in with_volumes:
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    budgets = {o["metadata"]["name"]: o["spec"] for o in r.objects() if o["kind"] == "PodDisruptionBudget"}
    assert budgets["kafka"]["maxUnavailable"] == 1 and budgets["zookeeper"]["maxUnavailable"] == 1


def _workloads(objects):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] in ("StatefulSet", "Deployment")}


def _digest_of(obj):
    return obj["spec"]["template"]["metadata"]["annotations"]["fabkube.io/mounted-sha256"]


def test_a_renewed_certificate_changes_the_digest_of_exactly_the_pods_that_mount_it(tools, tmp_path):
    """certs renew on Kubernetes rolls a workload when what its pods mount changed: the digest in
    the template follows the Secret's data, and nothing else's."""
    import datetime as dt

    from fabkube.crypto.inventory import certificates
    from fabkube.crypto.renewal import renew

    loaded = load_spec(EXAMPLES / "seed.yaml")
    before = _workloads(render(loaded, tmp_path, tools).objects())
    again = _workloads(render(loaded, tmp_path, tools).objects())
    assert {n: _digest_of(o) for n, o in before.items()} == {n: _digest_of(o) for n, o in again.items()}

    r = render(loaded, tmp_path, tools)
    orderer_tls = [c for c in certificates(r.layout) if c.owner == "orderer0" and c.kind == "TLS"]
    assert orderer_tls, [(c.kind, c.owner) for c in certificates(r.layout)][:8]
    renew(r.layout, orderer_tls, dt.timedelta(days=1))
    after = _workloads(render(loaded, tmp_path, tools).objects())
    moved = sorted(n for n in before if _digest_of(before[n]) != _digest_of(after[n]))
    assert moved == ["orderer0"], moved


def test_peers_get_the_current_chaincode_connection_before_they_start(rendered):
    """With TLS, each peer org has a Secret of its packages' connection.json keyed by the build dir
    a peer keeps (Fabric's SanitizeCCIDPath), and an init container copies them into the builds."""
    _, r = rendered
    objects = r.objects()
    secrets = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "peer-connections"]
    assert secrets
    for secret in secrets:
        for key, value in secret["data"].items():
            assert ":" not in key and key.count("-") >= 1
            conn = json.loads(base64.b64decode(value))
            assert conn["tls_required"] is True and "BEGIN CERTIFICATE" in conn["client_cert"]
    peers = [
        o
        for o in objects
        if o["kind"] == "StatefulSet" and o["metadata"]["labels"]["app.kubernetes.io/component"] == "peer"
    ]
    assert peers
    for sts in peers:
        pod = pod_spec(sts)
        init = pod["initContainers"][0]
        assert init["command"][:2] == ["sh", "-c"] and "externalbuilder/builds" in init["command"][2]
        assert {"name": "data", "mountPath": "/var/hyperledger/production"} in init["volumeMounts"]
        assert any(v.get("secret", {}).get("secretName") == "peer-connections" for v in pod["volumes"])


def test_the_connections_script_copies_into_existing_builds_only(tmp_path):
    """The init container's script, run by a real sh: a package's file lands in its build's release
    and bld dirs; a package the peer never built creates nothing."""
    from fabkube.backends.k8s.manifests import CONNECTIONS, CONNECTIONS_SCRIPT, DATA

    script = CONNECTIONS_SCRIPT.replace(CONNECTIONS, str(tmp_path / "conns")).replace(DATA, str(tmp_path / "data"))
    build = tmp_path / "data" / "externalbuilder" / "builds" / "basic_1.0-abc"
    for d in ("release/chaincode/server", "bld"):
        (build / d).mkdir(parents=True)
        (build / d / "connection.json").write_text("old")
    (tmp_path / "conns").mkdir()
    (tmp_path / "conns" / "basic_1.0-abc").write_text("new")
    (tmp_path / "conns" / "never_1.0-def").write_text("x")
    out = subprocess.run(["sh", "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.count("connection.json of basic_1.0-abc: current") == 2 and "never" not in out, out
    assert (build / "release/chaincode/server/connection.json").read_text() == "new"
    assert (build / "bld/connection.json").read_text() == "new"
    assert not (tmp_path / "data" / "externalbuilder" / "builds" / "never_1.0-def").exists()


def test_a_new_chaincode_restarts_no_peer_and_any_version_makes_a_valid_secret_key(tools, tmp_path):
    """peer-connections is read by the init container only, at a start: a chaincode added to the
    spec changes no peer's digest (`up` must not restart every peer of an org at once). Its keys
    are Secret-safe whatever the version holds ('+'), the items name the files after the builds."""
    import re

    from fabkube.spec import parse_spec

    text = (EXAMPLES / "seed.yaml").read_text()
    before = _workloads(render(load_spec(EXAMPLES / "seed.yaml"), tmp_path, tools).objects())
    extra = '  - {name: more, path: "builtin:abstore", channel: mychannel, version: "1.0+b1", image: "reg/more:1"}\n'
    grown = parse_spec(text.replace("chaincodes:\n", "chaincodes:\n" + extra))
    objects = render(grown, tmp_path, tools).objects()
    after = _workloads(objects)
    peers = [n for n, o in before.items() if o["metadata"]["labels"]["app.kubernetes.io/component"] == "peer"]
    assert peers and all(_digest_of(before[n]) == _digest_of(after[n]) for n in peers)
    secret = next(o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "peer-connections")
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in secret["data"])
    items = next(v["secret"]["items"] for v in pod_spec(after[peers[0]])["volumes"] if v["name"] == "connections")
    assert any(i["path"].startswith("more_1.0+b1-") for i in items), items
    assert {i["key"] for i in items} == set(secret["data"])


def test_a_fabric3_network_runs_its_version_and_the_jobs_on_fabric_tools_2_5(tmp_path):
    """Fabric publishes no fabric-tools image from 3.0 on: the peers and orderers of a 3.1.1 network
    run 3.1.1's images, its Jobs (lifecycle, backups) 2.5.9's tools, whose CLIs speak to 3.x nodes."""
    from fabkube.toolchain import Toolchain

    r = render(load_spec(EXAMPLES / "bft.yaml"), tmp_path, Toolchain("3.1.1").ensure())
    by_kind: dict[str, set] = {}
    for o in r.objects():
        for c in containers(o):
            by_kind.setdefault(o["kind"], set()).add(c["image"].split("/", 1)[1])
    assert by_kind["Job"] == {"hyperledger/fabric-tools:2.5.9"}, by_kind
    fabric = {i for i in by_kind["StatefulSet"] if i.startswith("hyperledger/fabric-")}
    assert fabric == {"hyperledger/fabric-orderer:3.1.1", "hyperledger/fabric-peer:3.1.1"}, by_kind


def test_the_upgrade_rolls_each_peer_by_its_own_orgs_statefulset(tools, tmp_path):
    """Peers' StatefulSets share names across orgs (peer0 in each org's namespace): the Kubernetes
    upgrade host must find a node's own, or it stops and upgrades another org's peer."""
    from types import SimpleNamespace

    from fabkube.backends.k8s.upgrade import K8sUpgradeHost
    from fabkube.topology import build_topology

    loaded = load_spec(EXAMPLES / "ha.yaml")
    sets = [o for o in render(loaded, tmp_path, tools).objects() if o["kind"] == "StatefulSet"]
    host = K8sUpgradeHost.__new__(K8sUpgradeHost)
    host.net = SimpleNamespace(topo=build_topology(loaded.spec, "k8s"))
    host._sets = lambda kinds=("orderer", "peer"): sets
    peers = host.net.topo.peers
    assert len({p.hostname for p in peers}) < len(peers)  # the case: the same names in two orgs
    for node in [*host.net.topo.orderers, *peers]:
        found = host._set_of(node.name)["metadata"]
        assert (found["name"], found["namespace"]) == (node.hostname, node.namespace), node.name
