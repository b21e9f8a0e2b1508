"""The user's network end to end, as a user runs it: real ZooKeeper, Kafka, orderer, peers, chaincode."""

import contextlib
import json
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import EXAMPLES, live_processes, run_cli

from fabkube import health
from fabkube.consensus.kafka.probes import kafka_brokers, zookeeper_mode
from fabkube.nodes import Endpoint

pytestmark = pytest.mark.e2e


def run_zookeeper_cli(tools, jaas, tls_dir, server: str, *command: str) -> subprocess.CompletedProcess:
    """ZooKeeper's own shell from the toolchain's jars: as anyone on the network could run it (no
    JAAS file, no certificate), with a certificate of the orderer org's TLS CA (`tls_dir`: the
    brokers' pair) but no login, or logged in as the brokers are."""
    login = [f"-Djava.security.auth.login.config={jaas}"] if jaas else []
    if tls_dir:
        login += [
            "-Dzookeeper.client.secure=true",
            "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
            f"-Dzookeeper.ssl.keyStore.location={tls_dir}/kafka.pem",
            "-Dzookeeper.ssl.keyStore.type=PEM",
            f"-Dzookeeper.ssl.trustStore.location={tls_dir}/ca.crt",
            "-Dzookeeper.ssl.trustStore.type=PEM",
        ]
    main = "org.apache.zookeeper.ZooKeeperMain"
    argv = ["java", *login, "-cp", tools.kafka_classpath, main, "-server", server, *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_seed_lifecycle(tools, home, tmp_path):
    spec = str(EXAMPLES / "seed.yaml")
    workdir = home / "networks" / "seed"
    try:
        up = run_cli("up", spec, home=home)
        assert "mycc: value is 100" in up.stdout
        assert run_cli("query", "mycc", "a", home=home).stdout.strip() == "100"
        assert "committed" in run_cli("invoke", "mycc", "move", "a", "b", "10", home=home).stdout
        assert run_cli("query", "mycc", "a", home=home).stdout.strip() == "90"
        assert run_cli("query", "mycc", "query", "b", "--peer", "peer1.org1", home=home).stdout.strip() == "210"

        status = json.loads(run_cli("status", "--json", home=home).stdout)
        assert {c["name"]: c["state"] for c in status["components"]} == {
            **{f"zookeeper-{i}": "running" for i in range(3)},
            **{f"kafka-{i}": "running" for i in range(3)},
            "orderer0": "running",
            "peer0.org1": "running",
            "peer1.org1": "running",
            "chaincode-mycc": "running",
        }
        heights = {peer: by["mychannel"] for peer, by in status["heights"].items()}
        assert len(set(heights.values())) == 1 and next(iter(heights.values())) >= 6, heights

        # orderer <-> Kafka is TLS with client certificates: a plaintext Metadata request gets nothing
        kafka = Endpoint("127.0.0.1", 17036)  # kafka-0: basePort + 27 (orderers) + 9 (ZooKeeper)
        tls_dir = workdir / "crypto/ordererOrganizations/example.com/kafka/tls"
        assert kafka_brokers(kafka) is None
        tls = health.client_tls(str(tls_dir / "ca.crt"), str(tls_dir / "server.crt"), str(tls_dir / "server.key"))
        assert kafka_brokers(kafka, tls) == [0, 1, 2]

        # peers and the chaincode server authenticate each other (mutual TLS, the org's TLS CA)
        cc_log = run_cli("logs", "chaincode-mycc", "-n", "500", home=home).stdout
        assert "TLS on, client certificates required" in cc_log

        prometheus_scrapes_every_component(tools, home, tmp_path)
        console_shows_the_network(home, tmp_path)
        console_serves_nothing_off_the_machine_without_the_token(home)

        # FIELD-NOTES: one unauthenticated ZooKeeper write used to make the brokers delete the
        # channel's topic (its whole ordering history). Now ZooKeeper speaks only TLS with client
        # certificates, and gives a client that has a certificate but not the brokers' login no
        # session; the brokers (TLS and the network's JAAS) see no marker, and the channel orders.
        zk = run_zookeeper_cli(tools, None, None, "127.0.0.1:17027", "create", "/admin/delete_topics/mychannel")
        assert "Created" not in zk.stdout + zk.stderr, zk.stdout + zk.stderr
        assert zookeeper_mode(Endpoint("127.0.0.1", 17027)) is None  # no plaintext at all
        zk = run_zookeeper_cli(tools, None, tls_dir, "127.0.0.1:17027", "create", "/admin/delete_topics/mychannel")
        assert "client failed to authenticate" in zk.stdout + zk.stderr, zk.stdout + zk.stderr
        jaas = next(workdir.glob("crypto/ordererOrganizations/*/kafka/sasl/kafka.jaas"))
        brokers = run_zookeeper_cli(tools, jaas, tls_dir, "127.0.0.1:17027", "ls", "/admin/delete_topics")
        assert "[]" in brokers.stdout, brokers.stdout + brokers.stderr
        time.sleep(5)
        segments = list((workdir / "nodes" / "kafka-0" / "data").glob("mychannel-0/*.log"))
        assert segments and any(s.stat().st_size > 0 for s in segments)
        assert "committed" in run_cli("invoke", "mycc", "move", "a", "b", "0", home=home).stdout

        again = run_cli("up", spec, home=home)  # idempotent: nothing to start, nothing to run
        assert "already up" in again.stderr and "0 steps run" in again.stderr

        run_cli("down", home=home)
        assert live_processes(workdir) == []
        assert run_cli("query", "mycc", "a", home=home, check=False).returncode == 1

        restarted = run_cli("up", spec, home=home)
        assert "mycc: value is 90" in restarted.stdout
        assert run_cli("query", "mycc", "b", home=home).stdout.strip() == "210"
    finally:
        run_cli("down", "--purge", home=home, check=False)
    assert not workdir.exists()
    assert live_processes(workdir) == []


def prometheus_scrapes_every_component(tools, home, tmp_path) -> None:
    """The written scrape config reaches all ten components of the seed: the Fabric nodes with the
    org's client certificate; ZooKeeper's own provider, each broker's JMX exporter agent and the
    Python chaincode server, those on loopback only; every panel of the Kafka dashboard has data
    while transactions commit."""
    import math
    import re

    import yaml
    from tooling.prometheus import running

    from fabkube.backends import open_network

    written = tmp_path / "prometheus.yml"
    done = run_cli("monitoring", "prometheus", "--out", str(written), home=home)
    assert "10 targets" in done.stderr, done.stderr
    config = yaml.safe_load(written.read_text())
    services = [t for j in config["scrape_configs"] if j["scheme"] == "http" for g in j["static_configs"]
                for t in g["targets"]]  # fmt: skip
    assert len(services) == 7, config
    # ZooKeeper's, the brokers' and the chaincode server's endpoints speak plain HTTP: they must
    # listen on loopback and nowhere else.
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    for target in services:
        port = target.rsplit(":", 1)[1]
        binds = re.findall(rf"(\S+):{port}\s", listening)
        assert binds and all(b in ("127.0.0.1", "[::ffff:127.0.0.1]") for b in binds), (target, binds)
    with running(tools, config, tmp_path / "prom") as prom:
        targets = prom.wait_all_up(timeout=90)
        assert sorted(t["labels"]["node"] for t in targets) == sorted(
            [*(f"zookeeper-{i}" for i in range(3)), *(f"kafka-{i}" for i in range(3)),
             "orderer0", "peer0.org1", "peer1.org1", "chaincode-mycc"]
        )  # fmt: skip
        assert prom.query('kafka_controller_kafkacontroller_activecontrollercount{network="seed"} == 1')
        board = json.loads(run_cli("monitoring", "dashboard", "--ordering", "kafka", home=home).stdout)
        exprs = {p["title"]: p["targets"][0]["expr"].replace("$network", "seed") for p in board["panels"]}
        assert any("Kafka under-replicated" in t for t in exprs) and not any("leading" in t for t in exprs)
        net = open_network(home / "networks" / "seed")
        sent = 0
        with net.gateway("Org1") as gw:
            contract = gw.contract("mychannel", "mycc")
            deadline = time.monotonic() + 90
            while True:
                contract.submit("move", "a", "b", "0", timeout=30)
                sent += 1
                empty = [t for t, e in exprs.items()
                         if not any(math.isfinite(float(r["value"][1])) for r in prom.query(e))]  # fmt: skip
                if not empty or time.monotonic() > deadline:
                    break
        print(f"dashboard queries on the seed: {sent} transactions until every panel had data")
        assert not empty, f"panels without data: {empty}"


@contextlib.contextmanager
def console_process(home, *args: str):
    """`fabkube console` running with `args` until the block ends; yields the URL it printed."""
    env = dict(os.environ, FABKUBE_HOME=str(home))
    said = home / f"console-{os.urandom(4).hex()}.err"
    with said.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fabkube.cli", "console", "--port", "0", *args], env=env,
                                stderr=err, stdout=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"on (http://\S+)\s", said.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, f"console said: {said.read_text()}"
            time.sleep(0.2)
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def browser():
    """Headless Chromium from Debian, driven through its chromedriver (./dev test installs both)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1000")
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def console_shows_the_network(home, tmp_path) -> None:
    """`fabkube console` in a real browser: the topology shows every component; a transaction
    submitted now appears in the block list with its validation code; the committed-TPS chart
    moves while a client submits; a stopped broker turns red, with its log's last line, within
    seconds. A screenshot of it is kept."""
    from selenium.webdriver.support.ui import WebDriverWait

    from fabkube.backends import open_network

    names = [c["name"] for c in json.loads(run_cli("status", "--json", home=home).stdout)["components"]]
    net = open_network(home / "networks" / "seed")
    with console_process(home, "--interval", "1") as url, net.gateway("Org1") as gw:
        driver = browser()
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 30, poll_frequency=0.3)
            # The page redraws every refresh: read it in one script, never through held elements.
            js = lambda script: driver.execute_script(script)  # noqa: E731
            shown = lambda: dict(js("return [...document.querySelectorAll('#topology .node')]"  # noqa: E731
                                    ".map(e => [e.dataset.name, e.dataset.state])"))  # fmt: skip
            wait.until(lambda _: set(shown()) == set(names))
            assert set(shown().values()) == {"running"}, shown()

            contract = gw.contract("mychannel", "mycc")
            tx = contract.new_proposal("move", "a", "b", "0").endorse()
            assert tx.submit().status(timeout=30).code_name == "VALID"
            cells = f"""return [...document.querySelectorAll('#channels tr[data-tx="{tx.transaction_id}"] td')]
                        .map(td => td.textContent)"""
            wait.until(lambda _: js(cells))
            assert js(cells)[2:] == ["mycc", "move", "VALID"], js(cells)

            # The chart moves while transactions commit: from zero once idle, up while a client
            # submits one transaction after another.
            last = lambda: float(js("return document.getElementById('chart-tps').dataset.last") or 0)  # noqa: E731
            wait.until(lambda _: last() == 0)
            sent, deadline = 0, time.monotonic() + 60
            while last() <= 0 and time.monotonic() < deadline:
                contract.submit("move", "a", "b", "0", timeout=30)
                sent += 1
            assert last() > 0, "the TPS chart stayed at zero"
            drawn = js("return document.querySelector('#chart-tps polyline').getBBox().height")
            assert drawn > 0, "the TPS chart's line is not drawn"
            print(f"console: TPS chart from 0 to {last():.2f} tx/s after {sent} transactions")

            run_cli("stop", "kafka-2", home=home)
            stopped = time.monotonic()
            try:
                wait.until(lambda _: shown().get("kafka-2") == "stopped")
                took = time.monotonic() - stopped
                color, why = js("""const n = document.querySelector('#topology .node[data-name="kafka-2"]');
                    return [getComputedStyle(n).backgroundColor, (n.querySelector('.why') || {}).textContent]""")
                assert color == "rgb(197, 48, 48)", color  # the page's red
                assert why, "no reason shown"
                print(f"console: kafka-2 red {took:.1f}s after it stopped: {why!r}")
                assert took < 10
                driver.save_screenshot(str(tmp_path / "console.png"))
            finally:
                run_cli("start", "kafka-2", home=home)
            wait.until(lambda _: shown().get("kafka-2") == "running")  # and green again once started
        finally:
            driver.quit()


def console_serves_nothing_off_the_machine_without_the_token(home) -> None:
    """A client in another network namespace (another machine, as far as the console can tell)
    gets 401 for the page, the state and a log without the token, and the page with it."""
    ns, host, client_ip = "fkconsole", "10.213.0.1", "10.213.0.2"
    sh = lambda *a: subprocess.run(a, check=True, capture_output=True, text=True)  # noqa: E731
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", "fkc0"], capture_output=True)
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "fkc0", "type", "veth", "peer", "name", "fkc1")
        sh("ip", "link", "set", "fkc1", "netns", ns)
        sh("ip", "addr", "add", f"{host}/30", "dev", "fkc0")
        sh("ip", "link", "set", "fkc0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{client_ip}/30", "dev", "fkc1")
        sh("ip", "-n", ns, "link", "set", "fkc1", "up")
        refused = run_cli("console", "--host", host, home=home, check=False)
        assert refused.returncode == 2 and "needs --token" in refused.stderr
        token = "t0k3n-" + os.urandom(12).hex()
        with console_process(home, "--host", host, "--token", token) as url:
            base = url.split("?")[0]

            def code(path: str, *more: str) -> str:
                curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", *more]
                out = subprocess.run(["ip", "netns", "exec", ns, *curl, base.rstrip("/") + path],
                                     capture_output=True, text=True)  # fmt: skip
                return out.stdout

            for path in ("/", "/api/state", "/api/logs?name=orderer0", "/?token=not-the-token-at-all"):
                assert code(path) == "401", path
            # With the token: a session cookie and the token out of the URL, then the page.
            assert code(f"/?token={token}") == "303"
            assert code(f"/?token={token}", "-L", "-b", "") == "200"
    finally:
        subprocess.run(["ip", "link", "del", "fkc0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
