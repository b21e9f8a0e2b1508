"""Benchmark workloads on the asset-transfer-basic interface (as Caliper's fabric samples drive it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

WORKLOADS = ("create", "read", "transfer")


@dataclass
class Workload:
    """What transaction i of a round calls; `setup` lists submits that must commit before the round."""

    name: str
    submit: bool  # submit (endorse, order, commit) or evaluate
    payload: int = 100  # bytes of the asset's Color field on create
    keys: int = 100  # read: assets read round-robin; transfer: the contended set
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def key(self, i: int) -> str:
        return f"bench-{self.run_id}-{i}"

    def setup(self) -> list[tuple[str, list[str]]]:
        if self.name == "create":
            return []
        return [("CreateAsset", [self.key(k), "blue", "1", "bench", "100"]) for k in range(self.keys)]

    def call(self, i: int) -> tuple[str, list[str]]:
        if self.name == "create":
            return "CreateAsset", [self.key(self.keys + i), "x" * self.payload, "1", "bench", "100"]
        if self.name == "read":
            return "ReadAsset", [self.key(i % self.keys)]
        return "TransferAsset", [self.key(i % self.keys), f"owner-{i}"]


def workload(name: str, payload: int = 100, keys: int | None = None) -> Workload:
    if name not in WORKLOADS:
        raise ValueError(name)
    default_keys = {"create": 0, "read": 100, "transfer": 10}[name]
    return Workload(name, submit=name != "read", payload=payload, keys=default_keys if keys is None else keys)
