"""`fabkube bench`: load a running network through a peer's Gateway and report as Caliper does.

report, records = run_bench(network, workload("create"), RoundOptions(1000, backlog=50))
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

from fabkube.backends.base import Network
from fabkube.bench.report import RoundReport, plot, summarize
from fabkube.bench.runner import RoundOptions, TxRecord, measure, prepare
from fabkube.bench.workloads import WORKLOADS, Workload, workload
from fabkube.errors import RuntimeFailure, UserError
from fabkube.gateway import AsyncGateway, identity_from_msp_dir
from fabkube.topology import ChaincodeInfo

__all__ = ["WORKLOADS", "RoundOptions", "RoundReport", "TxRecord", "plot", "run_bench", "workload"]

ASSET_CONTRACTS = ("builtin:asset-transfer-basic", "builtin:asset-transfer-basic-go")


@dataclass
class BenchTarget:
    chaincode: ChaincodeInfo
    peer: str


def bench_target(net: Network, chaincode: str | None, peer: str | None) -> BenchTarget:
    """The chaincode to load (named, or the first asset-transfer-basic one) and the peer to send to."""
    if chaincode is None:
        found = [cc for cc in net.topo.chaincodes if cc.source in ASSET_CONTRACTS]
        if not found:
            raise UserError(
                "bench: no asset-transfer-basic chaincode in this network; add one to the spec, e.g. "
                "{name: basic, path: 'builtin:asset-transfer-basic', channel: mychannel}, or pass --chaincode"
            )
        cc = found[0]
    else:
        cc = net.chaincode_info(chaincode)
    return BenchTarget(cc, net.query_peer(cc, peer).name)


def run_bench(
    net: Network,
    wl: Workload,
    opts: RoundOptions,
    chaincode: str | None = None,
    peer: str | None = None,
    progress: Callable[[int], None] = lambda _n: None,
    stage: Callable[[str], None] = lambda _m: None,
) -> tuple[RoundReport, list[TxRecord]]:
    target = bench_target(net, chaincode, peer)
    node = net.peer_node(target.peer)
    conn = net.connection(node.org.name)
    peer_conn = next(p for p in conn.peers if p.name == target.peer)
    identity, signer = identity_from_msp_dir(conn.msp_id, conn.msp_dir)
    root = peer_conn.tls_root.read_bytes() if peer_conn.tls_root else None

    async def go(address: str) -> tuple[list[TxRecord], list]:
        gw = AsyncGateway.connect(address, identity, signer, root, peer_conn.server_name if root else None)
        try:
            contract = gw.contract(target.chaincode.channel, target.chaincode.name)
            stage(f"preparing the {wl.name} round (setup {len(wl.setup())}, warm-up {opts.warmup})")
            await prepare(contract, wl, opts)
            stage(f"{wl.name}: {opts.transactions} transactions")
            monitor = net.resource_monitor({"bench client": os.getpid()}).start()
            records = await measure(contract, wl, opts, progress)
            return records, monitor.stop()
        finally:
            await gw.close()

    try:
        with net.dial(peer_conn) as address:
            records, usage = asyncio.run(go(address))
    except RuntimeError as exc:
        raise RuntimeFailure(str(exc), net.peer_log_hint(target.peer)) from None
    return summarize(wl.name, records, usage), records
