"""Run int8 kernel calls on the Cortex-M4F under QEMU (mps2-an386, -icount shift=0): one generated main.c
holds every call's data as const arrays, times each call with SysTick (40 instructions per tick) and prints
an FNV-1a hash (or the bytes) of its output; a canary after each call's scratch (the size quant.py gives)
catches a fast path that writes past it. Built once with the DSP fast paths and once with
-DPEXCP_NO_DSP (the portable loops), so both can be compared with each other and with host results.
Used by tests/test_kernels_s8_qemu.py and benchmarks/bench_kernels_s8.py."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pexcp.backends.c import quant
from s8_kernels import RUNTIME, SOURCES, STORE, FcParams, conv_params

TEMPLATES = RUNTIME.parent / "templates"
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
C_TYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t"}
_LINE = re.compile(r"^call (\d+) insns (\d+) out ([0-9a-f]+)$", re.M)


def fnv1a(data: bytes) -> str:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


@dataclass
class Call:
    """One kernel call: `code` uses the const arrays (name -> data), `out` (int8) and `acc` (int32) RAM
    buffers prefilled by `prologue`, and `scratch`. `out_bytes`/`acc_words` bound what is hashed."""

    label: str
    code: str
    arrays: dict[str, np.ndarray]
    out_bytes: int
    macs: int = 0
    acc_words: int = 0
    acc_init: np.ndarray | None = None  # initial accumulator contents
    result: str = "out"  # "out" (int8) or "acc" (int32 bytes) is hashed
    expect: bytes | None = None  # expected result bytes (e.g. the host build's, checked against TFLite Micro)
    meta: dict = field(default_factory=dict)


def _c_array(name: str, a: np.ndarray) -> str:
    flat = np.ascontiguousarray(a).reshape(-1)
    body = ",".join(str(int(v)) for v in flat) or "0"
    return f"static const {C_TYPES[flat.dtype]} {name}[{max(1, flat.size)}] __attribute__((aligned(4))) = {{{body}}};"


def struct(type_name: str, value) -> str:
    """A compound literal of a params struct from a ctypes Structure (s8_kernels) instance."""
    parts = []
    for name, _ in value._fields_:
        v = getattr(value, name)
        parts.append(f".{name} = {{{','.join(str(x) for x in v)}}}" if hasattr(v, "__len__") else f".{name} = {v}")
    return f"&({type_name}){{{', '.join(parts)}}}"


def main_c(calls: list[Call], scratch_bytes: int, dump: bool) -> str:
    out_max = max(c.out_bytes for c in calls)
    acc_max = max([c.acc_words for c in calls] + [1])
    lines = ['#include <stdio.h>', '#include <string.h>', '#include "pexcp_s8.h"', ""]
    for i, c in enumerate(calls):
        for name, a in c.arrays.items():
            lines.append(_c_array(f"c{i}_{name}", a))
        if c.acc_init is not None:
            lines.append(_c_array(f"c{i}_acc_init", c.acc_init))
    lines += [
        f"static int8_t out[{out_max}] __attribute__((aligned(4)));",
        f"static int32_t acc[{acc_max}] __attribute__((unused));",
        f"static int32_t scratch_words[{(scratch_bytes + 3) // 4 + 16}]; /* + a 64-byte canary */",
        "static void *const scratch __attribute__((unused)) = scratch_words;",
        "#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)",
        "#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)",
        "#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)",
        "static volatile uint32_t wraps;",
        "void SysTick_Handler(void) { ++wraps; }",
        "static unsigned long ticks(void) { uint32_t w, v; do { w = wraps; v = SYST_CVR; } while (w != wraps);",
        "    return ((unsigned long)w << 24) + (0xFFFFFFu - v); }",
        "static int canary_ok(long from) { const uint8_t *b = (const uint8_t *)scratch_words;",
        "    for (long k = from; k < from + 64; ++k) { if (b[k] != 0xA5) return 0; }",
        "    return 1; }",
        "static void report(int i, unsigned long insns, const uint8_t *p, long n, long scratch_used) {",
        "    if (!canary_ok(scratch_used)) printf(\"call %d wrote past its scratch\\n\", i);",
        "    printf(\"call %d insns %lu out \", i, insns);",
        "    if (%d) { for (long k = 0; k < n; ++k) printf(\"%%02x\", p[k]); }" % int(dump),
        "    else { uint32_t h = 0x811C9DC5u; for (long k = 0; k < n; ++k) h = (h ^ p[k]) * 0x01000193u;",
        "           printf(\"%08lx\", (unsigned long)h); }",
        "    printf(\"\\n\"); }",
        "int main(void) {",
        "    SYST_RVR = 0xFFFFFFu; SYST_CVR = 0; SYST_CSR = 7u; while (SYST_CVR == 0) { }",
    ]
    for i, c in enumerate(calls):
        code = re.sub(r"\$(\w+)", lambda m: f"c{i}_{m.group(1)}", c.code)
        init = f"memcpy(acc, c{i}_acc_init, sizeof c{i}_acc_init);" if c.acc_init is not None else ""
        res = "(const uint8_t *)acc" if c.result == "acc" else "(const uint8_t *)out"
        n = c.acc_words * 4 if c.result == "acc" else c.out_bytes
        lines += [
            f"    {{ memset(out, 0x55, sizeof out); memset(scratch_words, 0xA5, sizeof scratch_words); {init}",
            f"      const unsigned long t0 = ticks(); {code} const unsigned long t1 = ticks();",
            f"      report({i}, (t1 - t0) * 40ul, {res}, {n}, {c.meta.get('scratch', 0)}); }}",
        ]
    lines += ["    SYST_CSR = 0;", "    return 0;", "}"]
    return "\n".join(lines) + "\n"


@dataclass
class Result:
    insns: int
    out: str  # hash or hex bytes


def run(calls: list[Call], workdir: Path, dsp: bool, dump: bool = False, opt: str = "-O2", timeout: float = 300) -> list[Result]:
    """Build the image (DSP fast paths or -DPEXCP_NO_DSP) and run it under QEMU."""
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = max([c.meta.get("scratch", 0) for c in calls] + [4])
    (workdir / "main.c").write_text(main_c(calls, scratch, dump))
    elf = workdir / ("dsp.elf" if dsp else "portable.elf")
    cmd = ["arm-none-eabi-gcc", *ARM_FLAGS, "-std=c99", opt, "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
           "-fdata-sections", "-I", str(RUNTIME), "--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles",
           "-T", str(TEMPLATES / "cortex_m.ld"), "-Wl,--gc-sections",
           "-Wl,--defsym=FLASH_SIZE=0x400000,--defsym=RAM_SIZE=0x400000,--defsym=STACK_SIZE=0x4000",
           *([] if dsp else ["-DPEXCP_NO_DSP"]), "-o", str(elf), str(TEMPLATES / "startup_cortex_m.c"),
           str(workdir / "main.c"), *map(str, SOURCES)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"arm-none-eabi-gcc failed:\n{build.stderr[-4000:]}")
    qemu = ["timeout", str(int(timeout)), "qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
            "-serial", "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]
    res = subprocess.run(qemu, capture_output=True, text=True, timeout=timeout + 30)
    if res.returncode != 0:
        raise RuntimeError(f"QEMU run failed ({res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
    if "wrote past its scratch" in res.stdout:
        raise RuntimeError("a kernel wrote past the scratch size quant.py gives:\n" + res.stdout[-2000:])
    found = {int(i): Result(int(n), h) for i, n, h in _LINE.findall(res.stdout)}
    if len(found) != len(calls):
        raise RuntimeError(f"QEMU printed {len(found)} of {len(calls)} results:\n{res.stdout[-2000:]}")
    return [found[i] for i in range(len(calls))]


# ---- calls of the int8 kernels -------------------------------------------------------------------------


def conv_call(label: str, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, q: quant.ConvQuant, *,
              stride=(1, 1), dil=(1, 1), pads=(0, 0, 0, 0), group=1, oc=None, ic=None, mode=STORE,
              acc_init: np.ndarray | None = None, scratch: bool = True, expect: bytes | None = None) -> Call:
    """pexcp_conv_s8 on x (channels [ic0, ic1) of C x H x W), weights O x C/g x kh x kw (ONNX layout)."""
    p = conv_params(x.shape[1:], w.shape, q, stride, dil, pads, group)
    in_c, out_c, k_h, k_w, out_h, out_w = p.in_c, p.out_c, p.k_h, p.k_w, p.out_h, p.out_w
    oc0, oc1 = oc or (0, out_c)
    ic0, ic1 = ic or (0, in_c)
    arrays = {"x": x.astype(np.int8), "w": w.astype(np.int8), "mult": np.array(q.mult, np.int32),
              "shift": np.array(q.shift, np.int32)}
    if bias is not None:
        arrays["bias"] = bias.astype(np.int32)
    planned_c = ic1 - ic0 if group == 1 else in_c  # what a plan reserves for a call over these inputs
    size = (quant.conv_scratch_bytes(planned_c, out_c, group, k_h, k_w, out_h, out_w, stride[0], stride[1], dil[0],
                                     dil[1]) if scratch else 0)
    n_out = (oc1 - oc0) * out_h * out_w
    uses_acc = mode != STORE or acc_init is not None
    code = (f"pexcp_conv_s8({struct('pexcp_conv_s8_params', p)}, $x, out, {'acc' if uses_acc else '0'}, $w, "
            f"{'$bias' if bias is not None else '0'}, $mult, $shift, {oc0}, {oc1}, {ic0}, {ic1}, {mode}, "
            f"{'scratch' if size else '0'});")
    macs = n_out * (ic1 - ic0) // group * k_h * k_w if group == 1 else n_out * w.shape[1] * k_h * k_w
    return Call(label, code, arrays, n_out, macs, acc_words=n_out if uses_acc else 0, acc_init=acc_init,
                result="out" if mode & 2 else "acc", expect=expect, meta={"scratch": size})


def fc_call(label: str, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, q: quant.ConvQuant, *, n=None, k=None,
            mode=STORE, acc_init: np.ndarray | None = None, scratch: bool = True, expect: bytes | None = None) -> Call:
    n_all, k_all = w.shape
    n0, n1 = n or (0, n_all)
    k0, k1 = k or (0, k_all)
    m = x.shape[0]
    p = FcParams(m, n_all, k_all, q.in_offset, q.out_offset, q.act_min, q.act_max)
    arrays = {"x": x.astype(np.int8), "w": w.astype(np.int8), "mult": np.array(q.mult, np.int32),
              "shift": np.array(q.shift, np.int32)}
    if bias is not None:
        arrays["bias"] = bias.astype(np.int32)
    size = quant.fully_connected_scratch_bytes(k_all) if scratch else 0
    n_out = m * (n1 - n0)
    uses_acc = mode != STORE or acc_init is not None
    code = (f"pexcp_fully_connected_s8({struct('pexcp_fc_s8_params', p)}, $x, out, {'acc' if uses_acc else '0'}, $w, "
            f"{'$bias' if bias is not None else '0'}, $mult, $shift, {n0}, {n1}, {k0}, {k1}, {mode}, "
            f"{'scratch' if size else '0'});")
    return Call(label, code, arrays, n_out, n_out * (k1 - k0), acc_words=n_out if uses_acc else 0, acc_init=acc_init,
                result="out" if mode & 2 else "acc", expect=expect, meta={"scratch": size})

