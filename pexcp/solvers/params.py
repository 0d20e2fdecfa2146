"""The cpsat method's switches: every search idea one named field, so an ablation is one flag.

Modelled on MiniMalloc's SolverParams. Reachable as `--solver KEY=VALUE` (repeatable) on solve, compare
and compile, as `pexcp.plan(..., solver={...})` in the Python API, and recorded in every plan's JSON
(`solver.params`). docs/formulations.md says what each switch buys, as measured by
benchmarks/bench_formulations.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterable

from pexcp.errors import BadInputError

ORDERS = ("positions", "assignment")
ADDRESSES = ("joint", "pack")
OBJECTIVES = ("calls", "instructions")
SEARCHES = ("reproducible", "portfolio")
# CP-SAT parameters pexcp sets from its own options (--workers, --seed, --timeout)
RESERVED_CP = ("num_workers", "num_search_workers", "random_seed", "max_time_in_seconds", "max_deterministic_time")


@dataclass(frozen=True)
class SolverParams:
    """Switches of the `cpsat` method (defaults: the configuration the README's figures were measured with)."""

    # what a plan may change
    split: bool = True
    """consider partial execution: split candidate groups into channel rounds"""
    reorder: bool = True
    """free operator order (false: the file's order)"""
    inplace_depthwise: bool = False
    """let each depthwise conv whose input dies with it run in place over that input, channel by channel
    through a one-channel temporary (TinyEngine's in-place depthwise), where that lowers the arena or lets a
    budget be met; each such run costs a kernel call per channel"""
    bands: bool = False
    """consider row-band execution (analysis/bands.py): run chains and residual blocks of convs, pools and
    Adds band by band along the height axis, holding each inner tensor as a window of rows, with no
    recomputation"""
    band_dags: bool = True
    """with `bands`: a band group may be a DAG, a tensor inside it read by several of its ops (a residual
    block's input, by its first conv and its Add or shortcut); false: chains only (fewer candidates, faster
    proofs)"""
    drop_scratch: bool = False
    """let the solver run an op without its kernel scratch (the kernel's portable loops, slower than its fast
    path) where that lowers the arena or lets a budget be met; not priced by objective=instructions"""
    inplace_pointwise: bool = True
    """let each 1x1 stride-1 conv with no more output than input channels whose input dies with it run in
    place over that input, pixel by pixel through a one-pixel temporary, where that lowers the arena or lets
    a budget be met"""

    @property
    def in_place(self) -> tuple[str, ...]:
        """The kinds of in-place convs the switches allow (pexcp/analysis/inplace.py)."""
        switches = (("depthwise", self.inplace_depthwise), ("pointwise", self.inplace_pointwise))
        return tuple(k for k, on in switches if on)

    # the CP-SAT model
    order: str = "positions"
    """order formulation: `positions` (an integer position per op, AllDifferent, a precedence per edge) or
    `assignment` (time-indexed: a boolean per op and position, exactly one per op and per position)"""
    order_windows: bool = False
    """restrict each op's position to [#ancestors, n-1-#descendants] (both formulations)"""
    cumulative: bool = True
    """the redundant cumulative (live bytes <= arena at every step) next to NoOverlap2D in the joint model"""
    address: str = "joint"
    """address model: `joint` (offsets in the model: NoOverlap2D over step x address) or `pack` (minimise
    LOAD, then place the best schedule's buffers with the packing engine: no joint model)"""
    unit: int = 0
    """bytes per model size unit, a divisor of 4; 0: the gcd of all sizes (smallest coordinates)"""

    # the phases
    decompose: bool = True
    """solve the parts between cut tensors separately (decompose.py)"""
    bound_phase: bool = True
    """minimise LOAD (no offsets) first: a proven lower bound and a schedule reaching it"""
    hint: bool = True
    """start each CP-SAT model from the best plan so far"""
    layout_shortcut: bool = True
    """stop when the bound phase's schedule packs at its bound (no joint model)"""

    # objective
    objective: str = "calls"
    """with a budget, what to minimise within it: `calls` (extra kernel calls) or `instructions` (estimated
    from the C backend's measured cost per call and per accumulated element, pexcp/solvers/cpsat/costs.json);
    without a budget the arena comes first, then this"""

    # search
    search: str = "reproducible"
    """`reproducible`: one single-threaded search per worker on deterministic-time budgets (same seed and
    workers, same plan); `portfolio`: CP-SAT's own parallel search (often faster, not reproducible)"""
    cp: dict[str, Any] = field(default_factory=dict)
    """CP-SAT parameters passed through unchanged (`cp.NAME=VALUE`, any SatParameters field but those
    --workers, --seed and --timeout set)"""

    def record(self) -> dict[str, Any]:
        return asdict(self)

    def changed(self) -> dict[str, Any]:
        """The switches that differ from the defaults."""
        default = SolverParams()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}


CHOICES = {"order": ORDERS, "address": ADDRESSES, "objective": OBJECTIVES, "search": SEARCHES}


def switch_help() -> str:
    """One line per switch, for --help and docs."""
    lines = []
    for f in fields(SolverParams):
        kind = "|".join(CHOICES[f.name]) if f.name in CHOICES else "true|false" if f.type == "bool" else f.type
        lines.append(f"{f.name} ({kind}, default {getattr(SolverParams(), f.name)!r})")
    return "; ".join(lines)


def _bool(key: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise BadInputError(f"--solver {key}={text}: expected true or false")


def _cp_value(name: str, text: str) -> Any:
    """A CP-SAT parameter's value, typed by the SatParameters proto, or a one-line error."""
    from google.protobuf.descriptor import FieldDescriptor
    from ortools.sat import sat_parameters_pb2

    descriptor = sat_parameters_pb2.SatParameters.DESCRIPTOR
    spec = descriptor.fields_by_name.get(name)
    if spec is None:
        raise BadInputError(f"--solver cp.{name}: CP-SAT has no parameter {name!r} (see sat_parameters.proto)")
    if name in RESERVED_CP:
        raise BadInputError(f"--solver cp.{name}: set by pexcp; use --workers, --seed or --timeout")
    repeated = spec.is_repeated if hasattr(spec, "is_repeated") else spec.label == FieldDescriptor.LABEL_REPEATED
    if repeated:
        raise BadInputError(f"--solver cp.{name}: repeated parameters are not supported")
    try:
        if spec.type == FieldDescriptor.TYPE_BOOL:
            return _bool(f"cp.{name}", text)
        if spec.type == FieldDescriptor.TYPE_ENUM:
            names = [v.name for v in spec.enum_type.values]
            if text not in names:
                raise BadInputError(f"--solver cp.{name}={text}: expected one of {', '.join(names)}")
            return text
        if spec.type == FieldDescriptor.TYPE_STRING:
            return text
        if spec.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return float(text)
        return int(text)
    except ValueError:
        raise BadInputError(f"--solver cp.{name}={text}: not a number") from None


def apply_cp(parameters, cp: dict[str, Any]) -> None:
    """Set passed-through CP-SAT parameters on a solver's parameters (in SatParameters' text format, which
    the parsing above has already checked field by field)."""
    from google.protobuf.descriptor import FieldDescriptor
    from ortools.sat import sat_parameters_pb2

    fields_by_name = sat_parameters_pb2.SatParameters.DESCRIPTOR.fields_by_name

    def text(name: str, value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return f'"{value}"' if fields_by_name[name].type == FieldDescriptor.TYPE_STRING else str(value)

    if cp:
        parameters.merge_text_format(" ".join(f"{name}: {text(name, value)}" for name, value in cp.items()))


def parse_params(pairs: Iterable[str] | dict[str, Any] | None, base: SolverParams | None = None) -> SolverParams:
    """SolverParams from `KEY=VALUE` strings (the CLI) or a {key: value} dict (the API); unknown keys and bad
    values raise BadInputError with a one-line message."""
    params = base or SolverParams()
    items = pairs.items() if isinstance(pairs, dict) else [_split(p) for p in pairs or ()]
    names = {f.name: f for f in fields(SolverParams)}
    changes: dict[str, Any] = {}
    cp = dict(params.cp)
    for key, raw in items:
        key = key.strip().replace("-", "_")
        text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
        if key.startswith("cp."):
            cp[key[3:]] = _cp_value(key[3:], text.strip())
            continue
        if key not in names or key == "cp":
            raise BadInputError(f"unknown solver switch {key!r}; known: {', '.join(n for n in names if n != 'cp')}, cp.NAME")
        kind = names[key].type
        if key in CHOICES:
            if text not in CHOICES[key]:
                raise BadInputError(f"--solver {key}={text}: expected one of {', '.join(CHOICES[key])}")
            changes[key] = text
        elif kind == "bool":
            changes[key] = _bool(key, text)
        else:
            try:
                value = int(text)
            except ValueError:
                raise BadInputError(f"--solver {key}={text}: expected an integer") from None
            if key == "unit" and (value < 0 or (value and 4 % value)):
                raise BadInputError(f"--solver unit={text}: expected 0 or a divisor of 4 (1, 2, 4)")
            changes[key] = value
    merged = replace(params, **changes)
    if merged.drop_scratch and merged.objective == "instructions":
        raise BadInputError("--solver drop_scratch=true has no instruction cost: use it with objective=calls")
    if changes.get("address", params.address) == "pack" and not changes.get("bound_phase", params.bound_phase):
        raise BadInputError("--solver address=pack needs the bound phase (bound_phase=true): it packs that schedule")
    return replace(params, cp=cp, **changes)


def _split(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise BadInputError(f"--solver {pair!r}: expected KEY=VALUE (e.g. decompose=false, cp.linearization_level=2)")
    return key, value
