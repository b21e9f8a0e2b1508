"""`up` as an ordered list of small named actions over one shared context (as kind creates clusters).

Each action has a title (the status line), says whether it applies to this network, and executes,
returning the detail shown after the title. Both targets build their list and hand it to `run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fabkube.reporter import Reporter

Ctx = TypeVar("Ctx")


@dataclass
class Action(Generic[Ctx]):
    title: str
    execute: Callable[[Ctx], str]  # returns the detail of the status line
    applies: Callable[[Ctx], bool] = lambda _ctx: True


def run(actions: Sequence[Action[Ctx]], ctx: Ctx, report: Reporter) -> None:
    for action in actions:
        if not action.applies(ctx):
            continue
        with report.step(action.title) as s:
            s.detail = action.execute(ctx)
