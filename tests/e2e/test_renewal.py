"""`certs renew` on running networks whose certificates last 5 minutes, as an operator runs it, with
a client submitting on each: the Raft network (three orderers, two peers) and the seed's Kafka
network (one orderer) are renewed 100 s before their certificates expire, both keep committing
well past the original expiry, and on the Raft network no transaction fails. The client behaves as Fabric's
Gateway docs advise (sends the same transaction again when its commit does not come in time,
endorses through the org's other peer while one restarts) and, like any application whose
certificate was renewed, takes its new certificate once `renew` has written it."""

import contextlib
import datetime as dt
import json
import time

import pytest
from conftest import EXAMPLES, keep_logs, live_processes, run_cli
from load import RetryingLoad

from fabkube.backends import open_network

pytestmark = pytest.mark.e2e

PAST = dt.timedelta(seconds=40)  # how long past the original expiry the clients keep submitting
RENEW_BEFORE = dt.timedelta(seconds=100)  # renewal takes 15-25 s here, and must end before the expiry


def short_lived(example: str, name: str, port: int) -> str:
    text = (EXAMPLES / example).read_text()
    text = text.replace(f"name: {example.removesuffix('.yaml')}\n", f"name: {name}\ncrypto: {{validity: 5m}}\n", 1)
    text = text.replace("batchTimeout: 2s", "batchTimeout: 250ms")
    text = text.replace(
        "chaincodes:\n", 'chaincodes:\n  - {name: basic, path: "builtin:asset-transfer-basic", channel: mychannel}\n'
    )
    text = text.split("local:")[0].split("kubernetes:")[0] + f"local: {{basePort: {port}}}\n"
    assert "validity: 5m" in text and "basic" in text
    return text


def leaves(home, name) -> list[dict]:
    listed = json.loads(run_cli("certs", "--network", name, "--json", home=home).stdout)
    return [c for c in listed if c["kind"] not in ("CA", "TLS CA")]


def contracts(workdir):
    """A contract through each of the first org's peers, as its admin (read from the files now)."""
    net = open_network(workdir)  # as the work dir says now (pids change as renew restarts)
    stack = contextlib.ExitStack()
    org = net.topo.orgs[0]
    out = [
        stack.enter_context(net.gateway(org.name, p.name)).contract("mychannel", "basic")
        for p in net.topo.org_peers(org)
    ]
    return stack, out


def test_certs_renew_under_load_past_the_original_expiry(tools, tmp_path):
    home = tmp_path / "home"
    nets = {"renewraft": ("raft.yaml", 16600), "renewkafka": ("seed.yaml", 16700)}
    try:
        for name, (example, port) in nets.items():
            spec = tmp_path / f"{name}.yaml"
            spec.write_text(short_lived(example, name, port))
            run_cli("up", str(spec), home=home)
        original = {name: min(dt.datetime.fromisoformat(c["not_after"]) for c in leaves(home, name)) for name in nets}
        workdirs = {name: home / "networks" / name for name in nets}
        with contextlib.ExitStack() as stack:
            loads = {}
            for name, workdir in workdirs.items():
                gateways, contract_list = contracts(workdir)
                stack.enter_context(gateways)
                loads[name] = stack.enter_context(RetryingLoad(contract_list, name, workers=3, timeout=10))
            for name in nets:
                # Each network RENEW_BEFORE its own first expiry: the renewed certificates (5 minutes
                # again) then outlive the checks below, which come after the later network's expiry.
                # (Renewed halfway, both by the first network's clock, they expired during the ledger
                # check on a slow run: the network brought up second had started a minute later.)
                renew_at = original[name] - RENEW_BEFORE
                time.sleep(max(0.0, (renew_at - dt.datetime.now(dt.UTC)).total_seconds()))
                renewed = run_cli("certs", "renew", "--within", "1h", "--network", name, home=home)
                print(renewed.stderr)
                assert "certificates renewed" in renewed.stderr
                if name == "renewraft":
                    assert "3 channel config updates" in renewed.stderr and "restart orderer2" in renewed.stderr
                else:
                    assert "restart zookeeper-2" in renewed.stderr and "restart kafka-2" in renewed.stderr
                # The application takes its renewed certificate (new gateways, same load).
                gateways, fresh = contracts(workdirs[name])
                stack.enter_context(gateways)
                loads[name].contracts = fresh
            for name in nets:
                after = leaves(home, name)
                assert all(dt.datetime.fromisoformat(c["not_after"]) > original[name] for c in after), name
            end = max(original.values()) + PAST
            time.sleep(max(0.0, (end - dt.datetime.now(dt.UTC)).total_seconds()))
            counts = {name: load.count() for name, load in loads.items()}
            time.sleep(15)
            for load in loads.values():  # stopped before any of their gateways closes
                load.__exit__(None, None, None)
            for name, load in loads.items():
                print(f"{name}: {load.summary()}; retries {load.retries}")
                assert load.count() > counts[name], f"{name}: nothing committed {PAST} past the original expiry"
        for name, load in loads.items():
            gateways, fresh = contracts(workdirs[name])
            with gateways:
                missing = load.missing_on(fresh[-1])
            assert not missing, f"{name}: reported committed but not on the ledger: {missing[:5]}"
        assert not loads["renewraft"].failed, loads["renewraft"].summary()
    finally:
        for name in nets:
            keep_logs(home / "networks" / name)
            run_cli("down", "--purge", "--network", name, home=home, check=False)
            assert live_processes(home / "networks" / name) == []
