"""The shared float models in C: every planning method's plan on the host (strict warnings, ASan/UBSan,
NaN-filled arena, dead tensors poisoned, 3 random inputs against onnxruntime), and the default (optimal)
plan on a Cortex-M4F under QEMU (built-in inputs against onnxruntime, no fault, no timeout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from conftest import FLOAT_MODELS, model_id
from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import ARM_TOOLS, build_qemu, missing_tools, qemu_inputs, run_qemu
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.solvers.registry import DEFAULT_METHOD, METHODS
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from backend_helpers import assert_close, check_project, needs_cc

SOLVE_TIMEOUT = 20.0  # seconds for searching methods (cpsat proves these models optimal well within it)
RUNTIME_OVERHEAD_LIMIT = 1024  # bytes of static RAM beyond the arena, harness and newlib included

Project = tuple[Graph, Plan, Path]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory):
    """Emit each (model, method) project once; the host and the Cortex-M tests share it."""
    cache: dict[tuple[str, str], Project] = {}

    def get(model: Path, method: str) -> Project:
        key = (model.stem, method)
        if key not in cache:
            graph, plan = solve(model, method, SolveOptions(timeout=SOLVE_TIMEOUT))
            outdir = tmp_path_factory.mktemp(f"{model.stem}-{method}")
            emit(graph, plan, outdir, harness=True)
            cache[key] = (graph, plan, outdir)
        return cache[key]

    return get


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("model", FLOAT_MODELS, ids=model_id)
def test_shared_model_on_the_host(model: Path, method: str, projects) -> None:
    _, _, outdir = projects(model, method)
    check_project(model, outdir, runs=3)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"needs {', '.join(ARM_TOOLS)} (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)",
)
@pytest.mark.parametrize("model", FLOAT_MODELS, ids=model_id)
def test_shared_model_on_cortex_m(model: Path, projects) -> None:
    graph, plan, outdir = projects(model, DEFAULT_METHOD)
    build_qemu(outdir)
    run = run_qemu(outdir, timeout=120)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), qemu_inputs(graph))})
    assert len(run.outputs) == len(ref)
    for j, (got, r) in enumerate(zip(run.outputs, ref)):
        assert_close(got, r.ravel(), f"{model.stem} output {j} on Cortex-M")
        assert np.isfinite(got).all()
    assert plan.arena_bytes <= run.static_ram < plan.arena_bytes + RUNTIME_OVERHEAD_LIMIT
    assert run.instructions > 0 and 0 < run.stack_bytes < 4096
