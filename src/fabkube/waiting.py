"""One way to wait: poll a condition until a deadline, then fail with a message naming what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fabkube.errors import RuntimeFailure


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.5,
    log: Path | None = None,
    pending: Callable[[], str] | None = None,
) -> None:
    """Return once `check()` is true; after `timeout` seconds raise RuntimeFailure
    "timed out after Ns waiting for WHAT[: pending()]" pointing at `log`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            detail = f": {pending()}" if pending else ""
            raise RuntimeFailure(f"timed out after {timeout:.0f}s waiting for {what}{detail}", log)
        time.sleep(interval)
