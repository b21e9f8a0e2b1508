"""`fabkube top`'s screen: a live view drawn with Rich (a header of rates, a row per component,
anything not running in red with the reason)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from fabkube.monitoring.live import View


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render(v: View) -> Group:
    head = Text()
    head.append(f"{v.network}", style="bold")
    for ch in sorted(v.heights):
        head.append(f"   {ch}: ", style="bold")
        head.append(f"height {v.heights[ch]}  ")
        head.append(f"{v.tps.get(ch, 0.0):.1f} tx/s committed", style="green")
        if v.invalid_tps.get(ch, 0.0) > 0:
            head.append(f"  {v.invalid_tps[ch]:.1f} tx/s invalid", style="yellow")
        head.append(f"  {v.blocks.get(ch, 0.0):.2f} blocks/s")
    failing = v.failing
    status = Text(f"{len(v.rows) - len(failing)}/{len(v.rows)} running", style="red" if failing else "green")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("component", "left"), ("kind", "left"), ("state", "left"), ("CPU %", "right"),
                         ("memory MiB", "right"), ("heights", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in v.rows:
        style = "red" if r.state != "running" else None
        heights = "  ".join(f"{ch} {h}" for ch, h in sorted(r.heights.items()))
        state = r.state if not r.reason else f"{r.state}: {r.reason}"
        # Text, not markup: a log line's [brackets] are the log's.
        table.add_row(
            r.name, r.kind, Text(state), _num(r.cpu_percent, ".1f"), _num(r.memory_mib, ".0f"), heights, style=style
        )
    notes = [Text(f"could not read: {e}", style="yellow") for e in v.errors]
    footer = Text(f"rates over the last {v.seconds:.1f} s; Ctrl-C to quit", style="dim")
    return Group(head, status, table, *notes, footer)
