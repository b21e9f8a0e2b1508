"""The upgrade's refusals and its V3_0 config edit, against nodes' /version from loopback HTTP
servers standing in for operations endpoints and channel configs as configtxlator decodes them.
(The upgrade itself runs against real networks: e2e/test_migration.py.)"""

import base64
from contextlib import contextmanager

import pytest
import yaml
from conftest import EXAMPLES
from test_migration_checks import operations

from fabkube.channel.config import FetchedConfig
from fabkube.errors import UserError
from fabkube.layout import Layout
from fabkube.migration import raft_to_bft
from fabkube.migration.host import NodeReach
from fabkube.migration.raft_to_bft import RaftToBft, switched
from fabkube.migration.upgrade import Upgrade, v3_config, version_spec_text
from fabkube.reconcile.plan import diff
from fabkube.reporter import SilentReporter
from fabkube.spec import parse_spec
from fabkube.toolchain import Toolchain
from fabkube.topology import build_topology


class Host:
    def __init__(self, tmp_path, example="raft.yaml", version="2.5.9"):
        text = (EXAMPLES / example).read_text().replace("version: 2.5.9", f"version: {version}")
        spec = parse_spec(text).spec
        self.layout = Layout(tmp_path, build_topology(spec, "local"))
        self.tools = Toolchain()
        self.report = SilentReporter()
        self.recorded_version = version


def channel(app_caps=("V2_5",), endpoints=True, type_="etcdraft", state="STATE_NORMAL", addresses=True) -> dict:
    caps = lambda names: {"value": {"capabilities": {n: {} for n in names}}}  # noqa: E731
    org = {"values": {"Endpoints": {"value": {"addresses": ["127.0.0.1:7050"]}}}} if endpoints else {"values": {}}
    values = {"Capabilities": caps(["V2_0"])}
    if addresses:
        values["OrdererAddresses"] = {"value": {"addresses": ["127.0.0.1:7050"]}, "mod_policy": "Admins"}
    return {
        "channel_group": {
            "values": values,
            "groups": {
                "Orderer": {
                    "groups": {"OrdererOrg": org},
                    "values": {"ConsensusType": {"value": {"type": type_, "state": state, "metadata": None}}},
                },
                "Application": {
                    "values": {"Capabilities": caps(app_caps)},
                    "groups": {"Org1MSP": {"values": {"MSP": {"value": {"config": {"name": "Org1MSP"}}}}}},
                    "mod_policy": "Admins",
                    "policies": {
                        "Admins": {"policy": {"type": 3, "value": {"rule": "MAJORITY", "sub_policy": "Admins"}}}
                    },
                },
            },
        }
    }


def check(tmp_path, versions: list[str], configs: dict[str, dict]) -> str:
    procedure = Upgrade(Host(tmp_path), "3.1.1")
    procedure.ops_tls = lambda _node: None  # the stand-ins speak plain HTTP
    with operations(versions[0]) as a, operations(versions[1]) as b:
        nodes = [NodeReach("orderer0", "orderer", None, a), NodeReach("peer0.org1", "peer", None, b)]
        fetched = {ch: FetchedConfig(ch, 3, cfg) for ch, cfg in configs.items()}
        return procedure.check(nodes, procedure.versions(nodes), fetched)


def test_a_raft_25_network_passes(tmp_path):
    assert check(tmp_path, ["2.5.9", "2.5.9"], {"mychannel": channel()}) == "2 nodes on Fabric 2.5.9, 1 channels"


def test_a_network_half_way_passes_to_be_finished(tmp_path):
    assert "on Fabric 2.5.9, 3.1.1" in check(tmp_path, ["3.1.1", "2.5.9"], {"mychannel": channel()})


def test_every_problem_is_named_per_channel(tmp_path):
    with pytest.raises(UserError) as err:
        check(tmp_path, ["2.5.9", "2.5.9"], {
            "old": channel(app_caps=("V1_4_2",)),
            "bare": channel(endpoints=False),
            "midway": channel(state="STATE_MAINTENANCE"),
        })  # fmt: skip
    assert err.value.problems == [
        "upgrade: channel old: Application capabilities ['V1_4_2']; Fabric 3 needs V2_0 or V2_5 (the v2 chaincode "
        "lifecycle): raise them with a config update first",
        "upgrade: channel bare: orderer orgs OrdererOrg have no endpoints in the channel config; Fabric 3 reads "
        "only those: add them with a config update first",
        "upgrade: channel midway: in maintenance mode (a migration unfinished?); finish it first",
    ]


def test_too_few_member_admins_to_sign_the_capability_is_refused_in_the_check(tmp_path):
    cfg = channel()
    app = cfg["channel_group"]["groups"]["Application"]
    app["groups"]["Org9MSP"] = {"values": {"MSP": {"value": {"config": {"name": "Org9MSP"}}}}}
    app["policies"]["Admins"]["policy"]["value"]["rule"] = "ALL"
    with pytest.raises(UserError, match="channel mychannel: raising its capability needs 2 member orgs' admins to "
                                        "sign and fabkube holds the keys of 1"):  # fmt: skip
        check(tmp_path, ["2.5.9", "2.5.9"], {"mychannel": cfg})


def test_a_node_that_does_not_answer_is_named(tmp_path):
    procedure = Upgrade(Host(tmp_path), "3.1.1")
    with pytest.raises(UserError, match=r"orderer0: no /version on the operations endpoint; are they running\?"):
        procedure.check([], {"orderer0": None}, {"mychannel": FetchedConfig("mychannel", 3, channel())})


@pytest.mark.parametrize(
    "example, recorded, target, message",
    [
        ("seed.yaml", "2.5.9", "3.1.1", "orders with Kafka, which Fabric 3 no longer has: run `fabkube migrate"),
        ("raft.yaml", "3.1.1", "2.5.9", "the network runs 3.1.1; Fabric has no downgrade"),
        ("raft.yaml", "2.5.9", "3.0.0", "not a version fabkube builds; allowed: 2.5.9, 3.1.1"),
        ("raft.yaml", "2.5.9", "2.5.16", "not a version fabkube builds; allowed: 2.5.9, 3.1.1"),
    ],
)
def test_what_the_work_dir_says_is_refused_before_any_node_is_read(tmp_path, example, recorded, target, message):
    procedure = Upgrade(Host(tmp_path, example, recorded), target)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("`", ".")):
        procedure.refuse_early()


def test_v3_config_sets_v3_0_and_drops_only_the_channel_wide_addresses():
    before = channel()
    after = v3_config(FetchedConfig("mychannel", 3, before))
    assert after["channel_group"]["values"] == {"Capabilities": {"value": {"capabilities": {"V3_0": {}}}}}
    assert after["channel_group"]["groups"] == before["channel_group"]["groups"]
    assert "OrdererAddresses" in before["channel_group"]["values"]  # the fetched config is left as it was


def test_version_spec_text_changes_the_version_only():
    text = (EXAMPLES / "raft.yaml").read_text()
    new = parse_spec(version_spec_text(text, "3.1.1")).spec
    old = parse_spec(text).spec
    assert new.fabric.version == "3.1.1" and yaml.safe_load(version_spec_text(text, "3.1.1"))["ordering"]
    assert new.ordering == old.ordering and new.organizations == old.organizations and new.local == old.local


def test_plan_points_a_version_change_at_upgrade_and_an_old_version_at_the_new_one():
    old = parse_spec((EXAMPLES / "raft.yaml").read_text()).spec
    new = parse_spec(version_spec_text((EXAMPLES / "raft.yaml").read_text(), "3.1.1")).spec
    up = diff(old, new, "local", "here")
    assert "`fabkube upgrade --fabric 3.1.1 --network raft`" in " ".join(up.refusals)
    back = diff(new, old, "local", "here")
    assert "fabric.version: 2.5.9, but network raft runs Fabric 3.1.1 (here): keep 3.1.1" in back.refusals


# ---------------------------------------------------------------- Raft to BFT


def raft_channel(consenters, caps=("V3_0",), orderer_caps=("V2_0",)) -> dict:
    """`consenters`: (host, port, base64 TLS certificate) as the etcdraft metadata holds them."""
    cfg = channel(addresses=False)
    cfg["channel_group"]["values"]["Capabilities"] = {"value": {"capabilities": {c: {} for c in caps}}}
    orderer = cfg["channel_group"]["groups"]["Orderer"]["values"]
    orderer["Capabilities"] = {"value": {"capabilities": {c: {} for c in orderer_caps}}}
    orderer["ConsensusType"]["value"]["metadata"] = {
        "consenters": [{"host": h, "port": p, "client_tls_cert": c, "server_tls_cert": c} for h, p, c in consenters]
    }
    return cfg


class BftHost(Host):
    def __init__(self, tmp_path, orderers: int, version: str, node_version: str, ops):
        super().__init__(tmp_path, "raft.yaml", version)
        text = (EXAMPLES / "raft.yaml").read_text().replace("version: 2.5.9", f"version: {version}")
        self.layout.spec_copy.write_text(text.replace("orderers: 3", f"orderers: {orderers}"))
        spec = parse_spec(self.layout.spec_copy.read_text()).spec
        self.layout = Layout(tmp_path, build_topology(spec, "local"))
        self.ops = ops

    @contextmanager
    def nodes(self):
        yield [NodeReach(o.name, "orderer", o.org, self.ops) for o in self.layout.topo.orderers]


def bft_check(tmp_path, orderers: int, node_version: str, config_of, monkeypatch) -> str:
    # configtxgen's BFT values are made once the check passes: the real ones need real crypto.
    monkeypatch.setattr(raft_to_bft, "bft_orderer_values", lambda *a: {"made": True})
    with operations(node_version) as ep:
        host = BftHost(tmp_path, orderers, "3.1.1", node_version, ep)
        host.layout.topo.spec.tls = False  # the stand-in speaks plain HTTP
        consenters = []
        for o in host.layout.topo.orderers:
            cert = host.layout.node_tls(o) / "server.crt"
            cert.parent.mkdir(parents=True, exist_ok=True)
            cert.write_bytes(f"cert of {o.name}".encode())
            consenters.append((o.address.host, o.address.port, base64.b64encode(cert.read_bytes()).decode()))
        procedure = RaftToBft(host)
        return procedure.check([], {"mychannel": FetchedConfig("mychannel", 5, config_of(consenters))})


def test_four_raft_consenters_on_3_1_1_may_move_to_bft(tmp_path, monkeypatch):
    assert bft_check(tmp_path, 4, "3.1.1", raft_channel, monkeypatch) == "0 consenters on Fabric 3.1.1, 1 channels"


def test_a_consenter_with_another_tls_certificate_is_refused(tmp_path, monkeypatch):
    def renewed(cs):
        return raft_channel([*cs[:3], (cs[3][0], cs[3][1], "b2xk")])

    with pytest.raises(UserError, match="not the spec's orderers with their current TLS certificates"):
        bft_check(tmp_path, 4, "3.1.1", renewed, monkeypatch)


def test_bft_refuses_fewer_than_four_old_nodes_other_consenters_and_low_capabilities(tmp_path, monkeypatch):
    with pytest.raises(UserError) as err:
        bft_check(tmp_path, 3, "2.5.9", lambda cs: raft_channel(cs[:2], caps=("V2_0",)), monkeypatch)
    text = "\n".join(err.value.problems)
    assert "BFT needs every node on Fabric 3: run `fabkube upgrade --fabric 3.1.1`" in text
    assert "channel mychannel: Channel capabilities ['V2_0']; BFT needs V3_0" in text
    assert "its Raft consenters (127.0.0.1:" in text and "are not the spec's orderers" in text
    assert "ordering.orderers: 3 BFT consenter(s) tolerate no faulty one" in text
    assert "(line " not in text


def test_switched_sets_type_mapping_and_policy_and_keeps_maintenance():
    cfg = raft_channel([("127.0.0.1", 7050, "Y2VydA==")])
    cfg["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]["state"] = "STATE_MAINTENANCE"
    cfg["channel_group"]["groups"]["Orderer"]["policies"] = {
        "BlockValidation": {"mod_policy": "Admins", "policy": {"type": 3, "value": {"rule": "ANY"}}}
    }
    values = {
        "metadata": {"request_batch_max_count": "100"},
        "Orderers": {"mod_policy": "Admins", "value": {"consenter_mapping": [{"id": 1}]}},
        "BlockValidation": {"mod_policy": "Admins", "policy": {"type": 1, "value": {"rule": {"n_out_of": {"n": 1}}}}},
    }
    new = switched(FetchedConfig("mychannel", 5, cfg), values)
    orderer = new["channel_group"]["groups"]["Orderer"]
    ct = orderer["values"]["ConsensusType"]["value"]
    assert (ct["type"], ct["state"], ct["metadata"]) == ("BFT", "STATE_MAINTENANCE", values["metadata"])
    assert orderer["values"]["Orderers"] == values["Orderers"]
    assert orderer["policies"]["BlockValidation"]["policy"]["type"] == 1
    assert cfg["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]["type"] == "etcdraft"
