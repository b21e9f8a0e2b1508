"""Prometheus' text exposition format, read: what an operations endpoint or an exporter serves."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """Every sample of a scrape (comments and lines that are not samples are skipped)."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        out.append(Sample(m.group(1), labels, value))
    return out


def by_label(samples: list[Sample], name: str, label: str, **match: str) -> dict[str, float]:
    """`name`'s values summed by one label, over the samples whose labels include `match`."""
    out: dict[str, float] = {}
    for s in samples:
        wanted = s.name == name and label in s.labels and all(s.labels.get(k) == v for k, v in match.items())
        if wanted and not math.isnan(s.value):
            out[s.labels[label]] = out.get(s.labels[label], 0.0) + s.value
    return out
