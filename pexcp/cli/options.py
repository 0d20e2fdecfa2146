"""Options shared by several commands, parsed once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from pexcp.errors import BadInputError
from pexcp.importer import ALL_REWRITES, parse_input_shapes
from pexcp.plan.plan import Plan
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import parse_params
from pexcp.solvers.registry import DEFAULT_METHOD, method_names
from pexcp.units import parse_bytes

MODEL = typer.Argument(..., help="ONNX model file (float32 or int8 QDQ).", show_default=False)
INPUT_SHAPE = typer.Option(
    None, "--input-shape", metavar="NAME=1x96x96x3", help="Fix a dynamic input's shape (repeatable)."
)
REWRITES = typer.Option(
    None,
    "--rewrites",
    metavar="LIST",
    help=f"Graph rewrites to apply: 'all' (default), 'none', or a comma list of {', '.join(ALL_REWRITES)}.",
)
METHOD = typer.Option(
    DEFAULT_METHOD, "--method", "-m", help=f"Planning method: {', '.join(method_names())}."
)
BUDGET = typer.Option(
    None,
    "--budget",
    "-b",
    metavar="SIZE",
    help="SRAM budget for activations: bytes, or with k/K/KiB (x1024) or M/MiB (x1024^2), e.g. 200k.",
)
TIMEOUT = typer.Option(60.0, "--timeout", "-t", min=0.1, help="Seconds a solver may search before answering.")
SEED = typer.Option(
    0, "--seed", help="Solver random seed; with the same --workers it reproduces the plan."
)
WORKERS = typer.Option(2, "--workers", min=1, help="Solver worker threads.")
SOLVER = typer.Option(
    None,
    "--solver",
    metavar="KEY=VALUE",
    help="A cpsat switch (repeatable), e.g. decompose=false, order=assignment, address=pack, "
    "cp.linearization_level=2; the list: docs/formulations.md. Recorded in the plan JSON.",
)
EXPORT_MODEL = typer.Option(
    None,
    "--export-model",
    metavar="MODEL.pb",
    help="Write every CP-SAT model cpsat searches, as solved (hints included), next to this name: "
    "MODEL.<phase>.pb, one per segment and phase; .pbtxt for text.",
)
IO = typer.Option(
    None,
    "--io",
    metavar="int8",
    help="int8: the caller passes the int8 tensors the model's boundary QuantizeLinear would produce and gets "
    "the int8 tensors before its final DequantizeLinear (int8 QDQ models); no float input or output is stored. "
    "Default: the model's own input/output types.",
)


def parse_rewrites(text: Optional[str]) -> tuple[str, ...] | None:
    if text is None:
        return None
    text = text.strip().lower()
    if text == "all":
        return ALL_REWRITES
    if text in ("none", ""):
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in ALL_REWRITES]
    if unknown:
        raise BadInputError(f"unknown rewrite(s) {unknown}; use all, none, or a list of {', '.join(ALL_REWRITES)}")
    return names


def solve_options(
    budget: Optional[str],
    timeout: float,
    seed: int,
    workers: int,
    input_shape: Optional[list[str]],
    rewrites: Optional[str],
    solver: Optional[list[str]] = None,
    export_model: Optional[Path] = None,
    io: Optional[str] = None,
) -> SolveOptions:
    if export_model is not None and export_model.suffix not in (".pb", ".pbtxt"):
        raise BadInputError(f"--export-model {export_model}: the name must end in .pb (binary) or .pbtxt (text)")
    if export_model is not None and not export_model.resolve().parent.is_dir():
        raise BadInputError(f"--export-model {export_model}: no such directory {export_model.parent}")
    if io is not None and io not in ("int8", "model"):
        raise BadInputError(f"unknown --io {io!r}; the only choice is int8 (default: the model's own types)")
    return SolveOptions(
        budget=parse_bytes(budget) if budget is not None else None,
        timeout=timeout,
        seed=seed,
        workers=workers,
        input_shapes=parse_input_shapes(input_shape),
        rewrites=parse_rewrites(rewrites),
        params=parse_params(solver),
        export_model=export_model,
        io=io or "model",
    )


def check_method_switches(method: str, options: SolveOptions) -> None:
    """--solver and --export-model configure the cpsat method only."""
    if method != "cpsat" and (options.params.changed() or options.export_model is not None):
        raise BadInputError(f"--solver and --export-model apply to method cpsat, not {method}")


def existing_file(path: Path) -> Path:
    if not path.exists():
        raise BadInputError(f"no such file: {path}")
    return path


def read_plan(path: Path) -> Plan:
    """A plan file, or a one-line error saying why it is not one."""
    if not path.is_file():
        raise BadInputError(f"no such plan file: {path}")
    try:
        return Plan.load(path)
    except json.JSONDecodeError as e:
        raise BadInputError(f"{path} is not JSON: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BadInputError(f"{path} is not a pexcp plan ({type(e).__name__}: {e})") from None
