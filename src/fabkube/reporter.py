"""Progress for long operations: a status line per named step. The CLI renders it with Rich."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class StepHandle:
    title: str
    detail: str = ""
    seconds: float = 0.0


class Reporter:
    """Base reporter: collects timings; subclasses show them."""

    def __init__(self) -> None:
        self.steps: list[StepHandle] = []

    @contextmanager
    def step(self, title: str) -> Iterator[StepHandle]:
        handle = StepHandle(title)
        self.started(handle)
        start = time.monotonic()
        try:
            yield handle
        except BaseException as exc:
            handle.seconds = time.monotonic() - start
            self.failed(handle, exc)
            raise
        handle.seconds = time.monotonic() - start
        self.steps.append(handle)
        self.finished(handle)

    def started(self, handle: StepHandle) -> None:
        pass

    def finished(self, handle: StepHandle) -> None:
        pass

    def failed(self, handle: StepHandle, exc: BaseException) -> None:
        pass

    def info(self, text: str) -> None:
        pass


class SilentReporter(Reporter):
    pass
