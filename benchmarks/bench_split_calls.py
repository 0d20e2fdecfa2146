"""What splitting costs one int8 conv on a Cortex-M4F (QEMU mps2-an386, -icount shift=0): instructions of the
whole call against the same layer run as calls over output-channel slices (a split group's head) and as
calls accumulating input-channel slices (a split tail), DSP fast paths. Each call is given at least the
scratch a plan reserves for it (the kernels use no more than that), which the table shows.

    python benchmarks/bench_split_calls.py [--shape 16x32x32:16] [--kernel 3] [--markdown]

Default: ic_resnet8_int8's 3x3 conv that its cpsat plan runs in 16 one-channel rounds (16 -> 16 channels,
32 x 32, pad 1). Random int8 data (instruction counts do not depend on it beyond requantization branches);
every call's output is checked against the portable build's (exit code 1 if any differs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the QEMU kernel harness

import numpy as np  # noqa: E402

import s8_qemu  # noqa: E402
from bench_c_backend import _table  # noqa: E402
from pexcp.backends.c import quant  # noqa: E402
from pexcp.backends.c.toolchain import missing_tools  # noqa: E402
from rich.console import Console  # noqa: E402
from s8_kernels import ACT, INIT  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="16x32x32:16", help="input C x H x W : output channels")
    ap.add_argument("--kernel", type=int, default=3, help="square kernel size (pad k // 2, stride 1)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if missing_tools():
        print(f"missing {', '.join(missing_tools())}")
        return 1
    dims, out_c = args.shape.split(":")
    c, h, w_ = (int(v) for v in dims.split("x"))
    out_c, k = int(out_c), args.kernel
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(c, h, w_), dtype=np.int8)
    w = rng.integers(-127, 128, size=(out_c, c, k, k), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=out_c).astype(np.int32)
    s_w = rng.uniform(0.002, 0.05, out_c)
    q = quant.conv_quant(0.05, 3, s_w, 0.05 * s_w.mean() * np.sqrt(c * k * k) * 70, -5, out_c)
    call = dict(pads=(k // 2,) * 4)
    def planned(channels: int) -> int:  # the scratch a plan reserves for a call over `channels` input channels
        return quant.conv_scratch_bytes(channels, out_c, 1, k, k, h, w_, 1, 1)

    runs: list[tuple[str, list[s8_qemu.Call], int]] = [
        ("whole", [s8_qemu.conv_call("whole", x, w, bias, q, **call)], planned(c))]
    for width in (1, 2, 4, 8):
        if width < out_c:
            runs.append((f"{out_c // width} output slices of {width}", [
                s8_qemu.conv_call(f"oc{o}", x, w, bias, q, oc=(o, min(o + width, out_c)), **call)
                for o in range(0, out_c, width)], planned(c)))
        if width < c:
            slices = list(range(0, c, width))
            runs.append((f"{len(slices)} input slices of {width}", [
                s8_qemu.conv_call(f"ic{i}", x[i:i + width], w, bias, q, ic=(i, min(i + width, c)),
                                  mode=(INIT if i == 0 else 0) | (ACT if i == slices[-1] else 0),
                                  acc_init=np.zeros(out_c * h * w_, np.int32), **call)
                for i in slices], planned(width)))
    calls = [cl for _, cs, _ in runs for cl in cs]
    workdir = Path(tempfile.mkdtemp(prefix="pexcp-split-calls-"))
    dsp = s8_qemu.run(calls, workdir / "dsp", dsp=True)
    portable = s8_qemu.run(calls, workdir / "portable", dsp=False)
    same = all(a.out == b.out for a, b in zip(dsp, portable))
    macs = calls[0].macs
    rows, at = [], 0
    whole = dsp[0].insns
    for label, cs, scratch in runs:
        insns = sum(r.insns for r in dsp[at:at + len(cs)])
        rows.append([label, f"{len(cs)}", f"{scratch:,}", f"{insns:,}",
                     f"{insns / macs:.2f}", f"{(insns / whole - 1) * 100:+.1f}%"])
        at += len(cs)
    _table(
        f"int8 conv {c}x{h}x{w_} -> {out_c}, {k}x{k}, pad {k // 2} ({macs:,} MACs), DSP build: the whole call "
        "against the same work in channel slices (input slices accumulate; the accumulator traffic between "
        "them is part of their instructions)",
        ["calls", "count", "planned scratch B per call", "instructions", "insns/MAC", "vs whole"],
        rows, args.markdown, Console(width=200),
    )
    if not same:
        print("DSP and portable builds differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
