"""`pexcp prune`: keep the most important channels that let the model's plan fit a budget."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pexcp.cli import app, outputs
from pexcp.cli.options import INPUT_SHAPE, MODEL, SEED, TIMEOUT, WORKERS, existing_file
from pexcp.errors import BadInputError
from pexcp.importer import parse_input_shapes
from pexcp.prune.driver import ACCURACY_NOTE, ARENA_CONVENTION, Result
from pexcp.solvers.options import SolveOptions
from pexcp.units import parse_bytes


def _range(text: Optional[str]) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise BadInputError(f"--input-range {text!r}: expected LOW:HIGH, e.g. -1:1") from None
    if not lo < hi:
        raise BadInputError(f"--input-range {text!r}: LOW must be below HIGH")
    return lo, hi


def _change(before: int, after: int) -> str:
    return f"{before:,} → {after:,}" + (f" ({after / before - 1:+.1%})" if before and before != after else "")


def tables(r: Result) -> list[Table]:
    layers = Table(title=f"channels per layer ({r.model})", title_justify="left")
    for name, justify in (("layer (ONNX node)", "left"), ("group", "left"), ("before", "right"), ("after", "right")):
        layers.add_column(name, justify=justify, overflow="fold")
    ids = {g: f"g{i}" for i, g in enumerate(dict.fromkeys(layer.group for layer in r.layers))}
    for layer in r.layers:
        style = "" if layer.after == layer.before else "bold"
        layers.add_row(layer.name, ids[layer.group], str(layer.before), f"[{style}]{layer.after}[/{style}]" if style else str(layer.after))
    summary = Table(title="pruned model", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("budget", f"{r.budget:,} B")
    summary.add_row("arena (cpsat)", _change(*r.arena))
    if r.smallest is not None:
        summary.add_row(f"smallest arena at --max-drop {r.max_drop:g}", f"{r.smallest:,} B")
    summary.add_row("MACs", _change(*r.macs))
    summary.add_row("parameters", _change(*r.params))
    summary.add_row("channels", _change(sum(x.before for x in r.layers), sum(x.after for x in r.layers)))
    summary.add_row("importance kept", f"{r.importance[0]:.3f} of {r.importance[1]:.0f} (bound {r.bound:.3f})")
    summary.add_row("co-design", r.status)
    summary.add_row("time", f"{r.seconds:.1f} s")
    summary.caption = f"arena: {ARENA_CONVENTION}"
    summary.caption_justify = "left"
    out = [layers, summary]
    if r.fidelity:
        fid = Table(title="output fidelity against the unpruned model (onnxruntime)", title_justify="left")
        for name, justify in (("inputs", "left"), ("n", "right"), ("top-1 agreement", "right"),
                              ("cosine mean", "right"), ("cosine min", "right")):
            fid.add_column(name, justify=justify)
        for f in r.fidelity:
            fid.add_row(f.inputs, str(f.count), f"{f.top1:.0%}", f"{f.cosine_mean:.4f}", f"{f.cosine_min:.4f}")
        fid.caption = ACCURACY_NOTE
        fid.caption_justify = "left"
        out.append(fid)
    return out


@app.command()
def prune(
    model: Path = MODEL,
    budget: str = typer.Option(..., "--budget", "-b", metavar="SIZE", help="SRAM budget for activations, e.g. 48k."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="PRUNED.onnx", help="Write the pruned model."),
    max_drop: float = typer.Option(0.5, "--max-drop", help="Largest fraction of a layer's channels pruning may remove (every layer keeps one)."),
    kept: Optional[Path] = typer.Option(None, "--kept", metavar="KEPT.json", help="Write the kept channel indices per layer (original numbering, by ONNX node name), for fine-tuning."),
    timeout: float = TIMEOUT,
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="REPORT.json", help="Write the report as JSON ('-': standard output, instead of the tables)."),
    input_range: Optional[str] = typer.Option(None, "--input-range", metavar="LOW:HIGH", help="Value range of a float image input for the fidelity check (default: what the model's input quantization represents, else 0:1)."),
    seed: int = SEED,
    workers: int = WORKERS,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
) -> None:
    """Prune output channels of MODEL so that its plan fits BUDGET, keeping the most important ones
    (per-layer normalised L1 norm), with channels and plan chosen in one CP-SAT model.

    Timeout: seconds for each of its solves (the unpruned plan, the most pruned plan, the co-design model,
    the pruned model's plan). Exit codes: 0 pruned model fits, 1 no pruning within --max-drop fits (the
    smallest arena reachable and its bottleneck are shown), 2 bad input or usage, 3 a plan failed validation
    (a pexcp bug), 4 onnxruntime or scikit-image missing (pip install 'pexcp\\[prune]').
    """
    from pexcp.prune import fidelity
    from pexcp.prune.driver import prune as run_prune

    existing_file(model)
    limit = parse_bytes(budget)
    if not 0 <= max_drop < 1:
        raise BadInputError(f"--max-drop {max_drop:g}: expected a fraction in [0, 1)")
    for path, kind in ((output, ".onnx"), (kept, ".json")):
        if path is not None and path.suffix.lower() != kind:
            raise BadInputError(f"{path}: expected a {kind} file")
    for path, option in ((output, "-o"), (kept, "--kept"), (None if json_out == Path("-") else json_out, "--json")):
        if path is not None:
            outputs.check_file(path, option, model)
    value_range = _range(input_range)
    fidelity.require()
    err = Console(stderr=True)
    options = SolveOptions(timeout=timeout, seed=seed, workers=workers, input_shapes=parse_input_shapes(input_shape),
                           progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    result, pruned = run_prune(model, limit, max_drop, options, value_range, options.progress)
    console = Console()
    if json_out == Path("-"):
        sys.stdout.write(json.dumps(result.record(), indent=1) + "\n")
    else:
        for table in tables(result):
            console.print(table)
        for note in result.notes:
            console.print(f"note: {note}")
    if json_out is not None and json_out != Path("-"):
        outputs.write_file(json_out, json.dumps(result.record(), indent=1) + "\n", "--json")
        err.print(f"report written to {json_out}")
    if output is not None:
        outputs.write_file(output, pruned.SerializeToString(), "-o")
        err.print(f"pruned model written to {output}")
    if kept is not None:
        outputs.write_file(kept, json.dumps({"model": result.model, "layers": result.kept}, indent=1) + "\n", "--kept")
        err.print(f"kept channels written to {kept}")
