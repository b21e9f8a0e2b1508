"""`fabkube monitoring prometheus`: the scrape config of a local network, against the layout's real
crypto (every file it names exists, every node's operations endpoint is a target, once)."""

from pathlib import Path

import pytest
from conftest import EXAMPLES

from fabkube.generate import generate
from fabkube.monitoring.scrape import prometheus_config
from fabkube.spec import load_spec, parse_spec


def components(layout, tools):
    """What the local network runs: the ordering type's services, then the Fabric nodes and chaincode
    servers (with their sources, so a Python server serves metrics)."""
    from fabkube.chaincode import source_dir
    from fabkube.components import local_components
    from fabkube.consensus.local import local_part

    dirs = {cc.name: source_dir(cc.source) for cc in layout.topo.chaincodes}
    services = local_part(layout.topo.ordering.type).services(layout, tools)
    return services + local_components(layout, tools, {}, dirs)


@pytest.fixture(scope="module")
def layout(tools, tmp_path_factory):
    return generate(load_spec(EXAMPLES / "raft-orgs.yaml"), "local", tmp_path_factory.mktemp("mon"), tools).layout


def test_every_fabric_node_is_scraped_once_with_its_orgs_client_certificate(layout, tools):
    config = prometheus_config(layout, components(layout, tools))
    jobs = [j for j in config["scrape_configs"] if j["scheme"] == "https"]
    targets = {
        t: group["labels"] | {"job": job["job_name"]}
        for job in jobs
        for group in job["static_configs"]
        for t in group["targets"]
    }
    topo = layout.topo
    nodes = [*topo.orderers, *topo.peers]
    assert sorted(targets) == sorted(str(n.operations) for n in nodes)
    # Besides them, only the Python chaincode server (raft-orgs has no backing services).
    plain = [j for j in config["scrape_configs"] if j["scheme"] == "http"]
    assert [j["job_name"] for j in plain] == [f"{topo.spec.name}-chaincode"]
    assert plain[0]["static_configs"][0]["targets"] == [str(topo.chaincodes[0].metrics)]
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
    jobs = prometheus_config(layout, components(layout, tools))["scrape_configs"]
    assert jobs and all(j["scheme"] == "http" and "tls_config" not in j for j in jobs)


def test_the_dashboard_has_the_panels_operators_ask_for_each_one_query():
    from fabkube.dashboard import dashboard, queries

    board = dashboard()
    titles = [p["title"] for p in board["panels"]]
    for wanted in ("Ledger height", "Blocks committed", "validation code", "Endorsement latency",
                   "Orderer leading", "Broadcast latency", "CPU", "Memory"):  # fmt: skip
        assert any(wanted in t for t in titles), wanted
    assert len({p["id"] for p in board["panels"]}) == len(titles)
    assert all(len(p["targets"]) == 1 and "$network" in p["targets"][0]["expr"] for p in board["panels"])
    assert all('network="seed"' in q and "$" not in q for q in queries("seed").values())


def test_kafka_services_export_metrics_on_loopback_ports_no_other_port_uses(tools, tmp_path):
    """The seed's ZooKeeper nodes and brokers each get a metrics port from the top of the services'
    block (no existing port moved: kafka-0 keeps basePort + 36), zoo.cfg binds ZooKeeper's provider
    and the brokers' command binds the JMX exporter agent to loopback, and both are scraped."""
    layout = generate(load_spec(EXAMPLES / "seed.yaml"), "local", tmp_path, tools).layout
    topo = layout.topo
    services = topo.ordering.services
    # The block's top four ports are the chaincode servers' metrics (mycc: the first).
    assert [str(s.metrics) for s in services] == [f"127.0.0.1:{17064 - i}" for i in range(6)]
    assert str(topo.chaincode("mycc").metrics) == "127.0.0.1:17068"
    assert next(s for s in services if s.name == "kafka-0").address.port == 17036
    comps = {c.name: c for c in components(layout, tools)}
    every = [p for c in comps.values() for p in c.ports]
    assert comps["chaincode-mycc"].env["CHAINCODE_METRICS_ADDRESS"] == "127.0.0.1:17068"
    assert len({str(p) for p in every}) == len(every), "a port is taken twice"
    zoo = next(text for path, text in comps["zookeeper-1"].files.items() if path.name == "zoo.cfg")
    assert "metricsProvider.httpHost=127.0.0.1" in zoo and "metricsProvider.httpPort=17063" in zoo
    agent = [a for a in comps["kafka-2"].command if a.startswith("-javaagent:")]
    assert len(agent) == 1 and agent[0].endswith(f"=127.0.0.1:17059:{layout.config_dir('kafka-2')}/jmx-exporter.yaml")
    assert agent[0].split("=")[0].removeprefix("-javaagent:") == str(tools.jmx_exporter_agent)
    jobs = {j["job_name"]: j for j in prometheus_config(layout, list(comps.values()))["scrape_configs"]}
    for kind in ("zookeeper", "kafka"):
        job = jobs[f"seed-{kind}"]
        assert job["scheme"] == "http" and "tls_config" not in job
        assert [g["labels"]["node"] for g in job["static_configs"]] == [f"{kind}-{i}" for i in range(3)]


def test_an_ensemble_too_large_for_the_block_runs_without_metrics_and_is_warned_of():
    from fabkube.spec import parse_spec
    from fabkube.topology import build_topology

    text = (EXAMPLES / "seed.yaml").read_text()
    big = text.replace("brokers: 3, replicationFactor: 3", "brokers: 15, replicationFactor: 3").replace(
        "zookeeper: {nodes: 3}", "zookeeper: {nodes: 5}"
    )
    loaded = parse_spec(big)
    assert any("zookeeper.nodes" in w and "without a Prometheus endpoint" in w for w in loaded.warnings)
    services = build_topology(loaded.spec).ordering.services
    assert len(services) == 20 and all(s.metrics is None for s in services)
    assert not any("Prometheus" in w for w in parse_spec(text).warnings)
    # In pods: none unless kubernetes.monitoring asks; then every ZooKeeper node on the same port,
    # whatever the ensemble's size, and no broker (apache/kafka's image has no JMX exporter agent).
    assert all(s.metrics is None for s in build_topology(loaded.spec, "k8s").ordering.services)
    watched = parse_spec(big.replace("kubernetes:\n", "kubernetes:\n  monitoring: prometheus-operator\n", 1))
    pods = build_topology(watched.spec, "k8s").ordering.services
    assert {str(s.metrics).rsplit(":", 1)[1] for s in pods if s.name.startswith("zookeeper")} == {"7000"}
    assert all(s.metrics is None for s in pods if s.name.startswith("kafka"))


def test_the_dashboard_keeps_to_the_networks_ordering_type():
    from fabkube.dashboard import queries

    kafka, raft, every = queries("seed", "kafka"), queries("x", "raft"), queries("x")
    assert any("underreplicated" in q for q in kafka.values()) and not any("etcdraft" in q for q in kafka.values())
    assert any("etcdraft" in q for q in raft.values()) and not any("kafka_" in q for q in raft.values())
    assert set(kafka) | set(raft) <= set(every)


def test_exposition_is_read_with_labels_escapes_and_sums_by_label():
    from fabkube.monitoring.exposition import by_label, parse

    text = """# HELP ledger_transaction_count x
# TYPE ledger_transaction_count counter
ledger_transaction_count{channel="a",chaincode="cc:1",validation_code="VALID"} 10
ledger_transaction_count{channel="a",chaincode="cc2:1",validation_code="VALID"} 5
ledger_transaction_count{channel="a",chaincode="cc:1",validation_code="MVCC_READ_CONFLICT"} 2
ledger_blockchain_height{channel="b"} 7 1700000000000
odd{text="say \\"hi\\""} NaN
go_goroutines 12
"""
    samples = parse(text)
    assert len(samples) == 6
    assert by_label(samples, "ledger_transaction_count", "channel", validation_code="VALID") == {"a": 15.0}
    assert by_label(samples, "ledger_transaction_count", "channel") == {"a": 17.0}
    assert by_label(samples, "ledger_blockchain_height", "channel") == {"b": 7.0}
    assert next(s for s in samples if s.name == "odd").labels == {"text": 'say "hi"'}
    assert by_label(samples, "odd", "text") == {}  # NaN is no value


def test_live_view_rates_and_failing_components():
    from fabkube.monitoring.live import Figures, Sample, view

    before = Sample(10.0, [
        Figures("peer0", "peer", True, cpu_seconds=1.0, memory_bytes=2**20 * 50, heights={"ch": 10}, valid={"ch": 100}),
        Figures("peer1", "peer", True, cpu_seconds=1.0, memory_bytes=2**20, heights={"ch": 9}, valid={"ch": 90}),
        Figures("orderer0", "orderer", True, cpu_seconds=0.0, heights={"ch": 10}),
    ])  # fmt: skip
    now = Sample(14.0, [
        Figures("peer0", "peer", True, cpu_seconds=3.0, memory_bytes=2**20 * 60, heights={"ch": 14}, valid={"ch": 140}),
        Figures("peer1", "peer", True, cpu_seconds=1.4, memory_bytes=2**20, heights={"ch": 12}, valid={"ch": 110}),
        Figures("orderer0", "orderer", False, reason="panic: disk full"),
    ])  # fmt: skip
    v = view("net", before, now)
    assert v.tps == {"ch": 10.0} and v.blocks == {"ch": 1.0} and v.heights == {"ch": 14}
    rows = {r.name: r for r in v.rows}
    assert rows["peer0"].cpu_percent == 50.0 and rows["peer0"].memory_mib == 60.0
    assert [r.name for r in v.failing] == ["orderer0"] and rows["orderer0"].reason == "panic: disk full"
    assert rows["orderer0"].cpu_percent is None
