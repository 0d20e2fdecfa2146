"""Build and run a generated project: the host harness (checked against onnxruntime by the tests) and the
Cortex-M image under QEMU (tests and benchmarks). Everything goes through the project's own Makefile, so
what is tested is what a user runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pexcp.ir import Graph

STRICT_HOST_CFLAGS = "-std=c99 -O1 -g -Wall -Wextra -Werror"
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all"
ARM_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
XORSHIFT_SEED = 0x2545F491  # main.c's built-in inputs
_OUTPUT = re.compile(r"^y(\d+)\[(\d+)\] = 0x([0-9a-f]{8})", re.M)
_OUTPUT_TYPE = re.compile(r"^output (\d+) .*, (float32|u?int\d+)\)$", re.M)
_FIGURE = re.compile(
    r"^(static RAM \(\.data \+ \.bss\)|stack high-water \(model_run\)|instructions \(model_run\)): (\d+)", re.M
)


class BuildError(RuntimeError):
    """A generated project failed to build or run: the message carries the tool's output."""


def missing_tools(tools: tuple[str, ...] = ARM_TOOLS) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def _make(project: Path, target: str, variables: dict[str, str], timeout: float) -> str:
    cmd = ["make", "-s", "--no-print-directory", target] + [f"{k}={v}" for k, v in variables.items()]
    try:
        result = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"make {target} in {project} timed out after {timeout:.0f} s") from None
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr[-4000:]
        raise BuildError(f"make {target} in {project} failed ({result.returncode}):\n{output}")
    return result.stdout


def build_host(project: Path, cflags: str = STRICT_HOST_CFLAGS, sanitize: str = SANITIZE) -> Path:
    """`make host` with strict flags and sanitizers; dead tensors are poisoned (MODEL_POISON_DEAD)."""
    _make(project, "host", {"HOST_CFLAGS": cflags, "SANITIZE": sanitize}, timeout=300)
    return project / "model_host"


def run_host(
    project: Path,
    inputs: list[np.ndarray],
    output_shapes: list[tuple[int, ...]],
    tag: str = "",
    output_dtypes: list[str] | None = None,
) -> list[np.ndarray]:
    """Run model_host on inputs given in the declared layout, each as raw bytes of its own dtype; outputs in
    the declared layout, float32 unless `output_dtypes` says otherwise."""
    paths = []
    for i, x in enumerate(inputs):
        path = project / f"in{i}{tag}.bin"
        np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<")).tofile(path)
        paths.append(str(path))
    dtypes = output_dtypes or ["float32"] * len(output_shapes)
    outdir = project / f"out{tag}"
    outdir.mkdir(exist_ok=True)
    cmd = [str(project / "model_host"), *paths, "-o", str(outdir)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise BuildError(f"model_host failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return [
        np.fromfile(outdir / f"out{j}.bin", dtype=np.dtype(d).newbyteorder("<")).reshape(s)
        for j, (s, d) in enumerate(zip(output_shapes, dtypes))
    ]


@dataclass
class QemuRun:
    outputs: list[np.ndarray]  # flat, declared order, float32 or int8
    static_ram: int  # .data + .bss as the image reports it
    stack_bytes: int  # high-water mark of model_run (with one SysTick exception frame)
    instructions: int  # executed by model_run (SysTick resolution: 40 instructions)
    text: str


def build_qemu(project: Path, opt: str = "-O2", extra_cflags: str = "") -> Path:
    """`make model_qemu.elf`: Cortex-M4F image, -Werror on the generated code and the harness."""
    cflags = f"-std=c99 {opt} -ffp-contract=off -Wall -Wextra -Werror -ffunction-sections -fdata-sections {extra_cflags}"
    _make(project, "model_qemu.elf", {"ARM_CFLAGS": cflags}, timeout=600)
    return project / "model_qemu.elf"


def run_qemu(project: Path, timeout: float = 120) -> QemuRun:
    """`make qemu`: fails (BuildError) on a fault, a timeout or any non-zero exit."""
    text = _make(project, "qemu", {"QEMU_TIMEOUT": str(int(timeout))}, timeout=timeout + 30)
    values: dict[int, dict[int, int]] = {}
    for j, offset, bits in _OUTPUT.findall(text):
        values.setdefault(int(j), {})[int(offset)] = int(bits, 16)
    dtypes = {int(j): d for j, d in _OUTPUT_TYPE.findall(text)}
    outputs = []
    for j in sorted(values):
        flat = np.zeros(len(values[j]), dtype=np.uint32)
        for offset, bits in values[j].items():
            flat[offset] = bits
        dtype = dtypes.get(j, "float32")
        if dtype == "int8":
            outputs.append(flat.astype(np.uint8).view(np.int8))
        elif dtype != "float32":  # other integers: their low 32 bits
            outputs.append(flat.view(np.int32).astype(dtype))
        else:
            outputs.append(flat.view(np.float32))
    figures = {name: int(v) for name, v in _FIGURE.findall(text)}
    if len(figures) != 3:
        raise BuildError(f"QEMU run printed no figures:\n{text[-2000:]}")
    return QemuRun(
        outputs,
        figures["static RAM (.data + .bss)"],
        figures["stack high-water (model_run)"],
        figures["instructions (model_run)"],
        text,
    )


def section_sizes(elf: Path) -> dict[str, int]:
    """Section name -> bytes, from `arm-none-eabi-size -A`."""
    text = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def qemu_inputs(graph: Graph) -> list[np.ndarray]:
    """The inputs main.c builds into the Cortex-M image, in the declared layout (as onnxruntime takes
    them): xorshift32 values filled in stored order, input after input; float32 inputs get k / 2^23 - 1
    for the top 24 bits k, int8 inputs the top byte."""
    state = XORSHIFT_SEED
    result = []
    for name in graph.inputs:
        t = graph.tensors[name]
        int8 = t.dtype == "int8"
        values = np.empty(t.numel, dtype=np.int8 if int8 else np.float32)
        for i in range(t.numel):
            state ^= (state << 13) & 0xFFFFFFFF
            state ^= state >> 17
            state ^= (state << 5) & 0xFFFFFFFF
            values[i] = np.uint8(state >> 24).view(np.int8) if int8 else ((state >> 8) - 8388608) / 8388608.0
        stored = values.reshape(t.shape)
        result.append(stored if t.perm is None else stored.transpose(np.argsort(t.perm)))
    return result
