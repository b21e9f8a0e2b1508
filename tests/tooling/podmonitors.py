"""What the Prometheus Operator makes of PodMonitors, for the tests: there is no operator here, so
its work is done as its source does it (docs/k8s-monitoring-research.md, section 2:
prometheus-operator pkg/prometheus/promcfg.go generatePodMonitorConfig, and Prometheus'
discovery/kubernetes/pod.go for what pod discovery yields), then a real Prometheus runs the result
in a pod of the cluster.

- The PodMonitor CRD is the operator's own (v0.93.1, kube-prometheus-stack's appVersion), from its
  Go module: the API server then validates fabkube's monitors as it would on a user's cluster.
- Pod discovery is emulated as file_sd groups carrying the same __meta_kubernetes_* labels, one
  per container port of each pod of the monitor's namespaces (our Prometheus is built with
  `remove_all_sd`); the operator's relabel rules, in its order, then do the selecting, inside
  Prometheus' own relabel engine.
- TLS material goes where the operator puts it: /etc/prometheus/certs/0_<ns>_<secret>_<key>.
"""

from __future__ import annotations

import json
import re
import subprocess
from contextlib import contextmanager, suppress
from pathlib import Path

import yaml

from fabkube.errors import RuntimeFailure
from tooling.oci import Image, write_archive
from tooling.prometheus import PROMETHEUS, PROMETHEUS_VERSION, Prometheus

OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
OPERATOR_VERSION = "v0.93.1"
CERTS = "/etc/prometheus/certs"
CONFIG = "/etc/prometheus/config"
IMAGE = f"docker.io/prom/prometheus:v{PROMETHEUS_VERSION}"
NAMESPACE = "monitoring"


def crd(plural: str = "podmonitors") -> dict:
    """The operator's CRD for `plural`, from its Go module (downloaded once into the module cache)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{OPERATOR_MODULE}@{OPERATOR_VERSION}"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if proc.returncode != 0:
        raise RuntimeFailure(f"go mod download {OPERATOR_MODULE}@{OPERATOR_VERSION}: {proc.stdout}{proc.stderr}")
    path = (
        Path(json.loads(proc.stdout)["Dir"])
        / "example/prometheus-operator-crd"
        / f"monitoring.coreos.com_{plural}.yaml"
    )
    return yaml.safe_load(path.read_text())


def _san(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def sd_groups(pods: list[dict]) -> list[dict]:
    """Kubernetes pod discovery as file_sd groups: a target per container port (init containers
    too), none for a pod without an IP (pod.go buildPod). A snapshot: a pod already being deleted is
    left out, as discovery drops it moments later."""
    groups = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp"):
            continue
        meta, labels = pod["metadata"], pod["metadata"].get("labels") or {}
        base = {
            "__meta_kubernetes_namespace": meta["namespace"],
            "__meta_kubernetes_pod_name": meta["name"],
            "__meta_kubernetes_pod_ip": ip,
            "__meta_kubernetes_pod_phase": pod["status"].get("phase", ""),
            "__meta_kubernetes_pod_node_name": pod["spec"].get("nodeName", ""),
        }
        for k, v in labels.items():
            base[f"__meta_kubernetes_pod_label_{_san(k)}"] = v
            base[f"__meta_kubernetes_pod_labelpresent_{_san(k)}"] = "true"
        containers = [(c, "false") for c in pod["spec"]["containers"]]
        containers += [(c, "true") for c in pod["spec"].get("initContainers") or []]
        for c, init in containers:
            for p in c.get("ports") or []:
                labels_ = base | {
                    "__meta_kubernetes_pod_container_name": c["name"],
                    "__meta_kubernetes_pod_container_init": init,
                    "__meta_kubernetes_pod_container_port_name": p.get("name", ""),
                    "__meta_kubernetes_pod_container_port_number": str(p["containerPort"]),
                    "__meta_kubernetes_pod_container_port_protocol": p.get("protocol", "TCP"),
                }
                groups.append({"targets": [f"{ip}:{p['containerPort']}"], "labels": labels_})
            if not c.get("ports"):
                groups.append({"targets": [ip], "labels": base | {"__meta_kubernetes_pod_container_name": c["name"]}})
    return groups


def _selector_rules(selector: dict) -> list[dict]:
    rules = []
    for k, v in sorted((selector.get("matchLabels") or {}).items()):
        src = [f"__meta_kubernetes_pod_label_{_san(k)}", f"__meta_kubernetes_pod_labelpresent_{_san(k)}"]
        rules.append({"action": "keep", "source_labels": src, "regex": f"({v});true"})
    for e in selector.get("matchExpressions") or []:
        k, op = _san(e["key"]), e["operator"]
        both = [f"__meta_kubernetes_pod_label_{k}", f"__meta_kubernetes_pod_labelpresent_{k}"]
        present = [f"__meta_kubernetes_pod_labelpresent_{k}"]
        rules.append(
            {
                "In": {"action": "keep", "source_labels": both, "regex": f"({'|'.join(e.get('values', []))});true"},
                "NotIn": {"action": "drop", "source_labels": both, "regex": f"({'|'.join(e.get('values', []))});true"},
                "Exists": {"action": "keep", "source_labels": present, "regex": "true"},
                "DoesNotExist": {"action": "drop", "source_labels": present, "regex": "true"},
            }[op]
        )
    return rules


_RELABEL_KEYS = {"sourceLabels": "source_labels", "targetLabel": "target_label"}


def _user_relabel(r: dict) -> dict:
    out = {_RELABEL_KEYS.get(k, k): v for k, v in r.items()}
    if "action" in out:
        out["action"] = out["action"].lower()
    return out


def _cert_file(ns: str, ref: dict) -> str:
    return f"{CERTS}/0_{ns}_{ref['name']}_{ref['key']}"


def scrape_configs(monitor: dict) -> tuple[list[dict], list[tuple[str, dict]]]:
    """The scrape configs the operator writes for one PodMonitor (pod discovery replaced by a file per
    job, named after the job), and the Secret keys each config's tls_config needs: (namespace, ref)."""
    ns, name, spec = monitor["metadata"]["namespace"], monitor["metadata"]["name"], monitor["spec"]
    configs, secrets = [], []
    for i, ep in enumerate(spec["podMetricsEndpoints"]):
        job = f"podMonitor/{ns}/{name}/{i}"
        relabel = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
        if ep.get("filterRunning", True):
            relabel.append(
                {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"}
            )
        relabel += _selector_rules(spec["selector"])
        if ep.get("port"):
            relabel.append(
                {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": ep["port"]}
            )
        elif ep.get("portNumber"):
            relabel.append(
                {
                    "action": "keep",
                    "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                    "regex": str(ep["portNumber"]),
                }
            )
        for source, target in (("namespace", "namespace"), ("pod_container_name", "container"), ("pod_name", "pod")):
            relabel.append({"source_labels": [f"__meta_kubernetes_{source}"], "target_label": target})
        for label in spec.get("podTargetLabels") or []:
            relabel.append(
                {
                    "source_labels": [f"__meta_kubernetes_pod_label_{_san(label)}"],
                    "target_label": _san(label),
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        relabel.append({"target_label": "job", "replacement": f"{ns}/{name}"})
        if spec.get("jobLabel"):
            relabel.append(
                {
                    "source_labels": [f"__meta_kubernetes_pod_label_{_san(spec['jobLabel'])}"],
                    "target_label": "job",
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        if ep.get("port"):
            relabel.append({"target_label": "endpoint", "replacement": ep["port"]})
        relabel += [_user_relabel(r) for r in ep.get("relabelings") or []]
        config = {
            "job_name": job,
            "honor_labels": False,
            "file_sd_configs": [{"files": [f"{CONFIG}/{_file(n)}" for n in _namespaces(monitor)]}],
            "metrics_path": ep.get("path") or "/metrics",
            "scheme": (ep.get("scheme") or "http").lower(),
            "relabel_configs": relabel,
        }
        if ep.get("interval"):
            config["scrape_interval"] = ep["interval"]
        tls = ep.get("tlsConfig")
        if tls:
            refs = {
                "ca_file": tls["ca"].get("secret"),
                "cert_file": tls["cert"].get("secret"),
                "key_file": tls["keySecret"],
            }
            config["tls_config"] = {k: _cert_file(ns, ref) for k, ref in refs.items()}
            if tls.get("serverName"):
                config["tls_config"]["server_name"] = tls["serverName"]
            secrets += [(ns, ref) for ref in refs.values()]
        configs.append(config)
    return configs, secrets


def _file(namespace: str) -> str:
    return f"sd-{namespace}.json"  # one discovery file per namespace: its pods


def _namespaces(monitor: dict) -> list[str]:
    sel = monitor["spec"].get("namespaceSelector") or {}
    if sel.get("any"):
        raise NotImplementedError("namespaceSelector.any: fabkube's monitors name their namespace")
    return sel.get("matchNames") or [monitor["metadata"]["namespace"]]


def prometheus_objects(api_client, monitors: list[dict]) -> list[dict]:
    """The monitoring namespace's objects: the config and discovery files, the TLS assets (copied
    from the Secrets the monitors name, as the operator copies them) and a Prometheus pod."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    s = api_client.sanitize_for_serialization
    files: dict[str, str] = {}
    certs: dict[str, str] = {}
    jobs = []
    for m in monitors:
        configs, secrets = scrape_configs(m)
        for ns in _namespaces(m):
            files[_file(ns)] = json.dumps(sd_groups(s(core.list_namespaced_pod(ns).items)))
        for ns, ref in secrets:
            data = core.read_namespaced_secret(ref["name"], ns).data
            certs[Path(_cert_file(ns, ref)).name] = data[ref["key"]]
        jobs += configs
    files["prometheus.yml"] = yaml.safe_dump({"global": {"scrape_interval": "15s"}, "scrape_configs": jobs})
    restricted = {
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "runAsGroup": 65534,
        "fsGroup": 65534,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "prometheus", "namespace": NAMESPACE, "labels": {"app": "prometheus"}},
        "spec": {
            "automountServiceAccountToken": False,  # it reads no API: discovery is the files above
            "securityContext": restricted,
            "containers": [
                {
                    "name": "prometheus",
                    "image": IMAGE,
                    "imagePullPolicy": "Never",
                    "args": [
                        f"--config.file={CONFIG}/prometheus.yml",
                        "--storage.tsdb.path=/prometheus",
                        "--web.listen-address=:9090",
                    ],
                    "ports": [{"name": "web", "containerPort": 9090}],
                    "readinessProbe": {"httpGet": {"path": "/-/ready", "port": 9090}, "periodSeconds": 2},
                    "volumeMounts": [
                        {"name": "config", "mountPath": CONFIG},
                        {"name": "certs", "mountPath": CERTS, "readOnly": True},
                        {"name": "data", "mountPath": "/prometheus"},
                    ],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                    },
                }
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "prometheus"}},
                {"name": "certs", "secret": {"secretName": "tls-assets"}},
                {"name": "data", "emptyDir": {}},
            ],
        },
    }
    restricted_ns = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": restricted_ns}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus", "namespace": NAMESPACE},
            "data": files,
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tls-assets", "namespace": NAMESPACE},
            "data": certs,
        },
        pod,
    ]


def load_image(cluster, tools) -> str:
    """Our Prometheus build as prom/prometheus's image (/bin/prometheus, user nobody), on every node."""
    from tooling.oci import layer_from_dir

    binary = PROMETHEUS.bin(tools) / "prometheus"
    if not binary.is_file():
        raise RuntimeFailure(f"Prometheus {PROMETHEUS_VERSION} is not built: run `./dev test` (it builds it)")
    root = cluster.root / "images" / "prometheus-root"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "bin" / "prometheus").write_bytes(binary.read_bytes())
    (root / "bin" / "prometheus").chmod(0o755)
    layer = layer_from_dir(root, cluster.root / "images" / "prometheus-layer.tar")
    image = Image(IMAGE, [layer], entrypoint=["/bin/prometheus"], user="65534", ports=[9090])
    archive = write_archive([image], cluster.root / "images" / "prometheus.tar")
    cluster.load_images(archive)
    cluster.wait_images_reported([IMAGE])
    return IMAGE


@contextmanager
def running_in_pod(api_client, monitors: list[dict], timeout: float = 120):
    """A Prometheus pod scraping what `monitors` select, asked through a port-forward; removed after."""
    from kubernetes import client

    from fabkube.backends.k8s.portforward import port_forward
    from fabkube.waiting import wait_until

    core = client.CoreV1Api(api_client)
    objects = prometheus_objects(api_client, monitors)
    try:
        for obj in objects:
            _create(api_client, obj)

        def ready() -> bool:
            statuses = core.read_namespaced_pod("prometheus", NAMESPACE).status.container_statuses
            return bool(statuses) and all(cs.ready for cs in statuses)

        wait_until(ready, timeout, "the Prometheus pod to be ready", interval=1)
        with port_forward(core, NAMESPACE, "prometheus", 9090) as address:
            yield Prometheus(f"http://{address}")
    finally:
        with suppress(Exception):  # absent already: nothing to remove
            core.delete_namespace(NAMESPACE)


def install_crd(api_client, plural: str = "podmonitors", timeout: float = 60) -> None:
    """The operator's CRD on the cluster (once), served before this returns."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from fabkube.waiting import wait_until

    ext = client.ApiextensionsV1Api(api_client)
    body = crd(plural)
    try:
        ext.create_custom_resource_definition(body)
    except ApiException as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        status = ext.read_custom_resource_definition(body["metadata"]["name"]).status
        return any(c.type == "Established" and c.status == "True" for c in status.conditions or [])

    wait_until(established, timeout, f"the {plural} CRD to be established", interval=0.5)


def _create(api_client, obj: dict) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    kind, ns = obj["kind"], obj["metadata"].get("namespace")
    if kind == "Namespace":
        core.create_namespace(obj)
    elif kind == "ConfigMap":
        core.create_namespaced_config_map(ns, obj)
    elif kind == "Secret":
        core.create_namespaced_secret(ns, obj)
    elif kind == "Pod":
        core.create_namespaced_pod(ns, obj)
    else:
        raise ValueError(kind)
