"""`pexcp compile`: the project it writes, and its one-line errors (exit 2 for an operator without a C
kernel, an int8 op TFLite cannot run or a bad --io, exit 1 over budget), never leaving a partial project behind."""

from __future__ import annotations

from pathlib import Path


from conftest import SHARED_MODELS, needs_models
from onnx_builders import GraphBuilder, mbconv_chain, save

KWS = (SHARED_MODELS or Path("missing")) / "onnx" / "kws_ref_model_float32.onnx"


@needs_models
def test_compile_writes_a_project(cli, tmp_path: Path) -> None:
    out = tmp_path / "kws"
    run = cli("compile", KWS, "-o", out, "--method", "reorder", "--harness")
    assert run.code == 0, run.err
    assert "C project written" in run.out and "arena 64,000 B" in run.out
    for name in ["model.h", "model.c", "model.mk", "README.md", "main.c", "Makefile", "harness.h",
                 "startup_cortex_m.c", "cortex_m.ld", "runtime/pexcp_runtime.h", "runtime/conv.c"]:
        assert (out / name).is_file(), name
    assert "#define MODEL_ARENA_BYTES 64000" in (out / "model.h").read_text()
    assert "static uint8_t arena[64000]" in (out / "model.c").read_text()
    assert not (out / "runtime" / "transpose.c").exists()  # only the kernels the schedule calls


def test_an_operator_without_kernel_is_refused(cli, tmp_path: Path) -> None:
    b = GraphBuilder("unsupported")
    x = b.conv(b.input((1, 3, 4, 4)), 4)
    y = b.declare(b.node("Erf", [x]), b.shape(x))
    b.output(y)
    out = tmp_path / "c"
    run = cli("compile", save(b.build(), tmp_path), "-o", out)
    assert run.code == 2
    node = y.removesuffix("_out")
    assert run.err.strip().splitlines() == [f"error: cannot compile: operator Erf (node '{node}') has no C kernel"]
    assert not out.exists()


def test_compile_an_int8_model(cli, tmp_path: Path) -> None:
    """An int8 QDQ model compiles to int8 kernels; with --io int8 on a model whose I/O is int8 already
    nothing changes, and the saved plan keeps its io."""
    model = save(mbconv_chain(n_blocks=1, qdq=True), tmp_path)
    out = tmp_path / "c"
    run = cli("compile", model, "-o", out, "-m", "reorder")
    assert run.code == 0, run.err
    text = (out / "model.c").read_text()
    assert "pexcp_conv_s8(" in text and "static const int8_t w" in text and "static const int32_t w" in text
    assert (out / "runtime" / "conv_s8.c").is_file() and not (out / "runtime" / "conv.c").exists()
    assert "int8_t *model_input(int i);" in (out / "model.h").read_text()


def test_compile_with_and_without_kernel_scratch(cli, tmp_path: Path) -> None:
    """By default every int8 conv call gets its planned scratch buffer (the DSP fast path on a Cortex-M4);
    --scratch off plans none: every call passes 0 and the arena is no larger."""
    model = save(mbconv_chain(n_blocks=1, qdq=True), tmp_path)
    arenas = {}
    for scratch in ("on", "off"):
        out = tmp_path / scratch
        run = cli("compile", model, "-o", out, "-m", "reorder", "--scratch", scratch)
        assert run.code == 0, run.err
        text = (out / "model.c").read_text()
        calls = [line for line in text.splitlines() if "pexcp_conv_s8(" in line]
        assert calls and all(line.rstrip().endswith(", 0);") == (scratch == "off") for line in calls)
        arenas[scratch] = int(text.split("static uint8_t arena[")[1].split("]")[0])
    assert arenas["off"] < arenas["on"]


def test_io_int8_needs_a_quantized_boundary(cli, tmp_path: Path) -> None:
    run = cli("compile", KWS, "-o", tmp_path / "c", "--io", "int8")
    assert run.code == 2 and "--io int8" in run.err and "QuantizeLinear" in run.err and "Traceback" not in run.err
    run = cli("solve", KWS, "--io", "int4")
    assert run.code == 2 and "--io" in run.err
    assert not (tmp_path / "c").exists()


def test_an_int8_op_tflite_cannot_run_is_refused(cli, tmp_path: Path) -> None:
    """A QDQ Softmax whose output is not quantized as TFLite requires (scale 1/256, zero point -128)."""
    b = GraphBuilder("int8_softmax", qdq=True)
    b.output(b.softmax(b.gemm(b.flatten(b.input((1, 2, 2, 2))), 4)))
    out = tmp_path / "c"
    run = cli("compile", save(b.build(), tmp_path), "-o", out, "-m", "reorder")
    assert run.code == 2 and "Softmax" in run.err and "1/256" in run.err and "Traceback" not in run.err
    assert not out.exists()


@needs_models
def test_over_budget_writes_nothing(cli, tmp_path: Path) -> None:
    out = tmp_path / "c"
    run = cli("compile", KWS, "-o", out, "--method", "reorder", "--budget", "1k")
    assert run.code == 1 and "budget" in run.err and "Traceback" not in run.err
    assert not out.exists()


@needs_models
def test_output_must_be_a_directory(cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    run = cli("compile", KWS, "-o", tmp_path / "file")
    assert run.code == 2 and "not a directory" in run.err


@needs_models
def test_compile_a_saved_plan(cli, tmp_path: Path) -> None:
    """solve once, compile later: the saved plan is compiled as it is (its method, arena and steps)."""
    plan = tmp_path / "plan.json"
    assert cli("solve", KWS, "--method", "tflm", "--json", plan).code == 0
    out = tmp_path / "c"
    run = cli("compile", KWS, "-o", out, "--plan", plan)
    assert run.code == 0, run.err
    assert "tflm" in run.out and (out / "model.c").is_file()


@needs_models
def test_a_saved_plan_that_fails_the_validator_is_refused(cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert cli("solve", KWS, "--method", "reorder", "--json", plan).code == 0
    other = save(mbconv_chain(n_blocks=1), tmp_path)
    out = tmp_path / "c"
    run = cli("compile", other, "-o", out, "--plan", plan)
    lines = run.err.strip().splitlines()
    assert run.code == 2 and len(lines) == 1 and "not a valid plan" in lines[0] and "pexcp validate" in lines[0]
    assert not out.exists()
