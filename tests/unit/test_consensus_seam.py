"""The ordering seam is real: an ordering type is a model plus a local and a Kubernetes part,
registered under its name, and nothing else changes.

A solo-like type with no backing services runs unpatched through the topology, the real crypto,
configtx and the real configtxgen, the local backend's components and steps, and the rendered
Kubernetes manifests. A Raft-shaped variant shows the model can drop the system channel (orderers
join channels through the channel participation API) and ask for consenters' client pairs.
"""

from pathlib import Path

import pytest
from conftest import EXAMPLES
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from fabkube.backends.k8s.render import render
from fabkube.backends.local.network import LocalNetwork
from fabkube.channel.configtx import render_configtx
from fabkube.components import orderer_env
from fabkube.consensus.k8s import K8sOrdering, k8s_part, register_k8s
from fabkube.consensus.local import LocalOrdering, Stage, local_part, register_local
from fabkube.consensus.model import OrderingModel, TlsPair, ordering_model, register_model
from fabkube.crypto.msp import generate_crypto
from fabkube.generate import network_toolchain
from fabkube.health import tcp_open
from fabkube.layout import Layout
from fabkube.spec import LoadedSpec, load_spec
from fabkube.topology import build_topology


@register_model
class NoServiceModel(OrderingModel):
    """Solo-like: the orderers order by themselves (Fabric 2.5's solo consenter), nothing beside them."""

    type = "noservice"

    def configtx_orderer(self, orderers, tls_dir):
        return {"OrdererType": "solo"}

    def orderer_env(self, node, tls):
        return {"ORDERER_GENERAL_KEEPALIVE_SERVERINTERVAL": "7200s"}


@register_model
class ParticipationModel(NoServiceModel):
    """Raft-shaped: no system channel, and a client pair beside each orderer's server pair."""

    type = "participation"
    system_channel = False

    def tls_pairs(self, orderers):
        return [TlsPair(o.org, f"orderers/{o.fqdn}/tls", o.fqdn, (o.fqdn, o.hostname), role="client") for o in orderers]


class NoServiceLocal(LocalOrdering):
    type = "noservice"
    orderer = Stage("orderer", "orderers (solo)", 60.0, "its gRPC port")

    def orderer_ready(self, node, log, offset, channels, ops_tls):
        return tcp_open(node.address)


class NoServiceK8s(K8sOrdering):
    type = "noservice"

    def orderer_probes(self, node, tls):
        probe = {"tcpSocket": {"port": node.address.port}, "periodSeconds": 5, "timeoutSeconds": 3}
        return probe, probe, probe


register_local(NoServiceLocal())
register_k8s(NoServiceK8s())


def _loaded(ordering_type: str) -> LoadedSpec:
    """The seed, of another ordering type (spec.py's `ordering.type` lists only the shipped ones)."""
    seed = load_spec(EXAMPLES / "seed.yaml")
    ordering = seed.spec.ordering.model_copy(update={"type": ordering_type})
    text = seed.text.replace("type: kafka", f"type: {ordering_type}")
    return LoadedSpec(seed.spec.model_copy(update={"ordering": ordering}), [], None, text)


def _verify(child: x509.Certificate, parent: x509.Certificate) -> None:
    parent.public_key().verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))


def test_types_are_found_by_name():
    kafka = ordering_model("kafka")
    assert kafka.toolchain_parts == ("kafka",) and kafka.system_channel
    assert local_part("kafka").type == k8s_part("kafka").type == "kafka"
    assert [s.kind for s in local_part("kafka").stages] == ["zookeeper", "kafka"]
    raft = ordering_model("raft")
    assert raft.toolchain_parts == () and not raft.system_channel
    assert local_part("raft").stages == () and k8s_part("raft").type == "raft"
    bft = ordering_model("bft")
    assert bft.toolchain_parts == () and not bft.system_channel and bft.title == "BFT"
    assert local_part("bft").stages == () and k8s_part("bft").type == "bft"
    with pytest.raises(ValueError, match="no ordering model for ordering type 'pbft'"):
        ordering_model("pbft")
    with pytest.raises(ValueError, match="no local deployment for ordering type 'participation'"):
        local_part("participation")


def test_a_type_without_services_runs_through_every_seam(tools, tmp_path):
    loaded = _loaded("noservice")
    spec = loaded.spec
    assert network_toolchain(spec).parts == ()  # no Kafka jars

    topo = build_topology(spec, "local")
    assert isinstance(topo.ordering, NoServiceModel)
    assert topo.ordering.services == [] and topo.ordering.namespaces == []
    assert topo.orderers[0].address.port == spec.local.basePort  # no service took a port before it

    layout = Layout(tmp_path / "local", topo)
    # orderer + admin, 2 peers + admin + user, mycc's server and peer-client pairs; no broker pair
    assert generate_crypto(topo, layout.crypto) == 1 + 1 + 2 + 1 + 1 + 2
    assert not (layout.org_dir(topo.orderer_org) / "kafka").exists()

    orderer = render_configtx(layout)["Profiles"]["SystemChannel"]["Orderer"]
    assert orderer["OrdererType"] == "solo" and "Kafka" not in orderer

    net = LocalNetwork(loaded, tmp_path / "local", tools)
    comps = net.components()
    assert [c.kind for c in comps] == ["orderer", "peer", "peer", "chaincode"]
    env = comps[0].env
    assert env["ORDERER_GENERAL_KEEPALIVE_SERVERINTERVAL"] == "7200s"
    assert env["ORDERER_GENERAL_BOOTSTRAPMETHOD"] == "file" and "ORDERER_GENERAL_BOOTSTRAPFILE" in env
    assert not [k for k in env if k.startswith("ORDERER_KAFKA")]
    titles = [a.title for a in net.actions()]
    assert titles[3:5] == ["orderers (solo)", "peers (healthy, listening)"]
    assert not [t for t in titles if "Kafka" in t or "ZooKeeper" in t]

    rendered = render(loaded, tmp_path / "k8s", tools)  # the real configtxgen makes a solo genesis block
    assert list(rendered.files) == [
        "namespaces.yaml",
        "network-policies.yaml",
        "orderers.yaml",
        "peers.yaml",
        "chaincode.yaml",
        "lifecycle.yaml",
    ]
    namespaces = [o["metadata"]["name"] for o in rendered.files["namespaces.yaml"]]
    assert namespaces == ["seed-ordererorg", "seed-org1"]
    # No services: the namespaces' default deny and the nodes' own policies, nothing of Kafka's.
    policies = sorted(o["metadata"]["name"] for o in rendered.files["network-policies.yaml"])
    assert policies == ["seed-chaincode", "seed-default-deny", "seed-default-deny", "seed-orderers", "seed-peers"]
    sts = next(o for o in rendered.files["orderers.yaml"] if o["kind"] == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    probe = {"tcpSocket": {"port": 7050}, "periodSeconds": 5, "timeoutSeconds": 3}
    assert container["startupProbe"] == container["readinessProbe"] == container["livenessProbe"] == probe
    assert not [e for e in container["env"] if e["name"].startswith("ORDERER_KAFKA")]


def test_a_type_without_a_system_channel_and_with_consenter_client_pairs(tmp_path):
    topo = build_topology(_loaded("participation").spec, "k8s")
    layout = Layout(tmp_path, topo)
    generate_crypto(topo, layout.crypto)
    tlsca = x509.load_pem_x509_certificate(layout.tls_ca(topo.orderer_org).read_bytes())
    for o in topo.orderers:
        tls = layout.node_tls(o)
        assert {"server.crt", "server.key", "client.crt", "client.key", "ca.crt"} <= {p.name for p in tls.iterdir()}
        _verify(x509.load_pem_x509_certificate((tls / "client.crt").read_bytes()), tlsca)

    env = orderer_env(topo, topo.orderers[0], layout, "/data")
    assert env["ORDERER_GENERAL_BOOTSTRAPMETHOD"] == "none" and "ORDERER_GENERAL_BOOTSTRAPFILE" not in env


def test_bft_configtx_maps_every_consenter_by_its_enrollment_certificate(tmp_path):
    """examples/bft.yaml: OrdererType BFT, a ConsenterMapping with IDs from 1 (SmartBFT refuses 0)
    whose Identity is each orderer's enrollment certificate (how a node finds itself), every
    SmartBFT option written, channel capability V3_0 and no channel-wide orderer Addresses (an
    error at V3_0; each org's OrdererEndpoints instead)."""
    topo = build_topology(load_spec(EXAMPLES / "bft.yaml").spec, "local")
    layout = Layout(tmp_path, topo)
    generate_crypto(topo, layout.crypto)
    configtx = render_configtx(layout)
    orderer = configtx["Orderer"]
    assert orderer["OrdererType"] == "BFT" and "Addresses" not in orderer
    mapping = orderer["ConsenterMapping"]
    assert [m["ID"] for m in mapping] == [1, 2, 3, 4]
    for m, node in zip(mapping, topo.orderers, strict=True):
        identity = x509.load_pem_x509_certificate(Path(m["Identity"]).read_bytes())
        assert identity.subject.rfc4514_string().startswith(f"CN={node.fqdn}"), identity.subject
        assert (m["Host"], m["Port"], m["MSPID"]) == (node.address.host, node.address.port, node.org.msp_id)
    assert set(orderer["SmartBFT"]) >= {"RequestBatchMaxCount", "LeaderHeartbeatTimeout", "SpeedUpViewChange"}
    profile = configtx["Profiles"]["Channel_mychannel"]
    assert profile["Capabilities"] == {"V3_0": True} and profile["Orderer"]["OrdererType"] == "BFT"
    assert configtx["Organizations"][0]["OrdererEndpoints"] == [str(o.address) for o in topo.orderers]
    model = topo.ordering
    assert [model.quorum(n) for n in (4, 5, 7, 10)] == [3, 4, 5, 7]
