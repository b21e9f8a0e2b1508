"""Kubernetes manifests for the whole network, from the same topology and component settings.

Namespaces: the ordering type's (Kafka: one for ZooKeeper and the brokers), one for the
orderer org, one per peer org (the seed used default, ord and org1). apps/v1 only. Crypto
material goes into Secrets, never ConfigMaps; the genesis block and channel transactions
(public) into ConfigMaps.
Chaincode runs as a service: a Deployment + Service per chaincode per org, so peers need
no Docker socket, no Docker-in-Docker and no privileged container.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path, PurePosixPath

from fabkube.backends.k8s.monitors import CHAINCODE_METRICS_PORT, monitor_objects
from fabkube.backends.k8s.objects import (
    CHAINCODE_UID,
    DEFAULT_IMAGE,
    POD_SECURITY_LABELS,
    files_secret,
    files_under,
    image,
    labels,
    meta,
    resources,
    scheduling,
    security_context,
    selector,
)
from fabkube.backends.k8s.policies import anyone, default_deny, operations_rule, pods_of, policy
from fabkube.backends.k8s.workloads import locked, make_container, service, statefulset, tcp_probe
from fabkube.chaincode.contract import server_env, tls_at
from fabkube.components import (
    orderer_env,
    peer_env,
)
from fabkube.consensus.k8s import k8s_part
from fabkube.generate import artifact_paths
from fabkube.layout import Layout
from fabkube.ops.lifecycle import build_dir_name, current_connection, org_plans, plan, shell_script, smoke_step
from fabkube.topology import OrdererNode, Org, PeerNode, Topology

POD_ROOT = Path("/fabkube")  # where crypto and artifacts are mounted in every pod
DATA = "/var/hyperledger/production"
TOOLS_CONFIG = "/etc/hyperledger/fabric"  # core.yaml inside the fabric-tools image
CHAINCODE_PORT = 9999


def _http_probe(port: int, delay: int = 5, tls: bool = True) -> dict:
    get = {"path": "/healthz", "port": port, "scheme": "HTTPS" if tls else "HTTP"}
    return {"httpGet": get, "initialDelaySeconds": delay, "periodSeconds": 10}


def _fabric_probes(node: OrdererNode | PeerNode, topo: Topology) -> tuple[dict, dict, dict]:
    """Startup, readiness and liveness probes of an orderer (its ordering type decides) or a peer (/healthz)."""
    if isinstance(node, OrdererNode):
        return k8s_part(topo.ordering.type).orderer_probes(node, topo.spec.tls)
    ops, tls = node.operations.port, topo.spec.tls
    startup = {**_http_probe(ops, 0, tls), "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3}
    ready = {**_http_probe(ops, 0, tls), "timeoutSeconds": 3}
    live = {**_http_probe(ops, 0, tls), "failureThreshold": 6, "timeoutSeconds": 3}
    return startup, ready, live


def _node_crypto(layout: Layout, pod_layout: Layout, node) -> dict[str, Path]:
    """The node's msp/ and tls/ files, keyed by their path under /fabkube."""
    base = layout.node_crypto(node)
    pod_base = PurePosixPath(str(pod_layout.node_crypto(node).relative_to(POD_ROOT)))
    return {str(pod_base / rel): path for rel, path in files_under(base, base).items()}


def _crypto_volume(secret_name: str, items: list[dict]) -> dict:
    return {"name": "crypto", "secret": {"secretName": secret_name, "items": items, "defaultMode": 0o440}}


def _fabric_node_objects(
    layout: Layout,
    pod_layout: Layout,
    node: OrdererNode | PeerNode,
    command: list[str],
    env: dict[str, str],
    ports: dict[str, int],
    extra_mounts: list[dict],
    extra_volumes: list[dict],
    init: list[dict] | None = None,
) -> list[dict]:
    """Secret (MSP + TLS), Service and single-replica StatefulSet of one orderer or peer."""
    spec, kind, name = layout.topo.spec, node.kind, node.hostname
    startup, readiness, liveness = _fabric_probes(node, layout.topo)
    secret, items = files_secret(
        spec, f"{name}-crypto", node.namespace, name, kind, _node_crypto(layout, pod_layout, node)
    )
    mounts = [
        {"name": "data", "mountPath": DATA},
        {"name": "crypto", "mountPath": str(POD_ROOT / "crypto"), "readOnly": True},
        *extra_mounts,
    ]
    container = make_container(
        kind,
        image(spec, kind),
        getattr(spec.resources, kind),
        command,
        env,
        ports,
        mounts,
        readiness,
        liveness,
    )
    container["startupProbe"] = startup
    items = [{"key": i["key"], "path": i["path"].removeprefix("crypto/")} for i in items]
    pod = {
        "containers": [container],
        "volumes": [_crypto_volume(f"{name}-crypto", items), *extra_volumes],
        **({"initContainers": init} if init else {}),
        **scheduling(
            spec,
            getattr(spec.kubernetes.placement, kind),
            {"app.kubernetes.io/component": kind, "app.kubernetes.io/part-of": spec.name},
        ),
    }
    return [
        secret,
        service(layout.topo, name, node.namespace, name, kind, ports),
        statefulset(
            name, node.namespace, layout.topo, kind, name, pod, 1, name, spec.kubernetes.storage.get(kind, "1Gi")
        ),
    ]


def orderer_objects(layout: Layout, pod_layout: Layout) -> list[dict]:
    """Each orderer's Secret, Service and StatefulSet; with a system channel, its genesis block in a
    ConfigMap every orderer boots from (without one, orderers start empty and join channels)."""
    topo, spec = layout.topo, layout.topo.spec
    ns = topo.orderer_org.namespace
    out, mounts, volumes = [], [], []
    if topo.ordering.system_channel:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta(spec, "genesis-block", ns, "genesis-block", "orderer"),
                "binaryData": {"system-genesis.block": base64.b64encode(layout.genesis_block.read_bytes()).decode()},
            }
        )
        mounts = [{"name": "genesis", "mountPath": str(pod_layout.artifacts), "readOnly": True}]
        volumes = [{"name": "genesis", "configMap": {"name": "genesis-block"}}]
    for o in topo.orderers:
        ports = {"grpc": o.address.port, "operations": o.operations.port, "admin": o.admin.port}
        env = orderer_env(topo, o, pod_layout, DATA)
        out += _fabric_node_objects(layout, pod_layout, o, ["orderer"], env, ports, mounts, volumes)
    return out


PEER_CONFIG = "/fabkube/peercfg"  # FABRIC_CFG_PATH of peers: our core.yaml, not the image's


CONNECTIONS = "/fabkube/connections"
# The peer keeps each package's build on its volume (Fabric's persistent external builds), with
# the connection.json the package had at install: a renewed chaincode client certificate (same
# key, same package ID) reaches it here, copied in before the peer starts. sh and cp only: the
# peer image has no Python or jq.
CONNECTIONS_SCRIPT = f"""for f in {CONNECTIONS}/*; do
  [ -f "$f" ] || continue
  build="{DATA}/externalbuilder/builds/$(basename "$f")"
  for d in "$build/release/chaincode/server" "$build/bld"; do
    if [ -d "$d" ]; then cp "$f" "$d/connection.json" && echo "connection.json of $(basename "$f"): current"; fi
  done
done"""


CONNECTIONS_SECRET = "peer-connections"


def _connections_secret(
    layout: Layout, org: Org, package_ids: dict[str, dict[str, str]]
) -> tuple[dict, list[dict]] | None:
    """The current connection.json of every package the org's peers build, and the volume items
    that name each file after its build dir (a Secret key may not hold every character a chaincode
    version may, '+'); None without TLS (nothing in connection.json is renewed then) or chaincodes."""
    spec = layout.topo.spec
    if not spec.tls:
        return None
    builds = {
        build_dir_name(package_ids[cc.name][org.name]): current_connection(layout, cc, org)
        for cc in layout.topo.chaincodes
        if org in cc.orgs and org.name in package_ids.get(cc.name, {})
    }
    if not builds:
        return None
    keys = {name: f"build-{hashlib.sha256(name.encode()).hexdigest()[:16]}" for name in sorted(builds)}
    data = {keys[n]: base64.b64encode(json.dumps(conn, indent=2).encode()).decode() for n, conn in builds.items()}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(spec, CONNECTIONS_SECRET, org.namespace, CONNECTIONS_SECRET, "peer"),
        "type": "Opaque",
        "data": data,
    }
    return secret, [{"key": keys[n], "path": n} for n in sorted(builds)]


def _connections_init(spec) -> dict:
    c = make_container(
        "connections",
        image(spec, "peer"),
        spec.resources.peer,
        ["sh", "-c", CONNECTIONS_SCRIPT],
        {},
        {},
        [{"name": "data", "mountPath": DATA}, {"name": "connections", "mountPath": CONNECTIONS, "readOnly": True}],
        None,
    )
    del c["readinessProbe"]  # init containers have none
    return c


def peer_objects(layout: Layout, pod_layout: Layout, package_ids: dict[str, dict[str, str]]) -> list[dict]:
    """Per peer org a ConfigMap with Fabric's core.yaml (vm.endpoint empty, the image's ccaas builder)
    and, with TLS, a Secret of its packages' current connection.json; then each peer's Secret,
    Service and StatefulSet mounting them."""
    topo, spec = layout.topo, layout.topo.spec
    out = []
    connections: dict[str, list[dict]] = {}
    for org in topo.orgs:
        made = _connections_secret(layout, org, package_ids)
        if made is not None:
            connections[org.name] = made[1]
            out.append(made[0])
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta(spec, "peer-config", org.namespace, "peer-config", "peer"),
                "data": {"core.yaml": layout.peer_core.read_text()},
            }
        )
    mount = [{"name": "peer-config", "mountPath": PEER_CONFIG, "readOnly": True}]
    volume = [{"name": "peer-config", "configMap": {"name": "peer-config"}}]
    for p in topo.peers:
        ports = {"grpc": p.address.port, "chaincode": p.chaincode.port, "operations": p.operations.port}
        env = {**peer_env(topo, p, pod_layout, DATA), "FABRIC_CFG_PATH": PEER_CONFIG}
        volumes, init = volume, []
        if p.org.name in connections:
            conns = {
                "name": "connections",
                "secret": {"secretName": CONNECTIONS_SECRET, "items": connections[p.org.name], "defaultMode": 0o440},
            }
            volumes = [*volume, conns]
            init = [_connections_init(spec)]
        out += _fabric_node_objects(layout, pod_layout, p, ["peer", "node", "start"], env, ports, mount, volumes, init)
    return out


def chaincode_objects(
    layout: Layout, package_ids: dict[str, dict[str, str]], python_chaincodes: frozenset[str] = frozenset()
) -> list[dict]:
    """Per chaincode per org: a Deployment serving it (TLS key from a Secret) and its Service; a
    chaincode in `python_chaincodes` runs fabkube's runtime, which serves its metrics too."""
    topo, spec = layout.topo, layout.topo.spec
    res = spec.resources.chaincode
    out = []
    for cc in topo.chaincodes:
        img = cc.image or image(spec, "chaincode", name=cc.name, version=cc.version)
        for org in cc.orgs:
            name = f"cc-{cc.name}"
            mounts, volumes, objects = [], [], []
            tls = None
            if spec.tls:
                server_tls = layout.chaincode_tls(cc, org)
                secret, items = files_secret(
                    spec,
                    f"{name}-tls",
                    org.namespace,
                    name,
                    "chaincode",
                    {
                        "server.crt": server_tls / "server.crt",
                        "server.key": server_tls / "server.key",
                        "server.crt.b64": server_tls / "server.crt.b64",
                        "server.key.b64": server_tls / "server.key.b64",
                        "client-ca.crt": layout.tls_ca(org),
                    },
                )
                objects.append(secret)
                mounts.append({"name": "tls", "mountPath": "/tls", "readOnly": True})
                volumes.append(
                    {"name": "tls", "secret": {"secretName": f"{name}-tls", "items": items, "defaultMode": 0o440}}
                )
                tls = tls_at("/tls", "/tls/client-ca.crt")
            env = server_env(f"0.0.0.0:{CHAINCODE_PORT}", package_ids[cc.name][org.name], tls)
            ports = {"grpc": CHAINCODE_PORT}
            if cc.name in python_chaincodes:
                env["CHAINCODE_METRICS_ADDRESS"] = f"0.0.0.0:{CHAINCODE_METRICS_PORT}"
                ports["metrics"] = CHAINCODE_METRICS_PORT
            container = make_container("chaincode", img, res, [], env, ports, mounts, tcp_probe(CHAINCODE_PORT, 3))
            del container["command"]  # the image's own entrypoint serves the chaincode
            # The user's image may write where it likes: only its root filesystem stays writable.
            container["securityContext"] = security_context(read_only=False)
            pod = {
                "containers": [container],
                "volumes": volumes,
                **scheduling(spec, spec.kubernetes.placement.chaincode, None),
            }
            deploy = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    **meta(spec, name, org.namespace, name, "chaincode"),
                    # preflight blocks fabkube's default image name unless a node already has it
                    **({} if cc.image else {"annotations": {DEFAULT_IMAGE: "true"}}),
                },
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": selector(spec, name)},
                    "template": {
                        "metadata": {"labels": labels(spec, name, "chaincode")},
                        "spec": locked(pod, CHAINCODE_UID),
                    },
                },
            }
            out += [*objects, deploy, service(topo, name, org.namespace, name, "chaincode", {"grpc": CHAINCODE_PORT})]
    return out


def lifecycle_objects(layout: Layout, pod_layout: Layout, package_ids: dict[str, dict[str, str]]) -> list[dict]:
    """The lifecycle steps as one admin Job per org that signs any (the local backend runs the same
    steps in one process), each in its org's namespace holding only that org's keys. The Jobs run
    side by side; where one org's step needs another's done first, it retries until it is
    (lifecycle.WAITS_ON_OTHERS), so the order of the steps holds without a coordinator."""
    topo = layout.topo
    steps = plan(pod_layout, package_ids)
    steps += [s for cc in topo.chaincodes if (s := smoke_step(pod_layout, cc))]
    orgs = {o.name: o for o in [*topo.orderer_orgs, *topo.orgs]}
    out: list[dict] = []
    for name, org_steps in org_plans(steps).items():
        out += _org_lifecycle(layout, pod_layout, orgs[name], org_steps)
    return out


def _pod_crypto_path(path: Path) -> str:
    return str(PurePosixPath(str(path.relative_to(POD_ROOT / "crypto"))))


def _org_lifecycle(layout: Layout, pod_layout: Layout, org: Org, steps: list) -> list[dict]:
    """Secret (this org's admin keys, every org's public TLS CA), ConfigMap (script, public
    artifacts) and Job of one org's lifecycle steps."""
    topo, spec = layout.topo, layout.topo.spec
    ns = org.namespace
    script = shell_script(steps, pod_layout, TOOLS_CONFIG)
    # Every org's TLS CA (public): to reach other orgs' peers (endorsements) and the orderers.
    crypto: dict[str, Path] = {
        _pod_crypto_path(pod_layout.tls_ca(o)): layout.tls_ca(o) for o in [*topo.orderer_orgs, *topo.orgs]
    }
    if org.kind == "orderer":
        # An orderer org signs only channel participation calls: its admin's TLS pair.
        admin = layout.admin_tls(org)
        pod_admin = PurePosixPath(_pod_crypto_path(pod_layout.admin_tls(org)))
    else:
        admin = layout.admin_msp(org).parent
        pod_admin = PurePosixPath(_pod_crypto_path(pod_layout.admin_msp(org).parent))
    for rel, path in files_under(admin, admin).items():
        crypto[str(pod_admin / rel)] = path
    # Packages carry this org's peers' chaincode client keys (connection.json): they ride in the Secret.
    packages = {
        f"chaincode/{p.name}": p
        for cc in topo.chaincodes
        for o in cc.orgs
        if o.name == org.name and (p := layout.chaincode_package(cc, o)).exists()
    }
    secret, all_items = files_secret(spec, "lifecycle-admin-crypto", ns, "lifecycle", "tools", {**crypto, **packages})
    items = [i for i in all_items if i["path"] not in packages]
    package_items = [{**i, "path": i["path"].removeprefix("chaincode/")} for i in all_items if i["path"] in packages]
    artifacts = {
        p.name: p
        for p in [
            *(p for p in artifact_paths(layout) if p != layout.genesis_block),
            *(layout.collections_config(cc) for cc in topo.chaincodes if cc.collections),
        ]
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, "lifecycle", ns, "lifecycle", "tools"),
        "data": {"lifecycle.sh": script},
        "binaryData": {k: base64.b64encode(v.read_bytes()).decode() for k, v in artifacts.items()},
    }
    art_items = [{"key": k, "path": k} for k in sorted(artifacts)]
    container = make_container(
        "lifecycle",
        image(spec, "tools"),
        spec.resources.tools,
        ["sh", f"{POD_ROOT}/scripts/lifecycle.sh"],
        {"FABRIC_LOGGING_SPEC": "WARNING"},
        {},
        [
            {"name": "crypto", "mountPath": str(POD_ROOT / "crypto"), "readOnly": True},
            {"name": "artifacts-src", "mountPath": "/artifacts-src", "readOnly": True},
            {"name": "artifacts", "mountPath": str(pod_layout.artifacts)},
            {"name": "scripts", "mountPath": str(POD_ROOT / "scripts"), "readOnly": True},
        ],
        {"exec": {"command": ["true"]}},
    )
    del container["readinessProbe"]
    del container["ports"]
    # The channel block is written next to the transactions, so artifacts live in a writable emptyDir.
    copy_cmd = f"cp -rL /artifacts-src/. {pod_layout.artifacts}/"
    copy_mounts = [
        {"name": "artifacts-src", "mountPath": "/artifacts-src", "readOnly": True},
        {"name": "artifacts", "mountPath": str(pod_layout.artifacts)},
    ]
    volumes = [
        _crypto_volume("lifecycle-admin-crypto", items),
        {"name": "artifacts-src", "configMap": {"name": "lifecycle", "items": art_items}},
        {"name": "artifacts", "emptyDir": {}},
        {
            "name": "scripts",
            "configMap": {"name": "lifecycle", "items": [{"key": "lifecycle.sh", "path": "lifecycle.sh"}]},
        },
    ]
    if packages:
        copy_cmd += (
            f" && mkdir -p {pod_layout.artifacts}/chaincode && cp -L /packages-src/* {pod_layout.artifacts}/chaincode/"
        )
        copy_mounts.append({"name": "packages-src", "mountPath": "/packages-src", "readOnly": True})
        volumes.append(
            {
                "name": "packages-src",
                "secret": {"secretName": "lifecycle-admin-crypto", "items": package_items, "defaultMode": 0o440},
            }
        )
    copy = {
        "name": "artifacts",
        "image": image(spec, "tools"),
        "command": ["sh", "-c", copy_cmd],
        "volumeMounts": copy_mounts,
        "resources": resources(spec.resources.tools),
    }
    pod = {
        "restartPolicy": "Never",
        "initContainers": [copy],
        "containers": [container],
        "volumes": volumes,
        **scheduling(spec, spec.kubernetes.placement.tools, None),
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(spec, "lifecycle", ns, "lifecycle", "tools"),
        "spec": {
            "backoffLimit": 2,
            "template": {
                "metadata": {
                    "labels": labels(spec, "lifecycle", "tools"),
                    # What the Job runs lives in the ConfigMap and Secret: their digest in the
                    # template makes a changed lifecycle (a new chaincode version) a new Job.
                    "annotations": {LIFECYCLE_DIGEST: _digest(config, secret)},
                },
                "spec": locked(pod),
            },
        },
    }
    return [secret, config, job]


LIFECYCLE_DIGEST = "fabkube.io/lifecycle-sha256"


def _digest(*objects: dict) -> str:
    return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()


def namespaces(topo: Topology) -> list[str]:
    names = [*topo.ordering.namespaces, *(o.namespace for o in topo.orderer_orgs), *(o.namespace for o in topo.orgs)]
    return list(dict.fromkeys(names))


def namespace_objects(topo: Topology) -> list[dict]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": n,
                "labels": {
                    "app.kubernetes.io/part-of": topo.spec.name,
                    "app.kubernetes.io/managed-by": "fabkube",
                    **POD_SECURITY_LABELS,
                },
            },
        }
        for n in namespaces(topo)
    ]


def policy_objects(layout: Layout, python_chaincodes: frozenset[str] = frozenset()) -> list[dict]:
    """The network's NetworkPolicies (see fabkube.backends.k8s.policies); none if the spec turns them off."""
    topo, spec = layout.topo, layout.topo.spec
    if not spec.kubernetes.networkPolicies:
        return []
    out = [default_deny(spec, ns) for ns in namespaces(topo)]
    # The lifecycle Jobs: the orderer org's joins its orderers to channels (channel participation).
    admins = [pods_of(spec, "tools", ns) for ns in dict.fromkeys(o.namespace for o in [*topo.orderer_orgs, *topo.orgs])]
    for ns in dict.fromkeys(o.namespace for o in topo.orderer_orgs):
        o0 = next(o for o in topo.orderers if o.namespace == ns)
        rules = [([o0.address.port], anyone()), ([o0.admin.port], admins)]
        out.append(
            policy(spec, f"{spec.name}-orderers", ns, "orderer", rules + operations_rule(spec, [o0.operations.port]))
        )
    for ns in dict.fromkeys(o.namespace for o in topo.orgs):
        p0 = next(p for p in topo.peers if p.namespace == ns)
        rules = [([p0.address.port], anyone()), *operations_rule(spec, [p0.operations.port])]
        out.append(policy(spec, f"{spec.name}-peers", ns, "peer", rules))
        if any(org.namespace == ns for cc in topo.chaincodes for org in cc.orgs):
            rules = [([CHAINCODE_PORT], [pods_of(spec, "peer")])]
            if any(cc.name in python_chaincodes for cc in topo.chaincodes if any(o.namespace == ns for o in cc.orgs)):
                rules += operations_rule(spec, [CHAINCODE_METRICS_PORT])
            out.append(policy(spec, f"{spec.name}-chaincode", ns, "chaincode", rules))
    return out + k8s_part(topo.ordering.type).network_policies(layout)


MOUNTED_DIGEST = "fabkube.io/mounted-sha256"
WORKLOAD_KINDS = ("StatefulSet", "Deployment")


def stamp_mounted(objects: list[dict]) -> None:
    """Put into each workload's pod template the digest of the Secrets and ConfigMaps its pods mount:
    a renewed certificate or a changed config then rolls exactly the pods that read it (a running
    Fabric node reads its files only at start), and an unchanged one rolls nothing."""
    held = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): _digest(
            o.get("data") or {}, o.get("binaryData") or {}
        )
        for o in objects
        if o["kind"] in ("Secret", "ConfigMap")
    }
    for o in objects:
        if o["kind"] not in WORKLOAD_KINDS:
            continue
        ns, template = o["metadata"].get("namespace"), o["spec"]["template"]
        mounted = []
        for v in template["spec"].get("volumes", []):
            if v.get("secret", {}).get("secretName") == CONNECTIONS_SECRET:
                # Read by the init container only, at a start: a chaincode added or upgraded
                # changes it and must not restart every peer of the org (`certs renew` rolls the
                # peers when the client certificate in it was renewed).
                continue
            if "secret" in v:
                mounted.append(held.get(("Secret", ns, v["secret"]["secretName"]), "absent"))
            elif "configMap" in v:
                mounted.append(held.get(("ConfigMap", ns, v["configMap"]["name"]), "absent"))
        if mounted:
            template["metadata"].setdefault("annotations", {})[MOUNTED_DIGEST] = _digest(mounted)


def render_objects(
    layout: Layout, package_ids: dict[str, dict[str, str]], python_chaincodes: frozenset[str] = frozenset()
) -> dict[str, list[dict]]:
    """File name -> objects in it, one file per component group. `python_chaincodes`: those that run
    fabkube's chaincode runtime (it serves metrics)."""
    files = _render_files(layout, package_ids, python_chaincodes)
    stamp_mounted([o for objs in files.values() for o in objs])
    return files


def _render_files(
    layout: Layout, package_ids: dict[str, dict[str, str]], python_chaincodes: frozenset[str]
) -> dict[str, list[dict]]:
    pod_layout = Layout(POD_ROOT, layout.topo)
    monitors = monitor_objects(layout, python_chaincodes)
    return {
        "namespaces.yaml": namespace_objects(layout.topo),
        "network-policies.yaml": policy_objects(layout, python_chaincodes),
        **k8s_part(layout.topo.ordering.type).files(layout),
        "orderers.yaml": orderer_objects(layout, pod_layout),
        "peers.yaml": peer_objects(layout, pod_layout, package_ids),
        "chaincode.yaml": chaincode_objects(layout, package_ids, python_chaincodes),
        "lifecycle.yaml": lifecycle_objects(layout, pod_layout, package_ids),
        **({"monitoring.yaml": monitors} if monitors else {}),
    }
