"""The network spec: pydantic models, YAML loading, and the rules a spec must obey.

Every problem is reported as one line naming the field path (and the YAML line where we
know it) and what is allowed; all problems are collected before anything is written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fabkube.chaincode import BUILTINS
from fabkube.consensus.kafka import ports as kafka_ports
from fabkube.errors import UserError
from fabkube.toolchain.versions import DEFAULT_FABRIC_VERSION, FABRIC_VERSIONS

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ORG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# Fabric's own channel-name rule (core/ledger: [a-z][a-z0-9.-]*, under 250 chars).
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")
DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")
BYTE_SIZE = re.compile(r"^[0-9]+ ?(KB|MB)$")
QUANTITY_CPU = re.compile(r"^[0-9]+(\.[0-9]+)?m?$")
QUANTITY_MEM = re.compile(r"^[0-9]+(Ki|Mi|Gi)$")
JVM_HEAP = re.compile(r"^[0-9]+[mg]$")
VERSION_TEXT = re.compile(r"^[A-Za-z0-9_.+-]+$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # the OCI distribution spec's tag
MAX_ALIASES = 50  # YAML aliases a spec may use: a few are handy, thousands are an attack
MAX_SPEC_BYTES = 1 << 20  # a spec of a hundred orgs is ~50 KiB: anything near a MiB is not a spec
CN_MAX = 64  # X.509's upper bound on a common name
# Fabric's collection-name rule (core/common/privdata: [A-Za-z0-9_-]+, no leading underscore).
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def size_bytes(text: str) -> int:
    """A BYTE_SIZE value ('10 MB', '512 KB') in bytes."""
    number, unit = text.replace(" ", "")[:-2], text.replace(" ", "")[-2:]
    return int(number) * {"KB": 1024, "MB": 1024 * 1024}[unit]


LIFETIME = re.compile(r"^(\d+)(m|h|d|y)$")  # of certificates: minutes to years
LIFETIME_UNITS = {"m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def short_duration_seconds(text: str) -> float:
    """A DURATION value ('500ms', '2s', '1m') in seconds."""
    m = DURATION.match(text)
    assert m, text
    return int(text[: -len(m.group(1))]) * DURATION_UNITS[m.group(1)]


def duration_seconds(text: str) -> int:
    """A LIFETIME value ('5m', '12h', '30d', '10y') in seconds."""
    m = LIFETIME.match(text)
    assert m, text
    return int(m.group(1)) * LIFETIME_UNITS[m.group(2)]


def F(default: Any = ..., description: str = "", pattern: re.Pattern | None = None, **kw: Any) -> Any:
    """A field with its description and, for editors, its pattern in the JSON Schema. The pattern is
    checked by the semantic rules below (one clear line per problem), not by pydantic."""
    extra = {"pattern": pattern.pattern} if pattern is not None else None
    return Field(default, description=description, json_schema_extra=extra, **kw)


class CryptoSpec(Model):
    validity: str = F(
        "10y",
        "How long node, user and TLS certificates are valid ('5m', '12h', '30d', '10y'; CAs keep 10 years)",
        LIFETIME,
    )


class FabricSpec(Model):
    version: str = F(
        DEFAULT_FABRIC_VERSION, "Fabric release to build and run: 2.5.9 (Kafka, Raft) or 3.1.1 (Raft, BFT)"
    )


class RaftSpec(Model):
    """etcdraft Options of configtx.yaml, with Fabric's defaults (sampleconfig/configtx.yaml)."""

    tickInterval: str = F("500ms", "Time between two Raft ticks", DURATION)
    electionTick: int = F(10, "Ticks without a leader's heartbeat before a follower campaigns", ge=2)
    heartbeatTick: int = F(1, "Ticks between a leader's heartbeats (less than electionTick)", ge=1)
    maxInflightBlocks: int = F(5, "Blocks in flight to a follower at most", ge=1)
    snapshotIntervalSize: str = F("16 MB", "Data between two snapshots, e.g. '16 MB'", BYTE_SIZE)


class OrdererOrgSpec(Model):
    name: str = F(..., "Orderer organization name (MSP ID <name>MSP)", ORG_NAME)
    domain: str = F(..., "Its DNS domain, e.g. ord1.example.com", DNS_SUBDOMAIN)
    orderers: int = F(1, "Its orderer nodes (Raft consenters)", ge=1, le=9)


class OrderingSpec(Model):
    type: Literal["kafka", "raft", "bft"] = F(
        "kafka",
        "Ordering type: kafka (ZooKeeper + brokers, system channel; Fabric 2.5), raft (etcdraft, no system "
        "channel) or bft (SmartBFT, Fabric 3; 4 or more orderers)",
    )
    orderers: int = F(1, "Orderer nodes", ge=1, le=9)
    batchTimeout: str = F("2s", "Longest wait before a block is cut, e.g. 2s or 500ms", DURATION)
    maxMessageCount: int = F(10, "Transactions per block at most", ge=1)
    absoluteMaxBytes: str = F("10 MB", "Hard block size limit, e.g. '10 MB'", BYTE_SIZE)
    preferredMaxBytes: str = F("512 KB", "Preferred block size, e.g. '512 KB'", BYTE_SIZE)
    orgName: str = F("OrdererOrg", "Orderer organization name (MSP ID <orgName>MSP)", ORG_NAME)
    domain: str = F("example.com", "Orderer organization's DNS domain", DNS_SUBDOMAIN)
    raft: RaftSpec = F(description="Raft options (ordering.type raft)", default_factory=RaftSpec)
    organizations: list[OrdererOrgSpec] = F(
        description="Raft: several orderer organizations, each with its own MSP and consenters "
        "(instead of orgName/domain/orderers)",
        default_factory=list,
    )

    def orderer_orgs(self) -> list[OrdererOrgSpec]:
        """The orderer organizations: `organizations`, or the one made of orgName/domain/orderers."""
        return self.organizations or [OrdererOrgSpec(name=self.orgName, domain=self.domain, orderers=self.orderers)]

    @property
    def orderer_count(self) -> int:
        return sum(o.orderers for o in self.orderer_orgs())


class KafkaSpec(Model):
    brokers: int = F(3, "Kafka brokers", ge=1, le=15)
    replicationFactor: int = F(
        3, "Copies of each channel's topic; Fabric's guide: minInsyncReplicas < RF < brokers", ge=1
    )
    minInsyncReplicas: int = F(2, "Copies a write must reach; above 1 so a crash loses no blocks", ge=1)
    heap: str = F("256m", "JVM max heap per broker, e.g. 256m or 1g", JVM_HEAP)


class ZooKeeperSpec(Model):
    nodes: int = F(3, "ZooKeeper ensemble size (odd)", ge=1, le=9)
    heap: str = F("128m", "JVM max heap per node, e.g. 128m", JVM_HEAP)


class OrganizationSpec(Model):
    name: str = F(..., "Organization name: MSP ID <name>MSP, namespace <prefix>-<name lowercased>", ORG_NAME)
    domain: str = F(..., "DNS domain of its peers and users, e.g. org1.example.com", DNS_SUBDOMAIN)
    peers: int = F(2, "Peers of this organization", ge=1, le=9)
    users: int = F(1, "Client users besides the admin", ge=0, le=20)
    anchorPeers: list[int] = F(description="Peer indexes announced as anchor peers", default_factory=lambda: [0])


class ChannelSpec(Model):
    name: str = F(..., "Application channel name (Fabric's rule: lowercase letter first)", CHANNEL_NAME)
    organizations: list[str] = F(..., "Organizations (names) on the channel", min_length=1)


class CollectionSpec(Model):
    name: str = F(..., "Private data collection name", COLLECTION_NAME)
    policy: str | None = F(None, "Who holds the data, e.g. OR('Org1MSP.member'); default: every org of the channel")
    requiredPeerCount: int = F(0, "Peers the endorsing peer must disseminate to before endorsing", ge=0)
    maxPeerCount: int = F(1, "Peers the endorsing peer tries to disseminate to", ge=0)
    blockToLive: int = F(0, "Blocks after which the data is purged; 0 keeps it", ge=0)
    memberOnlyRead: bool = F(True, "Only members of the collection's orgs may read it")
    memberOnlyWrite: bool = F(True, "Only members of the collection's orgs may write it")


class ChaincodeSpec(Model):
    name: str = F(..., "Chaincode name (a DNS-1123 label)", DNS_LABEL)
    path: str = F(
        ...,
        "builtin:abstore, builtin:asset-transfer-basic(-go), or a directory with chaincode.py (Python) or "
        "go.mod (Go), relative to the spec file",
    )
    channel: str = F(..., "Channel (name) the chaincode is defined on")
    version: str = F("1.0", "Chaincode version", VERSION_TEXT)
    sequence: int = F(1, "Definition sequence; raise it to change a committed definition", ge=1)
    init: list[str] | None = F(None, "Arguments of Init; makes the definition --init-required")
    endorsementPolicy: str | None = F(None, "Signature policy, e.g. AND('Org1MSP.peer','Org2MSP.peer')")
    image: str | None = F(None, "Prebuilt chaincode-as-a-service image for Kubernetes")
    collections: list[CollectionSpec] = F(description="Private data collections", default_factory=list)


class ResourceSpec(Model):
    cpu: str = F(..., "CPU quantity, e.g. 100m or 1", QUANTITY_CPU)
    memory: str = F(..., "Memory quantity, e.g. 256Mi", QUANTITY_MEM)


class ComponentResources(Model):
    requests: ResourceSpec = F(..., "What the scheduler reserves")
    limits: ResourceSpec = F(..., "What the container may use at most")


def _res(cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str) -> ComponentResources:
    return ComponentResources(
        requests=ResourceSpec(cpu=cpu_req, memory=mem_req), limits=ResourceSpec(cpu=cpu_lim, memory=mem_lim)
    )


def _res_field(kind: str, *values: str) -> Any:
    return F(description=f"Requests and limits of each {kind} container", default_factory=lambda: _res(*values))


# Sized so the whole seed topology (3 zk, 3 kafka, 1 orderer, 2 peers, 1 chaincode, the
# lifecycle job) requests well under 2 vCPU / 4 GiB: the user's node hit 100% CPU.
class ResourcesSpec(Model):
    zookeeper: ComponentResources = _res_field("ZooKeeper", "50m", "256Mi", "500m", "384Mi")
    kafka: ComponentResources = _res_field("Kafka", "100m", "512Mi", "1", "640Mi")
    orderer: ComponentResources = _res_field("orderer", "100m", "128Mi", "1", "512Mi")
    peer: ComponentResources = _res_field("peer", "100m", "192Mi", "1", "512Mi")
    chaincode: ComponentResources = _res_field("chaincode server", "25m", "64Mi", "250m", "256Mi")
    tools: ComponentResources = _res_field("lifecycle Job", "50m", "64Mi", "500m", "256Mi")


class Toleration(Model):
    key: str | None = F(None, "Taint key, e.g. node-role.kubernetes.io/control-plane")
    operator: Literal["Exists", "Equal"] = F("Exists", "Exists, or Equal with value")
    value: str | None = F(None, "Taint value (with Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = F(None, "Taint effect; none: all")


class PlacementSpec(Model):
    nodeSelector: dict[str, str] = F(description="Node labels the pods need, e.g. {type: hw1}", default_factory=dict)
    tolerations: list[Toleration] = F(description="Taints the pods tolerate", default_factory=list)
    spread: bool = F(True, "Prefer different nodes for pods of one kind (anti-affinity)")
    priorityClassName: str | None = F(None, "PriorityClass of the pods")


def _placement(kind: str) -> Any:
    return F(description=f"Where {kind} pods run", default_factory=PlacementSpec)


class PlacementsSpec(Model):
    zookeeper: PlacementSpec = _placement("ZooKeeper")
    kafka: PlacementSpec = _placement("Kafka")
    orderer: PlacementSpec = _placement("orderer")
    peer: PlacementSpec = _placement("peer")
    chaincode: PlacementSpec = _placement("chaincode server")
    tools: PlacementSpec = _placement("lifecycle Job")


class ImagesSpec(Model):
    registry: str = F("docker.io", "Registry or mirror every image is pulled from")
    pullSecrets: list[str] = F(description="imagePullSecrets for every pod", default_factory=list)


class KubernetesSpec(Model):
    namespacePrefix: str | None = F(None, "Namespace prefix (default: the network name)", DNS_LABEL)
    kafkaNamespace: str | None = F(None, "Namespace of ZooKeeper and Kafka (default <prefix>-kafka)", DNS_LABEL)
    storageClass: str | None = F(None, "StorageClass of the PVCs (default: the cluster's default)")
    storage: dict[str, str] = F(
        description="PVC size per kind",
        default_factory=lambda: {"zookeeper": "1Gi", "kafka": "2Gi", "orderer": "1Gi", "peer": "1Gi"},
    )
    placement: PlacementsSpec = F(
        description="nodeSelector, tolerations, spread per kind", default_factory=PlacementsSpec
    )
    images: ImagesSpec = F(description="Image registry mirror and pull secrets", default_factory=ImagesSpec)
    networkPolicies: bool = F(True, "NetworkPolicies: the network's pods accept only the connections the network needs")
    operationsFrom: list[str] = F(
        description="Namespaces whose pods may reach the operations ports (/metrics), e.g. your Prometheus's",
        default_factory=list,
    )
    monitoring: Literal["none", "prometheus-operator"] = F(
        "none",
        "prometheus-operator: PodMonitors (monitoring.coreos.com/v1) for every node and the Grafana "
        "dashboard as a ConfigMap for kube-prometheus-stack's sidecar; the CRDs must be installed",
    )
    kafkaMetricsAgent: str | None = F(
        None,
        "Path of the Prometheus JMX exporter agent jar in the broker image (apache/kafka's has none: "
        "build one with it); with kubernetes.monitoring on, the brokers serve metrics through it",
    )
    prometheusRelease: str = F(
        "kube-prometheus-stack",
        "The `release` label on the PodMonitors (kube-prometheus-stack's Prometheus selects them by its Helm release)",
        DNS_LABEL,
    )


class LocalSpec(Model):
    basePort: int = F(17000, "Every local port is allocated upward from here", ge=1024, le=65535)


class NetworkSpec(Model):
    name: str = F(..., "Network name, a DNS-1123 label", DNS_LABEL)
    fabric: FabricSpec = F(description="Fabric release", default_factory=FabricSpec)
    crypto: CryptoSpec = F(description="Certificates", default_factory=CryptoSpec)
    tls: bool = F(True, "TLS on every endpoint, orderer-Kafka and broker-broker, mutual TLS peer-chaincode")
    ordering: OrderingSpec = F(description="Ordering service", default_factory=OrderingSpec)
    kafka: KafkaSpec = F(description="Kafka brokers", default_factory=KafkaSpec)
    zookeeper: ZooKeeperSpec = F(description="ZooKeeper ensemble", default_factory=ZooKeeperSpec)
    organizations: list[OrganizationSpec] = F(..., "Peer organizations", min_length=1)
    channels: list[ChannelSpec] = F(description="Application channels", default_factory=list)
    chaincodes: list[ChaincodeSpec] = F(description="Chaincodes to define and run as a service", default_factory=list)
    resources: ResourcesSpec = F(description="Kubernetes requests and limits per kind", default_factory=ResourcesSpec)
    kubernetes: KubernetesSpec = F(description="Kubernetes target settings", default_factory=KubernetesSpec)
    local: LocalSpec = F(description="Local target settings", default_factory=LocalSpec)

    def org(self, name: str) -> OrganizationSpec:
        return next(o for o in self.organizations if o.name == name)

    def channel(self, name: str) -> ChannelSpec:
        return next(c for c in self.channels if c.name == name)


class LoadedSpec:
    """A validated spec plus the warnings it earned and where it came from."""

    def __init__(self, spec: NetworkSpec, warnings: list[str], source: Path | None, text: str):
        self.spec = spec
        self.warnings = warnings
        self.source = source
        self.text = text


# ---------------------------------------------------------------- YAML positions


def _line_index(text: str) -> dict[tuple, int]:
    """Map each field path (tuple of keys / indices) to its 1-based YAML line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple, int] = {}

    def walk(node: Any, path: tuple) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[path + (key.value,)] = key.start_mark.line + 1
                walk(value, path + (key.value,))
                lines[path + (key.value,)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def _fmt_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class _Problems:
    def __init__(self, lines: dict[tuple, int]):
        self.lines = lines
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def _where(self, path: tuple) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return f"{_fmt_path(path)} (line {line})" if line else _fmt_path(path)

    def error(self, path: tuple, message: str) -> None:
        self.errors.append(f"{self._where(path)}: {message}")

    def warn(self, path: tuple, message: str) -> None:
        self.warnings.append(f"{self._where(path)}: {message}")


def _pydantic_message(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    ctx = err.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "too_short":
        return "must not be empty"
    return err["msg"]


# ---------------------------------------------------------------- semantic rules


def _check_name(p: _Problems, path: tuple, value: str, what: str = "a DNS-1123 label") -> None:
    if not DNS_LABEL.match(value) or len(value) > 63:
        p.error(path, f"{value!r} is not {what} (lowercase letters, digits and '-', at most 63 characters)")


def _check_unique(p: _Problems, items: list, attr: str, base: tuple, what: str) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = getattr(item, attr).lower()
        if key in seen:
            p.error(base + (i, attr), f"duplicate {what} {getattr(item, attr)!r} (also at {base[-1]}[{seen[key]}])")
        else:
            seen[key] = i


def _check_fabric(spec: NetworkSpec, p: _Problems) -> None:
    if spec.fabric.version not in FABRIC_VERSIONS:
        p.error(
            ("fabric", "version"),
            f"{spec.fabric.version!r} is not available; allowed: " + ", ".join(sorted(FABRIC_VERSIONS)),
        )
    elif FABRIC_VERSIONS[spec.fabric.version].unavailable:
        p.error(
            ("fabric", "version"),
            f"{spec.fabric.version} cannot be built here: "
            f"{FABRIC_VERSIONS[spec.fabric.version].unavailable}; use {DEFAULT_FABRIC_VERSION}",
        )


def _check_ordering(spec: NetworkSpec, p: _Problems) -> None:
    o = spec.ordering
    if not DURATION.match(o.batchTimeout):
        p.error(("ordering", "batchTimeout"), f"{o.batchTimeout!r} is not a duration like 2s, 500ms or 1m")
    for field in ("absoluteMaxBytes", "preferredMaxBytes"):
        if not BYTE_SIZE.match(getattr(o, field)):
            p.error(("ordering", field), f"{getattr(o, field)!r} is not a size like '10 MB' or '512 KB'")
    if not ORG_NAME.match(o.orgName):
        p.error(("ordering", "orgName"), f"{o.orgName!r} must start with a letter and hold letters and digits only")
    if not DNS_SUBDOMAIN.match(o.domain):
        p.error(("ordering", "domain"), f"{o.domain!r} is not a DNS domain (lowercase, dot-separated labels)")
    major = FABRIC_VERSIONS[spec.fabric.version].major if spec.fabric.version in FABRIC_VERSIONS else None
    if o.type == "kafka" and major is not None and major >= 3:
        p.error(
            ("ordering", "type"),
            f"kafka is gone in Fabric {spec.fabric.version} (no Kafka consenter, no system channel); allowed: raft or "
            "bft. A Kafka network moves on with `fabkube migrate --to raft` on 2.5.9 first",
        )
    if o.type == "bft" and major is not None and major < 3:
        p.error(("ordering", "type"), f"bft needs Fabric 3 (fabric.version 3.1.1), not {spec.fabric.version}")
    if o.type == "raft":
        _check_raft(spec, p)
    elif o.type == "bft":
        _check_bft(spec, p)
    elif o.organizations:
        p.error(
            ("ordering", "organizations"), f"several orderer organizations need ordering.type raft or bft, not {o.type}"
        )
    for i, org in enumerate(o.organizations):
        base = ("ordering", "organizations", i)
        if not ORG_NAME.match(org.name) or len(org.name) > 50:
            p.error(base + ("name",), f"{org.name!r} must start with a letter and hold letters and digits only")
        if not DNS_SUBDOMAIN.match(org.domain):
            p.error(base + ("domain",), f"{org.domain!r} is not a DNS domain (lowercase, dot-separated labels)")
    if o.organizations and (ignored := sorted(o.model_fields_set & {"orgName", "domain", "orderers"})):
        p.warn(("ordering", ignored[0]), f"{', '.join(ignored)} ignored: ordering.organizations names the orderers")
    _check_unique(p, o.organizations, "name", ("ordering", "organizations"), "orderer organization name")
    _check_unique(p, o.organizations, "domain", ("ordering", "organizations"), "orderer organization domain")


def _check_raft(spec: NetworkSpec, p: _Problems) -> None:
    o, r = spec.ordering, spec.ordering.raft
    if not spec.tls:
        p.error(("tls",), "false is not allowed with ordering.type raft: consenters authenticate each other by TLS")
    if r.heartbeatTick >= r.electionTick:
        p.error(
            ("ordering", "raft", "heartbeatTick"),
            f"{r.heartbeatTick} must be below electionTick {r.electionTick}; allowed: 1 to {r.electionTick - 1}",
        )
    n = o.orderer_count
    if n < 3:
        p.warn(("ordering", "orderers"), f"{n} Raft consenter(s) tolerate no failure: a crash of any stops ordering")
    elif n % 2 == 0:
        p.warn(("ordering", "orderers"), f"{n} consenters (even) tolerate no more failures than {n - 1}")
    if n > 9:
        p.error(("ordering", "organizations"), f"{n} orderers in all; allowed: 1 to 9")


def _check_bft(spec: NetworkSpec, p: _Problems) -> None:
    n = spec.ordering.orderer_count
    if not spec.tls:
        p.error(("tls",), "false is not allowed with ordering.type bft: consenters authenticate each other by TLS")
    if n < 4:
        where = ("ordering", "organizations") if spec.ordering.organizations else ("ordering", "orderers")
        p.error(where, f"{n} BFT consenter(s) tolerate no faulty one: BFT needs 3f+1, at least 4; allowed: 4 to 9")
    elif (n - 1) % 3:
        p.warn(("ordering", "orderers"), f"{n} BFT consenters tolerate {(n - 1) // 3} faulty, as {n - (n - 1) % 3} do")
    if n > 9:
        p.error(("ordering", "organizations"), f"{n} orderers in all; allowed: 4 to 9")


def _check_kafka(spec: NetworkSpec, p: _Problems) -> None:
    if spec.ordering.type != "kafka":
        return
    k = spec.kafka
    kafka_consistent = k.replicationFactor <= k.brokers and k.minInsyncReplicas <= k.replicationFactor
    if k.replicationFactor > k.brokers:
        p.error(
            ("kafka", "replicationFactor"),
            f"{k.replicationFactor} is above the broker count {k.brokers}; allowed: 1 to {k.brokers}",
        )
    if k.minInsyncReplicas > k.replicationFactor:
        p.error(
            ("kafka", "minInsyncReplicas"),
            f"{k.minInsyncReplicas} is above replicationFactor {k.replicationFactor}; "
            f"allowed: 1 to {k.replicationFactor}",
        )
    if kafka_consistent:  # crash-tolerance advice only makes sense for settings that are possible
        _kafka_advice(k, p)
    for field, value in (("heap", k.heap),):
        if not JVM_HEAP.match(value):
            p.error(("kafka", field), f"{value!r} is not a JVM heap size like 256m or 1g")


def _kafka_advice(k: KafkaSpec, p: _Problems) -> None:
    """Warnings for possible settings that weaken crash tolerance (Fabric's Kafka guide)."""
    if k.replicationFactor == 1:
        p.warn(
            ("kafka", "replicationFactor"),
            "1 keeps a single copy of each channel: losing one broker "
            "loses the ordering service (Fabric's Kafka guide wants 1 < minInsyncReplicas < "
            "replicationFactor < brokers)",
        )
    elif k.replicationFactor >= k.brokers and k.brokers > 1:
        p.warn(
            ("kafka", "replicationFactor"),
            f"{k.replicationFactor} equals the broker count {k.brokers}: with one broker down no new "
            "channel can be created (Fabric's Kafka guide wants replicationFactor < brokers)",
        )
    if k.minInsyncReplicas == k.replicationFactor and k.replicationFactor > 1:
        p.warn(
            ("kafka", "minInsyncReplicas"),
            f"{k.minInsyncReplicas} equals replicationFactor: one broker down stops all writes",
        )
    elif k.minInsyncReplicas == 1 and k.replicationFactor > 1:
        p.warn(("kafka", "minInsyncReplicas"), "1 lets a write succeed on one copy: a crash can lose blocks")


def _check_zookeeper(spec: NetworkSpec, p: _Problems) -> None:
    if spec.ordering.type != "kafka":
        return
    z = spec.zookeeper
    if not JVM_HEAP.match(z.heap):
        p.error(("zookeeper", "heap"), f"{z.heap!r} is not a JVM heap size like 128m or 1g")
    if z.nodes % 2 == 0:
        p.warn(
            ("zookeeper", "nodes"),
            f"{z.nodes} is even: an ensemble of {z.nodes} tolerates no more failures "
            f"than {z.nodes - 1}; use an odd number",
        )
    if not kafka_metrics_fit(spec):
        p.warn(
            ("zookeeper", "nodes"),
            f"{z.nodes} ZooKeeper nodes and {spec.kafka.brokers} brokers leave no local ports for their "
            "metrics: locally they run without a Prometheus endpoint",
        )


def _check_organizations(spec: NetworkSpec, p: _Problems) -> None:
    o = spec.ordering
    _check_unique(p, spec.organizations, "name", ("organizations",), "organization name")
    _check_unique(p, spec.organizations, "domain", ("organizations",), "organization domain")
    for i, org in enumerate(spec.organizations):
        base = ("organizations", i)
        if not ORG_NAME.match(org.name) or len(org.name) > 50:
            p.error(
                base + ("name",),
                f"{org.name!r} must start with a letter and hold letters and digits only "
                "(it becomes the MSP ID and, lowercased, a Kubernetes namespace)",
            )
        if org.name.lower() in {x.name.lower() for x in o.orderer_orgs()}:
            p.error(base + ("name",), f"{org.name!r} clashes with an orderer organization's name")
        if not DNS_SUBDOMAIN.match(org.domain):
            p.error(base + ("domain",), f"{org.domain!r} is not a DNS domain (lowercase, dot-separated labels)")
        elif org.domain in {x.domain for x in o.orderer_orgs()}:
            p.error(base + ("domain",), f"{org.domain!r} is the orderer organization's domain; pick another")
        for j, anchor in enumerate(org.anchorPeers):
            if not 0 <= anchor < org.peers:
                p.error(base + ("anchorPeers", j), f"peer index {anchor} does not exist; allowed: 0 to {org.peers - 1}")
        if len(set(org.anchorPeers)) != len(org.anchorPeers):
            p.error(base + ("anchorPeers",), "lists the same peer twice")


def _check_channels(spec: NetworkSpec, p: _Problems) -> None:
    org_names = {org.name for org in spec.organizations}
    _check_unique(p, spec.channels, "name", ("channels",), "channel name")
    for i, ch in enumerate(spec.channels):
        base = ("channels", i)
        if not CHANNEL_NAME.match(ch.name):
            p.error(
                base + ("name",),
                f"{ch.name!r} is not a channel name (lowercase letter first, then "
                "lowercase letters, digits, '.' and '-')",
            )
        for j, org in enumerate(ch.organizations):
            if org not in org_names:
                p.error(
                    base + ("organizations", j), f"unknown organization {org!r}; known: " + ", ".join(sorted(org_names))
                )
        if len(set(ch.organizations)) != len(ch.organizations):
            p.error(base + ("organizations",), "lists the same organization twice")


def _check_chaincodes(spec: NetworkSpec, p: _Problems) -> None:
    channel_names = {ch.name for ch in spec.channels}
    _check_unique(p, spec.chaincodes, "name", ("chaincodes",), "chaincode name")
    for i, cc in enumerate(spec.chaincodes):
        base = ("chaincodes", i)
        _check_name(p, base + ("name",), cc.name)
        if cc.channel not in channel_names:
            p.error(
                base + ("channel",),
                f"unknown channel {cc.channel!r}; known: "
                + (", ".join(sorted(channel_names)) or "(no channels defined)"),
            )
        if cc.path.startswith("builtin:") and cc.path.removeprefix("builtin:") not in BUILTINS:
            p.error(
                base + ("path",),
                f"{cc.path!r} is not a built-in chaincode; allowed: " + ", ".join(f"builtin:{b}" for b in BUILTINS),
            )
        _check_collections(p, base, cc)
        if not VERSION_TEXT.match(cc.version):
            p.error(base + ("version",), f"{cc.version!r} may hold letters, digits, '.', '_', '+', '-' only")
        elif cc.image is None and not IMAGE_TAG.match(cc.version):
            p.error(
                base + ("version",),
                f"{cc.version!r} is the default image's tag, which allows letters, digits, '.', '_', '-' "
                "(no '+', not first '.' or '-'); set chaincodes[].image or change the version",
            )
        _check_derived_chaincode_names(spec, p, base, cc)


def _check_derived_chaincode_names(spec: NetworkSpec, p: _Problems, base: tuple, cc: ChaincodeSpec) -> None:
    """Names fabkube derives from a chaincode's must fit their limits: its Service cc-<name> a
    DNS label, its TLS certificates' common names X.509's 64 characters."""
    if len(f"cc-{cc.name}") > 63:
        p.error(base + ("name",), f"{cc.name!r} is {len(cc.name)} characters; allowed: at most 60 (Service cc-<name>)")
        return
    for org in spec.organizations:
        cn = f"peers.{cc.name}.chaincode.{org.domain}"  # the longer of its two certificates' names
        if len(cn) > CN_MAX:
            p.error(
                base + ("name",),
                f"{cc.name!r} makes the certificate name {cn!r} {len(cn)} characters long; X.509 allows "
                f"{CN_MAX}: shorten the chaincode name or {org.name}'s domain",
            )
            return


def _check_collections(p: _Problems, base: tuple, cc: ChaincodeSpec) -> None:
    _check_unique(p, cc.collections, "name", base + ("collections",), "collection name")
    for j, coll in enumerate(cc.collections):
        where = base + ("collections", j)
        if not COLLECTION_NAME.match(coll.name):
            p.error(where + ("name",), f"{coll.name!r} may hold letters, digits, '_' and '-', not first '_' or '-'")
        if coll.requiredPeerCount > coll.maxPeerCount:
            p.error(
                where + ("requiredPeerCount",),
                f"{coll.requiredPeerCount} is above maxPeerCount {coll.maxPeerCount}; "
                f"allowed: 0 to {coll.maxPeerCount}",
            )


def _check_resources(spec: NetworkSpec, p: _Problems) -> None:
    for kind, res in spec.resources:
        for side in ("requests", "limits"):
            r = getattr(res, side)
            if not QUANTITY_CPU.match(r.cpu):
                p.error(("resources", kind, side, "cpu"), f"{r.cpu!r} is not a CPU quantity like 100m or 1")
            if not QUANTITY_MEM.match(r.memory):
                p.error(("resources", kind, side, "memory"), f"{r.memory!r} is not a memory quantity like 256Mi")


def _check_kubernetes(spec: NetworkSpec, p: _Problems) -> None:
    kube = spec.kubernetes
    for field in ("namespacePrefix", "kafkaNamespace"):
        value = getattr(kube, field)
        if value is not None:
            _check_name(p, ("kubernetes", field), value)
    for i, ns in enumerate(kube.operationsFrom):
        _check_name(p, ("kubernetes", "operationsFrom", i), ns)
    _check_name(p, ("kubernetes", "prometheusRelease"), kube.prometheusRelease)
    if kube.kafkaMetricsAgent is not None and not kube.kafkaMetricsAgent.startswith("/"):
        p.error(("kubernetes", "kafkaMetricsAgent"), f"{kube.kafkaMetricsAgent!r} is not an absolute path in the image")
    if kube.monitoring == "prometheus-operator" and kube.networkPolicies and not kube.operationsFrom:
        p.warn(
            ("kubernetes", "operationsFrom"),
            "is empty: the NetworkPolicies keep Prometheus off every metrics port; add its namespace",
        )


def _check_namespace_lengths(spec: NetworkSpec, p: _Problems) -> None:
    """Kubernetes namespaces are <prefix>-<org> (and <prefix>-kafka): each a DNS label of 63 at most."""
    prefix = spec.kubernetes.namespacePrefix or spec.name
    where = ("kubernetes", "namespacePrefix") if spec.kubernetes.namespacePrefix else ("name",)
    orgs = [o.name for o in spec.ordering.orderer_orgs()] + [o.name for o in spec.organizations]
    suffixes = [*orgs, "kafka"] if spec.ordering.type == "kafka" else orgs
    longest = max(suffixes, key=len)
    ns = f"{prefix}-{longest.lower()}"
    if len(ns) > 63:
        p.error(
            where,
            f"makes the namespace {ns!r} {len(ns)} characters long; Kubernetes allows 63: "
            f"shorten it (at most {62 - len(longest)} characters) or set kubernetes.namespacePrefix",
        )


def _check_local(spec: NetworkSpec, p: _Problems) -> None:
    # Every local port comes from basePort; the block must fit below 65536.
    top = spec.local.basePort + local_port_count(spec)
    if top > 65535:
        p.error(
            ("local", "basePort"),
            f"{spec.local.basePort} leaves too few ports: this network needs "
            f"{local_port_count(spec)} ports above it; allowed: at most {65535 - local_port_count(spec)}",
        )


def _check_crypto(spec: NetworkSpec, p: _Problems) -> None:
    value = spec.crypto.validity
    if not LIFETIME.match(value):
        p.error(("crypto", "validity"), f"{value!r} is not a duration: a number and m, h, d or y, e.g. 30d or 10y")
    elif not 120 <= duration_seconds(value) <= 10 * 365 * 86400:
        p.error(("crypto", "validity"), f"{value!r}: allowed 2m to 10y (the CAs are valid for 10 years)")


_SECTION_CHECKS = (
    _check_crypto,
    _check_fabric,
    _check_ordering,
    _check_kafka,
    _check_zookeeper,
    _check_organizations,
    _check_channels,
    _check_chaincodes,
    _check_resources,
    _check_kubernetes,
    _check_namespace_lengths,
    _check_local,
)


def _semantic(spec: NetworkSpec, p: _Problems) -> None:
    _check_name(p, ("name",), spec.name)
    for check in _SECTION_CHECKS:
        check(spec, p)


# Local ports come in blocks upward from local.basePort, so that what a network has keeps its ports
# when it grows or changes ordering type (addresses are written into channel configs: orderer
# endpoints, Raft consenters, anchor peers, Kafka brokers; and a chaincode server's address is in
# its package, whose ID the definition names):
#   orderers    basePort + 0 ..  3 each, a block for 9 (more orderers widen it)
#   services    the next 42:     an ordering type's backing services (Kafka: 9 ZooKeeper x 3 + 15 brokers);
#                                from its top downward, metrics: the first 4 chaincode servers', then
#                                the services' own (Kafka: one per node) where they fit
#   chaincode   the next 4:      1 per chaincode server (more chaincodes widen it)
#   peers       then per org:    a block of 3 x 4 ports (an org with more peers widens every org's)
# So an org may be appended and an org's peers may grow to 4 without moving any port.
ORDERER_SLOTS = 9
SERVICE_BLOCK = kafka_ports.local_ports(9, 15)
CHAINCODE_SLOTS = 4
PEER_SLOTS = 4


def local_blocks(spec: NetworkSpec) -> tuple[int, int, int, int]:
    """The first local port of the orderers', the backing services', the chaincode servers' and the
    peers' blocks."""
    base = spec.local.basePort
    services = base + 3 * max(ORDERER_SLOTS, spec.ordering.orderer_count)
    chaincode = services + SERVICE_BLOCK
    return base, services, chaincode, chaincode + max(CHAINCODE_SLOTS, len(spec.chaincodes))


def kafka_metrics_fit(spec: NetworkSpec) -> bool:
    """Whether the ZooKeeper nodes' and brokers' metrics ports fit locally: the services block
    below its top CHAINCODE_SLOTS ports (the chaincode servers' metrics, topology.py)."""
    return kafka_ports.metrics_fit(spec.zookeeper.nodes, spec.kafka.brokers, SERVICE_BLOCK - CHAINCODE_SLOTS)


def peer_block(spec: NetworkSpec) -> int:
    """Ports of one org's block of peers."""
    return 3 * max([PEER_SLOTS, *(o.peers for o in spec.organizations)])


def local_port_count(spec: NetworkSpec) -> int:
    """How far above local.basePort the local target allocates (the blocks above, the last one's
    ports included)."""
    return local_blocks(spec)[3] - spec.local.basePort + peer_block(spec) * len(spec.organizations)


# ---------------------------------------------------------------- entry points


class _AliasCounter(yaml.SafeLoader):
    """Composes the document while counting aliases: an alias bomb (a few hundred bytes that expand
    to billions of nodes) is refused before anything walks or builds the expanded tree."""

    aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise UserError(
                    f"more than {MAX_ALIASES} YAML aliases (*name), the last at line {mark.line + 1}; "
                    "a spec needs few or none"
                )
        return super().compose_node(parent, index)


def _check_aliases(text: str, where: str) -> None:
    loader = _AliasCounter(text)
    try:
        loader.get_single_node()
    except UserError as exc:
        raise UserError(f"{where}{exc}") from None
    finally:
        loader.dispose()


def parse_spec(text: str, source: Path | None = None) -> LoadedSpec:
    where = f"{source}: " if source else ""
    if len(text) > MAX_SPEC_BYTES:
        raise UserError(f"{where}{len(text)} characters; a spec may have at most {MAX_SPEC_BYTES} (1 MiB)")
    try:
        _check_aliases(text, where)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise UserError(f"{where}not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}the spec must be a YAML mapping with at least 'name' and 'organizations'")
    problems = _Problems(_line_index(text))
    try:
        spec = NetworkSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            problems.error(tuple(err["loc"]), _pydantic_message(err))
        raise UserError([where + e for e in problems.errors]) from None
    _semantic(spec, problems)
    if problems.errors:
        raise UserError([where + e for e in problems.errors])
    return LoadedSpec(spec, [where + w for w in problems.warnings], source, text)


def load_spec(path: str | Path) -> LoadedSpec:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise UserError(f"{path}: {size} bytes; a spec may have at most {MAX_SPEC_BYTES} (1 MiB)")
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"spec file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"spec file {path} cannot be read: {exc.strerror}") from None
    return parse_spec(text, path)


def json_schema() -> dict:
    return NetworkSpec.model_json_schema()
