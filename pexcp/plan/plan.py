"""The plan format `pexcp-plan/1` (documented in docs/plan-format.md)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pexcp.ir import Slice, Step

__all__ = ["FORMAT", "STATUSES", "Buffer", "Plan", "Slice", "Step"]

FORMAT = "pexcp-plan/1"
STATUSES = ("optimal", "feasible", "heuristic")


@dataclass
class Buffer:
    id: int
    tensor: str
    dtype: str
    bytes: int
    offset: int
    first_step: int
    last_step: int
    slice: Slice | None = None
    alias_of: int | None = None
    alias_offset: int = 0  # where it starts inside the buffer it aliases (an input of a concat written in place)


@dataclass
class Plan:
    model: str
    model_sha256: str
    method: str
    status: str
    arena_bytes: int
    lower_bound_bytes: int
    solve_seconds: float
    steps: list[Step]
    buffers: list[Buffer]
    load_bytes: int = 0  # max live bytes of this schedule: no layout of it can be smaller
    budget_bytes: int | None = None
    gap: float = 0.0  # (arena - lower bound) / arena
    rewrites: list[str] = field(default_factory=list)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    input_layouts: dict[str, list[int]] = field(default_factory=dict)
    io: str = "model"  # "int8": the boundary quantize/dequantize of a QDQ model are the caller's (--io int8)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific figures (seed, workers, ...)
    solver: dict[str, Any] = field(default_factory=dict)  # how it was obtained: method, options, solver switches
    format: str = FORMAT

    @property
    def fits_budget(self) -> bool | None:
        return None if self.budget_bytes is None else self.arena_bytes <= self.budget_bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Plan":
        def sl(d: dict | None) -> Slice | None:
            return Slice(**d) if d else None

        fields = dict(data)
        fields["steps"] = [Step(**{**s, "slice": sl(s.get("slice"))}) for s in data["steps"]]
        fields["buffers"] = [Buffer(**{**b, "slice": sl(b.get("slice"))}) for b in data["buffers"]]
        return Plan(**fields)

    @staticmethod
    def load(path: Path) -> "Plan":
        return Plan.from_dict(json.loads(Path(path).read_text()))
