"""`fabkube monitoring prometheus`: the scrape config of a local network, against the layout's real
crypto (every file it names exists, every node's operations endpoint is a target, once)."""

from pathlib import Path

import pytest
from conftest import EXAMPLES

from fabkube.generate import generate
from fabkube.monitoring.scrape import prometheus_config
from fabkube.spec import load_spec, parse_spec


@pytest.fixture(scope="module")
def layout(tools, tmp_path_factory):
    return generate(load_spec(EXAMPLES / "raft-orgs.yaml"), "local", tmp_path_factory.mktemp("mon"), tools).layout


def test_every_fabric_node_is_scraped_once_with_its_orgs_client_certificate(layout):
    config = prometheus_config(layout)
    jobs = config["scrape_configs"]
    targets = {
        t: group["labels"] | {"job": job["job_name"]}
        for job in jobs
        for group in job["static_configs"]
        for t in group["targets"]
    }
    topo = layout.topo
    nodes = [*topo.orderers, *topo.peers]
    assert sorted(targets) == sorted(str(n.operations) for n in nodes)
    for n in nodes:
        labels = targets[str(n.operations)]
        assert labels["node"] == n.name and labels["org"] == n.org.name and labels["network"] == topo.spec.name
    assert len({j["job_name"] for j in jobs}) == len(jobs)
    # One job per org and kind: a job's client certificate is its org's, which Fabric asks for.
    for job in jobs:
        assert job["scheme"] == "https"
        orgs = {g["labels"]["org"] for g in job["static_configs"]}
        assert len(orgs) == 1, job["job_name"]
        org = next(o for o in [*topo.orgs, *topo.orderer_orgs] if o.name in orgs)
        assert job["tls_config"]["ca_file"] == str(layout.tls_ca(org))
        for key in ("ca_file", "cert_file", "key_file"):
            assert Path(job["tls_config"][key]).is_file(), job["tls_config"][key]


def test_without_tls_the_endpoints_are_plain_http(tools, tmp_path):
    text = (EXAMPLES / "seed.yaml").read_text()
    layout = generate(parse_spec("tls: false\n" + text), "local", tmp_path, tools).layout
    jobs = prometheus_config(layout)["scrape_configs"]
    assert jobs and all(j["scheme"] == "http" and "tls_config" not in j for j in jobs)


def test_the_dashboard_has_the_panels_operators_ask_for_each_one_query():
    from fabkube.monitoring.dashboard import dashboard, queries

    board = dashboard()
    titles = [p["title"] for p in board["panels"]]
    for wanted in ("Ledger height", "Blocks committed", "validation code", "Endorsement latency",
                   "Orderer leading", "Broadcast latency", "CPU", "Memory"):  # fmt: skip
        assert any(wanted in t for t in titles), wanted
    assert len({p["id"] for p in board["panels"]}) == len(titles)
    assert all(len(p["targets"]) == 1 and "$network" in p["targets"][0]["expr"] for p in board["panels"])
    assert all('network="seed"' in q and "$" not in q for q in queries("seed").values())
