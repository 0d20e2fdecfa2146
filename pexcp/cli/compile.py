"""`pexcp compile`: plan a model and lower the plan to a self-contained C99 project."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pexcp.backends.c import check_graph, emit
from pexcp.cli import app, outputs
from pexcp.cli.options import (
    BUDGET, EXPORT_MODEL, INPUT_SHAPE, IO, METHOD, MODEL, REWRITES, SCRATCH, SEED, SOLVER, TIMEOUT, WORKERS,
    check_method_switches, read_plan, solve_options,
)
from pexcp.errors import BadInputError, InvalidPlanError, OutputError
from pexcp.importer import load_graph
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.reports.tables import plan_summary
from pexcp.pipeline import load_for, over_budget, solve as run_solve
from pexcp.units import MAX_BYTES

OUTPUT = typer.Option(..., "--output", "-o", metavar="DIR", help="Directory of the C project (created if missing).")
HARNESS = typer.Option(
    False,
    "--harness",
    help="Also write a test main.c and a Makefile: `make host` (raw float32 files in and out) and `make qemu` "
    "(Cortex-M4F under qemu-system-arm, prints outputs, RAM and instructions).",
)
PLAN = typer.Option(
    None,
    "--plan",
    metavar="PLAN.json",
    help="Compile this saved plan (`pexcp solve --json`) instead of solving; it is checked against MODEL "
    "first, and its own rewrites and input shapes are used.",
)


def _saved(model: Path, path: Path) -> tuple[Graph, Plan]:
    """A plan from a file, for this model: a plan that fails the validator is the user's input, not a bug."""
    plan = read_plan(path)
    graph = load_graph(model, {k: tuple(v) for k, v in plan.input_shapes.items()}, tuple(plan.rewrites), io=plan.io)
    problems = plan_problems(plan, model)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadInputError(
            f"{path} is not a valid plan for {model.name}: {problems[0]}{more}; see `pexcp validate {model} {path}`"
        )
    problem = _kernel_problem(graph, plan)
    if problem is not None:
        raise BadInputError(f"cannot compile {path}: {problem}")
    return graph, plan


def _kernel_problem(graph: Graph, plan: Plan) -> str | None:
    """A valid plan the C backend still cannot follow: each step must be one kernel call of pexcp's import
    of the model (the same ONNX nodes fused the same way, under the plan's rewrites), and the inputs stored
    in the layout the import gives them."""
    layouts = {k: tuple(v) for k, v in plan.input_layouts.items()}
    if layouts != dict(graph.input_layouts):
        return f"its input_layouts {layouts} differ from its rewrites' {dict(graph.input_layouts)}"
    accumulated = {s.op for s in plan.steps if s.accumulate}
    for step in plan.steps:
        ops = [op for op in graph.ops if op.name == step.op]
        if not ops:
            return f"step {step.index} runs {step.op!r}, which is not one kernel call of this model's import"
        nodes, whole = set(step.nodes), set(ops[0].nodes)
        finishing = step.slice is None and step.op in accumulated
        if not (nodes <= whole if finishing or step.accumulate else nodes == whole):
            return (f"step {step.index} runs nodes {sorted(nodes)}, but pexcp's kernel {step.op!r} runs "
                    f"{sorted(whole)}")
    return None


def _plan_conflicts(ctx: typer.Context, plan: Plan, method: str, shapes: dict[str, tuple[int, ...]],
                    rewrites: tuple[str, ...] | None) -> None:
    """--plan compiles the saved plan as it is: solver options given with it must agree with the plan's own
    record or are refused (none is ignored silently). --budget is honoured: the plan must fit it."""
    given = {name for name in ("method", "input_shape", "rewrites", "timeout", "seed", "workers", "solver", "export_model", "scratch")
             if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")}
    saved_shapes = {k: tuple(v) for k, v in plan.input_shapes.items()}
    conflicts = []
    if "method" in given and method != plan.method:
        conflicts.append(f"--method {method} (the plan was made by {plan.method})")
    if "input_shape" in given and shapes != saved_shapes:
        shown = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in saved_shapes.items()) or "none"
        conflicts.append(f"--input-shape (the plan's input shapes: {shown})")
    if "rewrites" in given and (rewrites is None or set(rewrites) != set(plan.rewrites)):
        conflicts.append(f"--rewrites (the plan's rewrites: {','.join(plan.rewrites) or 'none'})")
    conflicts += [f"--{name}" for name in ("timeout", "seed", "workers", "solver", "export-model", "scratch") if name.replace("-", "_") in given]
    if conflicts:
        raise BadInputError(
            f"--plan compiles the saved plan as it is, so these options do not apply: {'; '.join(conflicts)}; "
            "drop them, or solve again without --plan"
        )


@app.command("compile")
def compile_(
    ctx: typer.Context,
    model: Path = MODEL,
    output: Path = OUTPUT,
    budget: Optional[str] = BUDGET,
    timeout: float = TIMEOUT,
    method: str = METHOD,
    seed: int = SEED,
    workers: int = WORKERS,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
    rewrites: Optional[str] = REWRITES,
    solver: Optional[list[str]] = SOLVER,
    export_model: Optional[Path] = EXPORT_MODEL,
    harness: bool = HARNESS,
    plan_file: Optional[Path] = PLAN,
    io: Optional[str] = IO,
    scratch: str = SCRATCH,
) -> None:
    """Compile MODEL (float32, or int8 QDQ) to C: model.h, model.c (weights in flash, one static arena of
    exactly the plan's size, the schedule as straight-line kernel calls) and the runtime kernels it needs.
    For an int8 model every requantization parameter is computed here, so the code it runs is integer-only.

    Exit codes: 0 project written, 1 the budget cannot be met (nothing is written), 2 bad input or an
    operator without a C kernel.
    """
    outputs.check_folder(output, "-o")
    options = solve_options(budget, timeout, seed, workers, input_shape, rewrites, solver, export_model, io, scratch)
    check_method_switches(method, options)
    if plan_file is not None:
        graph, plan = _saved(model, plan_file)
        if io is not None and io != plan.io:
            raise BadInputError(f"--io {io} differs from the saved plan's io {plan.io!r}; solve again with --io {io}")
        _plan_conflicts(ctx, plan, method, options.input_shapes, options.rewrites)
        plan.budget_bytes = options.budget
        check_graph(graph)
    else:
        graph = load_for(model, method, options)
        check_graph(graph)  # refuse ops without a C kernel before a solver runs for up to --timeout seconds
        err = Console(stderr=True)
        options.progress = lambda msg: err.print(f"[dim]{msg}[/dim]")
        graph, plan = run_solve(model, method, options, graph)
    console = Console()
    console.print(plan_summary(plan))
    problem = over_budget(plan)
    if problem is not None:
        raise problem
    if plan.arena_bytes > MAX_BYTES:
        raise BadInputError(f"the plan's arena of {plan.arena_bytes:,} B is more than {MAX_BYTES:,} B (2 GiB), "
                            "more than any microcontroller holds; the C backend does not compile it")
    try:
        project = emit(graph, plan, output, harness=harness)
    except InvalidPlanError as e:
        if plan_file is None:
            raise  # pexcp's own plan: a bug
        raise BadInputError(f"cannot compile {plan_file}: {e.problems[0]}") from None
    except OSError as e:
        raise OutputError(f"cannot write the C project to {output}: {e.strerror}") from None
    console.print(
        f"C project written to {output}: arena {plan.arena_bytes:,} B, weights {project.weight_bytes:,} B, "
        f"{project.calls} kernel calls, kernels: {', '.join(project.kernels)}"
    )
    console.print("files: " + " ".join(str(p.relative_to(output)) for p in project.files))
    if harness:
        console.print(f"next: make -C {output} host   |   make -C {output} qemu")
