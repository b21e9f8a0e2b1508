"""Local components start with a minimal environment: the user's secrets and stray Fabric settings
stay in the user's shell; PATH, HOME and the component's own settings are there."""

import time

from conftest import EXAMPLES

from fabkube.backends.local.supervisor import Supervisor
from fabkube.components import Component, Health
from fabkube.layout import Layout
from fabkube.nodes import Endpoint
from fabkube.spec import load_spec
from fabkube.topology import build_topology


def test_a_component_sees_only_what_it_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("CORE_PEER_ADDRESS", "stray:7051")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    layout = Layout(tmp_path, build_topology(load_spec(EXAMPLES / "seed.yaml").spec, "local"))
    out = tmp_path / "env.txt"
    comp = Component("probe", "tcp", ["sh", "-c", f"env > {out}"], {"OWN": "1"}, {}, [],
                     Health("tcp", Endpoint("127.0.0.1", 1)), tmp_path)  # fmt: skip
    Supervisor(layout).start(comp)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (out.is_file() and "OWN=1" in out.read_text()):
        time.sleep(0.1)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert env["OWN"] == "1" and env["PATH"] and env["LC_ALL"] == "C.UTF-8"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "CORE_PEER_ADDRESS" not in env
