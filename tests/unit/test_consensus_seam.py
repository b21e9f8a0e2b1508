"""The consensus seam is real: a new ordering type is one Consensus subclass, and the topology,
configtx, orderer settings, readiness, local components and manifests all follow it."""

from pathlib import Path

import pytest
from conftest import EXAMPLES

from fabkube.backends.k8s import manifests
from fabkube.channel.configtx import render_configtx
from fabkube.components import Component, Health, local_components
from fabkube.consensus import CONSENSUS, Consensus, consensus_for, register
from fabkube.layout import Layout
from fabkube.spec import load_spec
from fabkube.topology import Endpoint, build_topology

PROBE = {"exec": {"command": ["true"]}}


class SidecarConsensus(Consensus):
    """An ordering type whose orderers need one backing "sidecar" service and nothing of Kafka."""

    type = "sidecar"
    service_titles = (("sidecar", "sidecar service"),)
    orderer_title = "orderers (sidecar)"

    def add_nodes(self, topo, endpoint):
        topo.sidecar = endpoint(f"sidecar.{topo.services_namespace}", "orderer_admin")

    def configtx_orderer(self, topo):
        return {"OrdererType": "sidecar", "Sidecar": {"Address": str(topo.sidecar)}}

    def orderer_env(self, topo, node, tls: Path):
        return {"ORDERER_SIDECAR_ADDRESS": str(topo.sidecar)}

    def local_components(self, layout, tools):
        ep = layout.topo.sidecar
        return [Component("sidecar-0", "sidecar", ["true"], {}, {}, [ep], Health("tcp", ep), layout.root)]

    def service_ready(self, comp, layout):
        return lambda: True

    def orderer_health(self, node):
        return Health("orderer", node.address)

    def orderer_ready(self, endpoint: Endpoint, log, offset, channels):
        return True

    def k8s_files(self, layout):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sidecar"}}
        return {"sidecar.yaml": [cm]}

    def orderer_probes(self, node):
        return PROBE, PROBE, PROBE


@pytest.fixture()
def sidecar_spec():
    register(SidecarConsensus())
    loaded = load_spec(EXAMPLES / "seed.yaml")
    spec = loaded.spec.model_copy(update={"ordering": loaded.spec.ordering.model_copy(update={"type": "sidecar"})})
    yield spec
    CONSENSUS.pop("sidecar")


def test_kafka_is_the_registered_default():
    assert consensus_for("kafka").service_kinds == ("zookeeper", "kafka")
    with pytest.raises(ValueError, match="no consensus implementation for ordering type 'raft'"):
        consensus_for("raft")


def test_a_new_consensus_renders_through_every_seam(sidecar_spec, tools, tmp_path, monkeypatch):
    topo = build_topology(sidecar_spec, "local")
    assert topo.consensus.type == "sidecar" and not topo.zookeepers and not topo.kafkas
    layout = Layout(tmp_path, topo)

    orderer = render_configtx(layout)["Profiles"]["SystemChannel"]["Orderer"]
    assert orderer["OrdererType"] == "sidecar" and orderer["Sidecar"] == {"Address": str(topo.sidecar)}
    assert "Kafka" not in orderer

    comps = local_components(layout, tools)
    assert [c.kind for c in comps][:2] == ["sidecar", "orderer"]
    env = next(c for c in comps if c.kind == "orderer").env
    assert env["ORDERER_SIDECAR_ADDRESS"] == str(topo.sidecar)
    assert not [k for k in env if k.startswith("ORDERER_KAFKA")]

    k8s = Layout(tmp_path / "k8s", build_topology(sidecar_spec, "k8s"))
    startup, ready, live = manifests._fabric_probes(k8s.topo.orderers[0], k8s.topo)
    assert startup == ready == live == PROBE
    for builder in ("namespace_objects", "orderer_objects", "peer_objects", "chaincode_objects", "lifecycle_objects"):
        monkeypatch.setattr(manifests, builder, lambda *_a, **_k: [])
    files = manifests.render_objects(k8s, {})
    assert "sidecar.yaml" in files and "kafka.yaml" not in files and "zookeeper.yaml" not in files
