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


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FabricSpec(Model):
    version: str = DEFAULT_FABRIC_VERSION


class OrderingSpec(Model):
    type: Literal["kafka"] = "kafka"
    orderers: int = Field(1, ge=1, le=9)
    batchTimeout: str = "2s"
    maxMessageCount: int = Field(10, ge=1)
    absoluteMaxBytes: str = "10 MB"
    preferredMaxBytes: str = "512 KB"
    orgName: str = "OrdererOrg"
    domain: str = "example.com"


class KafkaSpec(Model):
    brokers: int = Field(3, ge=1, le=15)
    replicationFactor: int = Field(3, ge=1)
    minInsyncReplicas: int = Field(2, ge=1)
    heap: str = "256m"


class ZooKeeperSpec(Model):
    nodes: int = Field(3, ge=1, le=9)
    heap: str = "128m"


class OrganizationSpec(Model):
    name: str
    domain: str
    peers: int = Field(2, ge=1, le=9)
    users: int = Field(1, ge=0, le=20)
    anchorPeers: list[int] = Field(default_factory=lambda: [0])


class ChannelSpec(Model):
    name: str
    organizations: list[str] = Field(min_length=1)


class ChaincodeSpec(Model):
    name: str
    path: str
    channel: str
    version: str = "1.0"
    sequence: int = Field(1, ge=1)
    init: list[str] | None = None
    endorsementPolicy: str | None = None
    image: str | None = None


class ResourceSpec(Model):
    cpu: str
    memory: str


class ComponentResources(Model):
    requests: ResourceSpec
    limits: ResourceSpec


def _res(cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str) -> ComponentResources:
    return ComponentResources(
        requests=ResourceSpec(cpu=cpu_req, memory=mem_req), limits=ResourceSpec(cpu=cpu_lim, memory=mem_lim)
    )


# Sized so the whole seed topology (3 zk, 3 kafka, 1 orderer, 2 peers, 1 chaincode, the
# lifecycle job) requests well under 2 vCPU / 4 GiB: the user's node hit 100% CPU.
class ResourcesSpec(Model):
    zookeeper: ComponentResources = Field(default_factory=lambda: _res("50m", "256Mi", "500m", "384Mi"))
    kafka: ComponentResources = Field(default_factory=lambda: _res("100m", "512Mi", "1", "640Mi"))
    orderer: ComponentResources = Field(default_factory=lambda: _res("100m", "128Mi", "1", "512Mi"))
    peer: ComponentResources = Field(default_factory=lambda: _res("100m", "192Mi", "1", "512Mi"))
    chaincode: ComponentResources = Field(default_factory=lambda: _res("25m", "64Mi", "250m", "256Mi"))
    tools: ComponentResources = Field(default_factory=lambda: _res("50m", "64Mi", "500m", "256Mi"))


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class PlacementSpec(Model):
    nodeSelector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    spread: bool = True
    priorityClassName: str | None = None


class PlacementsSpec(Model):
    zookeeper: PlacementSpec = Field(default_factory=PlacementSpec)
    kafka: PlacementSpec = Field(default_factory=PlacementSpec)
    orderer: PlacementSpec = Field(default_factory=PlacementSpec)
    peer: PlacementSpec = Field(default_factory=PlacementSpec)
    chaincode: PlacementSpec = Field(default_factory=PlacementSpec)
    tools: PlacementSpec = Field(default_factory=PlacementSpec)


class ImagesSpec(Model):
    registry: str = "docker.io"
    pullSecrets: list[str] = Field(default_factory=list)


class KubernetesSpec(Model):
    namespacePrefix: str | None = None
    kafkaNamespace: str | None = None
    storageClass: str | None = None
    storage: dict[str, str] = Field(
        default_factory=lambda: {"zookeeper": "1Gi", "kafka": "2Gi", "orderer": "1Gi", "peer": "1Gi"}
    )
    placement: PlacementsSpec = Field(default_factory=PlacementsSpec)
    images: ImagesSpec = Field(default_factory=ImagesSpec)


class LocalSpec(Model):
    basePort: int = Field(17000, ge=1024, le=65535)


class NetworkSpec(Model):
    name: str
    fabric: FabricSpec = Field(default_factory=FabricSpec)
    tls: bool = True
    ordering: OrderingSpec = Field(default_factory=OrderingSpec)
    kafka: KafkaSpec = Field(default_factory=KafkaSpec)
    zookeeper: ZooKeeperSpec = Field(default_factory=ZooKeeperSpec)
    organizations: list[OrganizationSpec] = Field(min_length=1)
    channels: list[ChannelSpec] = Field(default_factory=list)
    chaincodes: list[ChaincodeSpec] = Field(default_factory=list)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    local: LocalSpec = Field(default_factory=LocalSpec)

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


def _check_kafka(spec: NetworkSpec, p: _Problems) -> None:
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
    z = spec.zookeeper
    if not JVM_HEAP.match(z.heap):
        p.error(("zookeeper", "heap"), f"{z.heap!r} is not a JVM heap size like 128m or 1g")
    if z.nodes % 2 == 0:
        p.warn(
            ("zookeeper", "nodes"),
            f"{z.nodes} is even: an ensemble of {z.nodes} tolerates no more failures "
            f"than {z.nodes - 1}; use an odd number",
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
        if org.name.lower() == o.orgName.lower():
            p.error(base + ("name",), f"{org.name!r} clashes with the orderer organization ordering.orgName")
        if not DNS_SUBDOMAIN.match(org.domain):
            p.error(base + ("domain",), f"{org.domain!r} is not a DNS domain (lowercase, dot-separated labels)")
        elif org.domain == o.domain:
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
        if cc.path.startswith("builtin:"):
            from fabkube.chaincode import BUILTINS

            if cc.path.removeprefix("builtin:") not in BUILTINS:
                p.error(
                    base + ("path",),
                    f"{cc.path!r} is not a built-in chaincode; allowed: " + ", ".join(f"builtin:{b}" for b in BUILTINS),
                )
        if not re.match(r"^[A-Za-z0-9_.+-]+$", cc.version):
            p.error(base + ("version",), f"{cc.version!r} may hold letters, digits, '.', '_', '+', '-' only")


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


def _check_local(spec: NetworkSpec, p: _Problems) -> None:
    # Every local port comes from basePort; the block must fit below 65536.
    from fabkube.topology import local_port_count

    top = spec.local.basePort + local_port_count(spec)
    if top > 65535:
        p.error(
            ("local", "basePort"),
            f"{spec.local.basePort} leaves too few ports: this network needs "
            f"{local_port_count(spec)} consecutive ports; allowed: at most {65535 - local_port_count(spec)}",
        )


_SECTION_CHECKS = (
    _check_fabric,
    _check_ordering,
    _check_kafka,
    _check_zookeeper,
    _check_organizations,
    _check_channels,
    _check_chaincodes,
    _check_resources,
    _check_kubernetes,
    _check_local,
)


def _semantic(spec: NetworkSpec, p: _Problems) -> None:
    _check_name(p, ("name",), spec.name)
    for check in _SECTION_CHECKS:
        check(spec, p)


# ---------------------------------------------------------------- entry points


def parse_spec(text: str, source: Path | None = None) -> LoadedSpec:
    where = f"{source}: " if source else ""
    try:
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
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"spec file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"spec file {path} cannot be read: {exc.strerror}") from None
    return parse_spec(text, path)


def json_schema() -> dict:
    return NetworkSpec.model_json_schema()
