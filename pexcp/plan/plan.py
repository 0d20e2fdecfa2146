"""The plan format `pexcp-plan/1` (documented in docs/plan-format.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pexcp.ir import SCRATCH, TEMP, Slice, Step

__all__ = ["FORMAT", "SCRATCH", "TEMP", "STATUSES", "Buffer", "Plan", "Slice", "Step"]

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
    window: int = 0  # a band group's inner tensor held as a window of this many rows (docs/plan-format.md)


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

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Plan":
        """The plan `data` describes; TypeError or KeyError (naming the field) when a field is missing or of
        the wrong type, so that a hand-edited or foreign plan is refused before anything computes with it."""
        def sl(d: dict | None) -> Slice | None:
            return Slice(**d) if d else None

        _check_fields(Plan, data, "plan")
        for i, step in enumerate(_list(data["steps"], "steps")):
            _check_fields(Step, step, f"steps[{i}]")
        for i, buffer in enumerate(_list(data["buffers"], "buffers")):
            _check_fields(Buffer, buffer, f"buffers[{i}]")
        fields = dict(data)
        fields["steps"] = [Step(**{**s, "slice": sl(s.get("slice"))}) for s in data["steps"]]
        fields["buffers"] = [Buffer(**{**b, "slice": sl(b.get("slice"))}) for b in data["buffers"]]
        return Plan(**fields)

    @staticmethod
    def load(path: Path) -> "Plan":
        return Plan.from_dict(json.loads(Path(path).read_text()))


MAX_INT = 2**63 - 1  # JSON integers beyond int64 are no byte count or index any plan can hold


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise TypeError(f"{where} must be a list, not {type(value).__name__}")
    return value


def _fits(value: Any, kind: Any) -> bool:
    """`value`, read from JSON, has the type `kind` (a field annotation of the dataclasses above)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if kind is type(None):
        return value is None
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and -MAX_INT <= value <= MAX_INT
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind in (str, bool):
        return isinstance(value, kind)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if dataclasses.is_dataclass(kind):
        return isinstance(value, dict)  # checked field by field by its own _check_fields
    return True


def _check_fields(cls: type, data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise TypeError(f"{where} must be an object, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise TypeError(f"{where} has unknown field(s) {', '.join(unknown)}")
    for name, f in known.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in data:
            if required:
                raise KeyError(f"{where} lacks the field {name!r}")
            continue
        if not _fits(data[name], hints[name]):
            raise TypeError(f"{where}.{name} is {json.dumps(data[name])[:40]}, not of type {_shown(hints[name])}")
        if dataclasses.is_dataclass(hints.get(name)) or name == "slice":
            if data[name] is not None:
                _check_fields(Slice, data[name], f"{where}.{name}")


def _shown(kind: Any) -> str:
    return str(kind).replace("typing.", "") if typing.get_args(kind) else getattr(kind, "__name__", str(kind))
