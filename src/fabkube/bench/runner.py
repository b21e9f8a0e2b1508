"""Drive one benchmark round through a peer's Gateway: fixed backlog (N in flight) or fixed rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from fabkube.bench.workloads import Workload
from fabkube.gateway import AsyncContract, GatewayError

MAX_IN_FLIGHT = 5000  # fixed-rate rounds stop launching past this many unfinished transactions


@dataclass
class TxRecord:
    start: float  # seconds since the round began, when the transaction was sent
    end: float  # when its outcome was known (committed, evaluated or failed)
    ok: bool
    error: str = ""  # validation code (e.g. MVCC_READ_CONFLICT) or gRPC status (e.g. DEADLINE_EXCEEDED)


@dataclass
class RoundOptions:
    transactions: int
    backlog: int | None = 10  # fixed-backlog: transactions in flight
    rate: float | None = None  # fixed-rate: transactions sent per second (takes precedence)
    warmup: int = 0  # transactions before the measured round, not counted
    timeout: float = 60.0  # deadline of each transaction, end to end


async def _one(contract: AsyncContract, wl: Workload, i: int, t0: float, timeout: float) -> TxRecord:
    fn, args = wl.call(i)
    start = time.monotonic() - t0
    try:
        if wl.submit:
            tx = await contract.new_proposal(fn, *args).endorse(timeout=timeout)
            commit = await tx.submit(timeout=timeout)
            status = await commit.status(timeout=timeout)
            ok, error = status.successful, "" if status.successful else status.code_name
        else:
            await contract.evaluate(fn, *args, timeout=timeout)
            ok, error = True, ""
    except GatewayError as exc:
        ok, error = False, exc.code.name if exc.code is not None else type(exc).__name__
    except TimeoutError:
        ok, error = False, "DEADLINE_EXCEEDED"
    return TxRecord(start, time.monotonic() - t0, ok, error)


async def _backlog(contract, wl, indices: range, opts: RoundOptions, t0: float, done: Callable[[], None]):
    out: list[TxRecord] = []
    todo = iter(indices)

    async def worker() -> None:
        for i in todo:  # a shared iterator: each index is taken once
            out.append(await _one(contract, wl, i, t0, opts.timeout))
            done()

    await asyncio.gather(*(worker() for _ in range(max(1, opts.backlog or 1))))
    return out


async def _rate(contract, wl, indices: range, opts: RoundOptions, t0: float, done: Callable[[], None]):
    out: list[TxRecord] = []
    pending: set[asyncio.Task] = set()

    async def one(i: int) -> None:
        out.append(await _one(contract, wl, i, t0, opts.timeout))
        done()

    assert opts.rate
    for n, i in enumerate(indices):
        delay = t0 + n / opts.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        while len(pending) >= MAX_IN_FLIGHT:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(one(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    return out


async def prepare(contract: AsyncContract, wl: Workload, opts: RoundOptions) -> None:
    """Before measuring: the assets read/transfer rounds use, then the warm-up transactions."""
    if wl.setup():
        await _setup(contract, wl)
    if opts.warmup:
        drive = _rate if opts.rate else _backlog
        warm = range(opts.transactions, opts.transactions + opts.warmup)
        await drive(contract, wl, warm, opts, time.monotonic(), lambda: None)


async def measure(
    contract: AsyncContract, wl: Workload, opts: RoundOptions, progress: Callable[[int], None] = lambda _n: None
) -> list[TxRecord]:
    """The measured round: one record per transaction, in completion order."""
    count = 0

    def done() -> None:
        nonlocal count
        count += 1
        progress(count)

    drive = _rate if opts.rate else _backlog
    return await drive(contract, wl, range(opts.transactions), opts, time.monotonic(), done)


async def _setup(contract: AsyncContract, wl: Workload) -> None:
    calls = wl.setup()
    sem = asyncio.Semaphore(20)

    async def create(fn: str, args: list[str]) -> None:
        async with sem:
            await contract.submit(fn, *args)

    try:
        await asyncio.gather(*(create(fn, args) for fn, args in calls))
    except GatewayError as exc:
        raise RuntimeError(f"setting up {len(calls)} assets for the {wl.name} round failed: {exc}") from None
