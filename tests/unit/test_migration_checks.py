"""The migration's preconditions against what orderers answer: /version from a loopback HTTP server
standing in for each orderer's operations endpoint, channel configs as configtxlator decodes them.
(The real refusal of a channel below the capability runs against a real network: e2e/test_migration.py.)"""

import http.server
import json
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES

from fabkube.channel.config import FetchedConfig
from fabkube.errors import UserError
from fabkube.layout import Layout
from fabkube.migration.host import OrdererReach
from fabkube.migration.kafka_to_raft import KafkaToRaft, Observed, View, raft_spec_text
from fabkube.nodes import Endpoint
from fabkube.reporter import SilentReporter
from fabkube.spec import parse_spec
from fabkube.toolchain import Toolchain
from fabkube.topology import build_topology


@contextmanager
def operations(version: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"Version": version, "CommitSHA": "x"}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Endpoint("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()


def config(orderer_caps=("V2_0",), channel_caps=("V2_0",), type_="kafka", state="STATE_NORMAL") -> dict:
    caps = lambda names: {"value": {"capabilities": {n: {} for n in names}}}  # noqa: E731
    return {
        "channel_group": {
            "values": {"Capabilities": caps(channel_caps)},
            "groups": {
                "Orderer": {
                    "values": {
                        "Capabilities": caps(orderer_caps),
                        "ConsensusType": {"value": {"type": type_, "state": state, "metadata": None}},
                    }
                }
            },
        }
    }


class Host:
    recorded_type = "kafka"

    def __init__(self, tmp_path: Path):
        spec = parse_spec((EXAMPLES / "ha.yaml").read_text()).spec
        self.layout = Layout(tmp_path, build_topology(spec, "local"))
        self.tools = Toolchain()
        self.report = SilentReporter()


def observed(channels: dict[str, dict]) -> Observed:
    obs = Observed(list(channels))
    for ch, cfg in channels.items():
        obs.views[ch] = {f"orderer{i}": View(FetchedConfig(ch, 3, cfg), 4) for i in range(3)}
    return obs


def check(tmp_path, versions, channels) -> str:
    procedure = KafkaToRaft(Host(tmp_path))
    procedure.ops_tls = None  # the stand-in endpoints speak plain HTTP
    with operations(versions[0]) as a, operations(versions[1]) as b, operations(versions[2]) as c:
        reach = [OrdererReach(f"orderer{i}", e, e, e) for i, e in enumerate((a, b, c))]
        return procedure.check(reach, observed(channels))


def test_one_version_and_capabilities_pass(tmp_path):
    detail = check(tmp_path, ["2.5.9"] * 3, {"system-channel": config(), "hachannel": config()})
    assert detail == "3 orderers on Fabric 2.5.9, 2 channels"


def test_mixed_orderer_versions_are_refused(tmp_path):
    with pytest.raises(UserError, match=r"orderers run different Fabric versions \(orderer0 2.5.9, orderer1 2.5.9, "
                                        r"orderer2 2.4.7\): upgrade them to one version first"):  # fmt: skip
        check(tmp_path, ["2.5.9", "2.5.9", "2.4.7"], {"system-channel": config()})


def test_too_old_a_release_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"orderers run Fabric 1\.4\.1: the migration needs 1\.4\.2 or newer"):
        check(tmp_path, ["1.4.1"] * 3, {"system-channel": config(("V1_1",), ("V1_3",))})


def test_every_capability_problem_is_named_per_channel(tmp_path):
    with pytest.raises(UserError) as err:
        check(tmp_path, ["2.5.9"] * 3, {"system-channel": config(), "hachannel": config(("V1_1",), ("V1_3",))})
    assert err.value.problems == [
        "migrate: channel hachannel: Orderer capabilities ['V1_1']; the migration needs V1_4_2 or V2_0: "
        "raise them with a config update first",
        "migrate: channel hachannel: Channel capabilities ['V1_3']; the migration needs V1_4_2 or newer: "
        "raise them with a config update first",
    ]


def test_raft_spec_text_drops_kafka_and_keeps_the_rest():
    text = (EXAMPLES / "seed.yaml").read_text()
    raft = parse_spec(raft_spec_text(text)).spec
    data = yaml.safe_load(raft_spec_text(text))
    assert raft.ordering.type == "raft" and "kafka" not in data and "zookeeper" not in data
    assert set(data["kubernetes"]["placement"]) == {"orderer", "peer"}
    original = parse_spec(text).spec
    assert raft.organizations == original.organizations and raft.chaincodes == original.chaincodes
    assert build_topology(raft, "local").orderers[0].address == build_topology(original, "local").orderers[0].address
