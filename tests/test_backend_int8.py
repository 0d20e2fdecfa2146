"""The shared int8 models in C against TFLite Micro, bit for bit: every planning method's plan, with the
model's own I/O types and with `--io int8`, on the host (strict warnings, ASan/UBSan, arena filled with
0xFF, dead tensors poisoned, 20 random inputs), and the cpsat plans on a Cortex-M4F under QEMU. Also: the
code an int8 model runs is integer-only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from conftest import INT8_MODELS, model_id
from int8_oracle import cases, oracle
from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import (
    ARM_TOOLS, build_host, build_qemu, missing_tools, qemu_inputs, run_host, run_qemu,
)
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.registry import DEFAULT_METHOD, METHODS
from backend_helpers import needs_cc

SOLVE_TIMEOUT = 20.0
RUNTIME_OVERHEAD_LIMIT = 1024  # bytes of static RAM beyond the arena, harness and newlib included
needs_arm = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"needs {', '.join(ARM_TOOLS)} (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)",
)

Project = tuple[Graph, Plan, Path]


def _has_float_io(model: Path) -> bool:
    return oracle_dtype(model) == np.float32


def _float_input(model: Path) -> bool:
    """Read from the ONNX file alone (collection time, no oracle run)."""
    return onnx.load(str(model)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def oracle_dtype(model: Path) -> np.dtype:
    return cases(model)[0].x.dtype


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory):
    """Emit and build each (model, method, io) project once; `--io int8` changes nothing on a model whose
    I/O is int8 already, so those share the project."""
    cache: dict[tuple[str, str, str], Project] = {}

    def get(model: Path, method: str, io: str, host: bool = True) -> Project:
        io = io if _has_float_io(model) else "model"
        key = (model.stem, method, io)
        if key not in cache:
            graph, plan = solve(model, method, SolveOptions(timeout=SOLVE_TIMEOUT, io=io))
            outdir = tmp_path_factory.mktemp(f"{model.stem}-{method}-{io}")
            emit(graph, plan, outdir, harness=True)
            cache[key] = (graph, plan, outdir)
        if host and not (cache[key][2] / "model_host").exists():
            build_host(cache[key][2])
        return cache[key]

    return get


def _expected(model: Path, io: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input, output) pairs of TFLite Micro in the I/O types of the compiled model."""
    if io == "int8":
        return [(c.x_int8, c.y_int8) for c in cases(model)]
    return [(c.x, c.y) for c in cases(model)]


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("io", ["model", "int8"])
@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("model", INT8_MODELS, ids=model_id)
def test_int8_model_matches_tflite_micro(model: Path, method: str, io: str, projects) -> None:
    graph, plan, outdir = projects(model, method, io)
    assert plan.io == (io if _has_float_io(model) else "model")
    if io == "int8":  # no float buffer in the plan, the arena or the API
        assert {b.dtype for b in plan.buffers} <= {"int8", "int32"}
        header = (outdir / "model.h").read_text()
        assert "float" not in header and "MODEL_INPUT_0_SCALE" in header and "MODEL_OUTPUT_0_ZERO_POINT" in header
    for k, (x, y) in enumerate(_expected(model, io)):
        got = run_host(outdir, [x], [y.shape], tag=str(k), output_dtypes=[y.dtype.name])[0]
        assert np.array_equal(got, y), f"{model.stem} {method} io={io} input {k}: {got.ravel()[:8]} != {y.ravel()[:8]}"


@pytest.mark.qemu
@pytest.mark.slow
@needs_arm
@pytest.mark.parametrize(  # --io int8 on a model whose I/O is int8 already would build the same project
    "model, io",
    [pytest.param(m, io, id=f"{model_id(m)}-{io}") for m in INT8_MODELS for io in ("model", "int8")
     if io == "model" or _float_input(m)],
)
def test_int8_model_on_cortex_m(model: Path, io: str, projects) -> None:
    graph, plan, outdir = projects(model, DEFAULT_METHOD, io, host=False)
    build_qemu(outdir)
    run = run_qemu(outdir, timeout=120)
    (x,) = qemu_inputs(graph)
    if io == "int8":  # the built-in int8 input went into the model where TFLite Micro's QUANTIZE output goes
        got, want = run.outputs[0], _int8_reference(model, x)
    else:
        case = oracle(model, x)
        got, want = run.outputs[0], case.y.ravel()
    assert np.array_equal(got, want), f"{model.stem} on Cortex-M: {got[:8]} != {want[:8]}"
    calls = _kernel_calls(outdir)  # the DSP paths ran: every conv and FC call got its planned scratch
    assert calls and all(_passes_scratch(c) for c in calls)  # (the shared models have no dilated depthwise)
    assert plan.arena_bytes <= run.static_ram < plan.arena_bytes + RUNTIME_OVERHEAD_LIMIT
    assert run.instructions > 0 and 0 < run.stack_bytes < 4096


def check_int8_on_cortex_m(model: Path, graph: Graph, plan: Plan, outdir: Path, timeout: float) -> None:
    """The plan's project with its harness under QEMU (Cortex-M4F): TFLite Micro's int8 output on the built-in
    input, bit for bit, and static RAM the arena plus the harness."""
    emit(graph, plan, outdir, harness=True)
    build_qemu(outdir)
    run = run_qemu(outdir, timeout=timeout)
    (x,) = qemu_inputs(graph)
    assert np.array_equal(run.outputs[0], _int8_reference(model, x))
    assert plan.arena_bytes <= run.static_ram < plan.arena_bytes + RUNTIME_OVERHEAD_LIMIT


def _int8_reference(model: Path, x_int8: np.ndarray) -> np.ndarray:
    """TFLite Micro's int8 output for an int8 input fed past its first QUANTIZE: the float input that
    QUANTIZE maps to exactly these values (its dequantized value), run through the whole model. A model with
    int8 I/O takes the input as it is."""
    from pexcp.importer import load_graph

    if not _has_float_io(model):
        return oracle(model, x_int8).y.ravel()

    graph = load_graph(model, io="int8")
    scale, zp = graph.io_quant[graph.inputs[0]]
    x = (np.float32(scale) * (x_int8.astype(np.float32) - np.float32(zp))).astype(np.float32)
    case = oracle(model, x)
    assert np.array_equal(case.x_int8, x_int8), "dequantized values must quantize back to themselves"
    return case.y_int8.ravel()


ARM_COMPILE = ["arm-none-eabi-gcc", "-std=c99", "-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-c"]
# soft-float calls (__aeabi_fadd, __aeabi_d2iz, ...) and libm entry points: any float arithmetic shows up
FLOAT_SYMBOL = ("__aeabi_f", "__aeabi_d", "__aeabi_i2f", "__aeabi_ui2f", "__aeabi_l2f", "__aeabi_i2d", "__aeabi_l2d")
LIBM = ("roundf", "round", "expf", "exp", "floorf", "floor", "lroundf", "sqrtf", "tanhf", "logf", "powf")


@pytest.mark.slow
@pytest.mark.skipif(bool(missing_tools(("arm-none-eabi-gcc", "arm-none-eabi-nm"))), reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("model", INT8_MODELS, ids=model_id)
def test_int8_model_code_is_integer_only(model: Path, projects) -> None:
    """With int8 I/O, model.c and every runtime file it compiles with do no float arithmetic: built for a
    soft-float Cortex-M4, their objects call no float helper and no libm function."""
    graph, plan, outdir = projects(model, DEFAULT_METHOD, "int8", host=False)
    sources = [outdir / "model.c"] + sorted((outdir / "runtime").glob("*.c"))
    assert "-lm" not in (outdir / "model.mk").read_text()
    for src in sources:
        obj = src.with_suffix(".soft.o")
        subprocess.run(ARM_COMPILE + ["-o", str(obj), str(src)], check=True, capture_output=True)
        undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True, capture_output=True, text=True)
        names = [line.split()[-1] for line in undefined.stdout.splitlines() if line.strip()]
        floaty = [n for n in names if n.startswith(FLOAT_SYMBOL) or n in LIBM]
        assert not floaty, f"{src.name} uses float arithmetic: {floaty}"


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("name", ["ic_resnet8_int8", "te_mcunet_vww"])
def test_int8_model_without_rewrites(name: str, tmp_path: Path) -> None:
    """With no rewrites the layout Transpose, the explicit Pads and the Reshape family are real int8 kernels
    (TRANSPOSE, PAD, RESHAPE copies); still TFLite Micro's bits."""
    model = next(m for m in INT8_MODELS if m.stem == name)
    graph, plan = solve(model, "reorder", SolveOptions(timeout=SOLVE_TIMEOUT, rewrites=()))
    kinds = {s.kernel for s in plan.steps}
    assert "Transpose" in kinds and ({"Reshape", "Squeeze"} & kinds)
    emit(graph, plan, tmp_path, harness=True)
    build_host(tmp_path)
    for k, case in enumerate(cases(model)[:5]):
        got = run_host(tmp_path, [case.x], [case.y.shape], tag=str(k), output_dtypes=[case.y.dtype.name])[0]
        assert np.array_equal(got, case.y), f"{name} without rewrites, input {k}"


@pytest.mark.qemu
@pytest.mark.slow
@needs_arm
@pytest.mark.parametrize("name", ["vww_96_int8", "ic_resnet8_int8"])
def test_int8_planned_scratch_against_none_on_cortex_m(name: str, tmp_path: Path) -> None:
    """`--scratch off` plans no kernel scratch: every conv and fully connected call passes 0 and runs the
    portable loops; with it on (the default) each gets its planned buffer. Same bits (TFLite Micro's), fewer
    instructions, and the arena grows by at most the scratch."""
    model = next(m for m in INT8_MODELS if m.stem == name)
    counts, arenas = [], []
    for scratch in (False, True):
        graph, plan = solve(model, DEFAULT_METHOD, SolveOptions(timeout=SOLVE_TIMEOUT, io="int8", scratch=scratch))
        outdir = tmp_path / f"scratch-{scratch}"
        emit(graph, plan, outdir, harness=True)
        calls = _kernel_calls(outdir)
        assert calls and all(_passes_scratch(line) == scratch for line in calls)
        assert any(b.tensor.startswith("scratch:") for b in plan.buffers) == scratch
        build_qemu(outdir)
        run = run_qemu(outdir, timeout=120)
        (x,) = qemu_inputs(graph)
        assert np.array_equal(run.outputs[0], _int8_reference(model, x)), f"{name} scratch={scratch} on Cortex-M"
        counts.append(run.instructions)
        arenas.append(plan.arena_bytes)
    assert counts[1] < counts[0]
    assert arenas[0] <= arenas[1] <= arenas[0] + max(graph.scratch[op].whole for op in graph.scratch)


def _kernel_calls(outdir: Path) -> list[str]:
    """The conv and fully connected calls of model.c (the kernels with a fast path)."""
    text = (outdir / "model.c").read_text()
    return [line for line in text.splitlines() if "pexcp_conv_s8(" in line or "pexcp_fully_connected_s8(" in line]


def _passes_scratch(call: str) -> bool:
    return not call.rstrip().endswith(", 0);")


def _qdq_activation(path: Path, op_type: str, s_in: float, zp_in: int, s_out: float, zp_out: int) -> Path:
    """int8 input -> DequantizeLinear -> op_type -> QuantizeLinear -> int8 output, 256 values."""
    from onnx import TensorProto, helper, numpy_helper, save_model

    consts = [
        numpy_helper.from_array(np.array(s_in, np.float32), "s_in"), numpy_helper.from_array(np.array(zp_in, np.int8), "z_in"),
        numpy_helper.from_array(np.array(s_out, np.float32), "s_out"),
        numpy_helper.from_array(np.array(zp_out, np.int8), "z_out"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s_in", "z_in"], ["xf"], name="dq"),
        helper.make_node(op_type, ["xf"], ["yf"], name="act"),
        helper.make_node("QuantizeLinear", ["yf", "s_out", "z_out"], ["y"], name="q"),
    ]
    graph = helper.make_graph(
        nodes, "act", [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 256])], consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    save_model(model, str(path))
    return path


@needs_cc
@pytest.mark.parametrize(
    "op_type, tflite_op, q",
    [
        ("Sigmoid", "LOGISTIC", (0.0625, -3, 1.0 / 256, -128)),
        ("Sigmoid", "LOGISTIC", (0.0078125, 17, 1.0 / 256, -128)),
        ("HardSwish", "HARD_SWISH", (0.05, 5, 0.03, -100)),
        ("HardSwish", "HARD_SWISH", (0.02, -20, 0.025, -128)),
    ],
)
def test_int8_activation_ops_match_tflite_micro(op_type: str, tflite_op: str, q: tuple, tmp_path: Path) -> None:
    """Standalone QDQ Sigmoid and HardSwish are TFLite's LOGISTIC and HARD_SWISH: every int8 input value."""
    import tflite_oracle as to

    s_in, zp_in, s_out, zp_out = q
    path = _qdq_activation(tmp_path / "act.onnx", op_type, *q)
    graph, plan = solve(path, "reorder", SolveOptions(timeout=5))
    emit(graph, plan, tmp_path / "c", harness=True)
    build_host(tmp_path / "c")
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    got = run_host(tmp_path / "c", [x], [(1, 256)], output_dtypes=["int8"])[0]
    spec = [to.Tensor((1, 256), np.int8, s_in, zp_in)], [to.Tensor((1, 256), np.int8, s_out, zp_out)]
    assert np.array_equal(got, to.OpModel(tflite_op, *spec).run(x))
