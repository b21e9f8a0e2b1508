"""`certs renew` on a local network: sign the due certificates again (same CAs, same keys), then
restart what uses them one at a time, each serving again before the next: ZooKeeper's nodes, the
brokers, the orderers (on Raft, each one's consenter certificates in every channel config first, as
Fabric's Raft guide orders it), the peers, the chaincode servers.

Nothing hot-reloads a certificate in Fabric 2.5 (orderer and peer read their MSP and TLS files at
start), so every node whose files changed restarts. The components still to restart are recorded in
the work dir before any file changes: a renewal interrupted anywhere finishes when run again.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fabkube.crypto.inventory import CertInfo, certificates
from fabkube.crypto.msp import _write_private
from fabkube.crypto.renewal import Renewal, due_leaves, refresh_derived, renew
from fabkube.errors import UserError
from fabkube.reporter import Reporter
from fabkube.spec import duration_seconds

# The LocalNetwork that calls in here (network.py imports this module, not the other way).
LocalNetwork = Any

PENDING = "renewal_pending"  # state key: components that still run with the old certificates


def _uses(comp, path: Path) -> bool:
    """Whether a component reads `path`: its command, env or config files name the file, or its
    directory (an MSP names the dir holding signcerts/)."""
    names = [str(path), str(path.parent)]
    if path.parent.name == "signcerts":
        names.append(str(path.parent.parent))
    texts = [*comp.command, *comp.env.values(), *comp.files.values()]
    return any(n in t for n in names for t in texts)


def _affected(net: LocalNetwork, due: list[CertInfo]) -> list[str]:
    """Components to restart, in rolling order; peers also for their chaincode client pairs."""
    order = [s.kind for s in net.ordering.stages] + ["orderer", "peer", "chaincode"]
    comps = sorted(net.components(), key=lambda c: order.index(c.kind) if c.kind in order else len(order))
    client_orgs = {c.owner for c in due if c.kind == "TLS client"}
    out = []
    for comp in comps:
        org = net.peer_node(comp.name).org.name if comp.kind == "peer" else None
        if any(_uses(comp, c.path) for c in due) or any(o.startswith(f"peers of {org} to") for o in client_orgs):
            out.append(comp.name)
    return out


def renew_local(net: LocalNetwork, within: dt.timedelta | None, report: Reporter) -> Renewal:
    """Renew what ends within `within` (None: every leaf) and roll what uses it (the caller,
    Network.renew_certificates, checks the type and holds the migration lock)."""
    return _renew(net, within, report)


def _renew(net: LocalNetwork, within: dt.timedelta | None, report: Reporter) -> Renewal:
    state = net.state
    pending: list[str] = list(state.data.get(PENDING, []))
    comps = {c.name: c for c in net.components()}
    # A component a renewal still has to restart may be down (stopped when that renewal was cut short).
    down = [n for n in comps if not net.supervisor.running(n) and n not in pending]
    if down:
        raise UserError(
            f"certs renew restarts one component at a time and needs the others serving: {', '.join(down[:5])} "
            f"{'is' if len(down) == 1 else 'are'} not running; run `fabkube up` (or `fabkube start`) first"
        )
    due = due_leaves(net.layout, within)
    result = Renewal()
    if due:
        validity = dt.timedelta(seconds=duration_seconds(net.loaded.spec.crypto.validity))
        pending = list(dict.fromkeys([*pending, *_affected(net, due)]))
        state.data[PENDING] = pending
        state.save()  # before any file changes: an interrupted renewal knows what still needs a restart
        result.renewed = renew(net.layout, due, validity)
        report.info(f"renewed {len(result.renewed)} certificates (valid {net.loaded.spec.crypto.validity} from now)")
    # Also after a renewal cut short between writing the certificates and the files made from them.
    refresh_derived(net.layout)
    if (count := refresh_connections(net)) or result.renewed:
        report.info(f"updated the chaincode client certificate in {count} built connection.json files of the peers")
    for name in list(pending):
        comp = comps.get(name)
        if comp is not None:
            raft = comp.kind == "orderer" and not net.topo.ordering.system_channel
            if raft:
                result.channel_updates += _consenter_certs(net, name, report)
            report.info(f"restart {name}")
            net.supervisor.stop_many([name], timeout=45.0)
            net.supervisor.start(comp)
            net._wait_ready([comp], report)
            if raft:
                members = _membership(net, report)
                for ch in net.topo.channels:
                    members.wait_caught_up(next(o for o in net.topo.orderers if o.name == name), ch.name)
            result.restarted.append(name)
        pending.remove(name)
        state.data[PENDING] = pending
        state.save()
    state.data.pop(PENDING, None)
    state.save()
    return result


def refresh_connections(net: LocalNetwork) -> int:
    """The peers' built copies of a package's connection.json carry the chaincode client
    certificate: give them the current one where the key is the same (the package, and so its ID,
    stays as it is). Return how many files changed."""
    current = {}
    for info in certificates(net.layout):
        if info.kind == "TLS client":
            current[info.path.with_suffix(".key").read_text()] = info.path.read_text()
    count = 0
    for peer in net.topo.peers:
        builds = net.layout.data_dir(peer.name) / "externalbuilder"
        for conn in builds.rglob("connection.json") if builds.is_dir() else []:
            data = json.loads(conn.read_text())
            cert = current.get(data.get("client_key", ""))
            if cert is not None and data.get("client_cert") != cert:
                data["client_cert"] = cert
                _write_private(conn, json.dumps(data, indent=2).encode())
                count += 1
    return count


def _membership(net: LocalNetwork, report: Reporter):
    from fabkube.channel.config import orderer_admin_configs
    from fabkube.consensus.raft.membership import Membership

    layout = net.layout
    return Membership(
        layout, orderer_admin_configs(layout, net.tools, layout.log("lifecycle")), lambda *_a: None, report.info
    )


def _consenter_certs(net: LocalNetwork, orderer: str, report: Reporter) -> list[str]:
    """Write the orderer's renewed TLS certificate into its consenter entry in every channel it
    serves, one config update per channel (Fabric allows one consenter change per update)."""
    node = next(o for o in net.topo.orderers if o.name == orderer)
    members = _membership(net, report)
    return [f"{node.name} on {ch}" for ch in (c.name for c in net.topo.channels) if members.refresh_certs(ch, node)]
