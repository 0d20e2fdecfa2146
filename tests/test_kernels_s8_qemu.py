"""The Cortex-M4 DSP fast paths give the same bits as the portable loops: random conv (full, grouped,
depthwise with multiplier, strides, dilations, padding) and fully connected calls, whole and sliced (output
slices, input-channel accumulation), run on the Cortex-M4F under QEMU and compared with the host's portable
results (themselves checked against TFLite Micro in test_kernels_s8.py). One image holds every call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import s8_qemu
from pexcp.backends.c import quant
from pexcp.backends.c.toolchain import missing_tools
from s8_kernels import ACT, INIT, Kernels, build_library

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(bool(missing_tools()), reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]


def _conv_case(k: Kernels, rng: np.random.Generator, i: int) -> list[s8_qemu.Call]:
    depthwise = i % 2 == 1
    c = int(rng.integers(1, 9))
    mult = int(rng.integers(1, 3)) if depthwise else 1
    group = c if depthwise else int(rng.choice([g for g in (1, 2, 3) if c % g == 0]))
    out_c = c * mult if depthwise else group * int(rng.integers(1, 7))
    if depthwise:  # every other depthwise case is 3x3, the unrolled path
        k_h, k_w = (3, 3) if i % 4 == 1 else (int(rng.choice([1, 3, 5, 7])), int(rng.choice([1, 2, 3, 4, 5, 7])))
    else:
        k_h, k_w = (int(v) for v in rng.integers(1, 5, 2))
    stride = tuple(int(v) for v in rng.integers(1, 3, 2))
    dil = (1, 1) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(1, 3, 2))
    pads = tuple(int(v) for v in rng.integers(0, 3, 4))
    h = int(rng.integers(max(1, (k_h - 1) * dil[0] + 1 - pads[0] - pads[2]), 13))
    w_ = int(rng.integers(max(1, (k_w - 1) * dil[1] + 1 - pads[1] - pads[3]), 13))
    cin_g = c // group
    x = rng.integers(-128, 128, size=(c, h, w_), dtype=np.int8)
    wt = rng.integers(-127, 128, size=(out_c, cin_g, k_h, k_w), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=out_c).astype(np.int32)
    s_w = rng.uniform(0.002, 0.05, out_c)
    q = quant.conv_quant(0.05, int(rng.integers(-128, 128)), s_w, 0.05 * s_w.mean() * np.sqrt(cin_g * k_h * k_w) * 70,
                         int(rng.integers(-128, 128)), out_c, (0.0, 6.0) if rng.random() < 0.5 else (None, None))
    call = dict(stride=stride, dil=dil, pads=pads, group=group)
    whole, _ = k.conv(x, wt, bias, q, **call)
    calls = [s8_qemu.conv_call(f"conv{i}", x, wt, bias, q, expect=whole.tobytes(), **call)]
    cut = out_c // 2
    if cut:
        calls.append(s8_qemu.conv_call(f"conv{i} oc", x, wt, bias, q, oc=(cut, out_c), expect=whole[cut:].tobytes(), **call))
    if group == 1 and out_c > 1:  # one output channel (a split head's round: the row-wise DSP path)
        calls.append(s8_qemu.conv_call(f"conv{i} oc1", x, wt, bias, q, oc=(out_c - 1, out_c),
                                       expect=whole[out_c - 1:].tobytes(), **call))
    if not depthwise and c > 1:  # input-channel accumulation: INIT, then ACT from the accumulator
        ic = c // 2
        _, acc = k.conv(x[:ic], wt, bias, q, ic=(0, ic), mode=INIT, **call)
        calls.append(s8_qemu.conv_call(f"conv{i} init", x[:ic], wt, bias, q, ic=(0, ic), mode=INIT,
                                       expect=acc.tobytes(), **call))
        calls.append(s8_qemu.conv_call(f"conv{i} act", x[ic:], wt, bias, q, ic=(ic, c), mode=ACT, acc_init=acc,
                                       expect=whole.tobytes(), **call))
    return calls


def _fc_case(k: Kernels, rng: np.random.Generator, i: int) -> list[s8_qemu.Call]:
    m, n, kk = int(rng.integers(1, 3)), int(rng.integers(1, 20)), int(rng.integers(1, 70))
    x = rng.integers(-128, 128, size=(m, kk), dtype=np.int8)
    w = rng.integers(-127, 128, size=(n, kk), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=n).astype(np.int32)
    q = quant.fully_connected_quant(0.03, int(rng.integers(-128, 128)), 0.01, 0.03 * 0.01 * np.sqrt(kk) * 70,
                                    int(rng.integers(-128, 128)), n)
    whole, _ = k.fully_connected(x, w, bias, q)
    calls = [s8_qemu.fc_call(f"fc{i}", x, w, bias, q, expect=whole.tobytes())]
    if m == 1 and kk > 1:
        k0 = kk // 2
        _, acc = k.fully_connected(x[:, :k0], w, bias, q, k=(0, k0), mode=INIT)
        calls.append(s8_qemu.fc_call(f"fc{i} act", x[:, k0:], w, bias, q, k=(k0, kk), mode=ACT, acc_init=acc,
                                     expect=whole.tobytes()))
    return calls


def test_dsp_paths_equal_portable_under_qemu(tmp_path: Path) -> None:
    k = Kernels(build_library())
    rng = np.random.default_rng(2024)
    calls: list[s8_qemu.Call] = []
    for i in range(24):
        calls += _conv_case(k, rng, i)
    for i in range(8):
        calls += _fc_case(k, rng, i)
    fast = [c.meta["scratch"] > 0 for c in calls]  # dilated depthwise convs have no fast path
    assert sum(fast) > 0.8 * len(calls)
    for dsp in (True, False):
        results = s8_qemu.run(calls, tmp_path, dsp=dsp)
        bad = [c.label for c, r in zip(calls, results) if r.out != s8_qemu.fnv1a(c.expect)]
        assert not bad, f"{'DSP' if dsp else 'portable'} build on the Cortex-M4 differs from the host on {bad}"
        insns = sum(r.insns for r, f in zip(results, fast) if f)
        if dsp:
            dsp_insns = insns
    assert dsp_insns < insns  # the fast paths did run


def _pointwise_and_depthwise_case(k: Kernels, rng: np.random.Generator, i: int) -> list[s8_qemu.Call]:
    """The block pointwise path (1x1, stride 1, no padding, a multiple of 4 inputs up to 48, maps larger than
    a block and not a multiple of 4 pixels), the depthwise rows (ring and whole-map lines, odd widths,
    stride 2) and the direct 3x3 paths (stride 1 with one padding column each side, rows from 6 wide, top and
    bottom padding 0 to 2; stride 2 with at most one padding column each side), with requantization
    shifts from -1 (the generic form) to below -23 (offset not
    folded)."""
    kind = ("pointwise", "depthwise", "direct3x3", "direct3x3s2")[i % 4]
    depthwise = kind == "depthwise"
    c = {"pointwise": int(rng.choice([4, 8, 12, 16, 24, 48])), "depthwise": int(rng.integers(1, 6)),
         "direct3x3": int(rng.integers(1, 10)), "direct3x3s2": int(rng.integers(1, 10))}[kind]
    out_c = int(rng.integers(1, 9)) if not depthwise else c * int(rng.integers(1, 3))
    if depthwise:
        k_h = k_w = int(rng.choice([3, 3, 5, 7]))
        stride = (int(rng.integers(1, 3)),) * 2
        pads = (k_h // 2,) * 4 if rng.random() < 0.7 else (0, 0, 0, 0)
    elif kind == "direct3x3":
        k_h = k_w = 3
        stride, pads = (1, 1), (int(rng.integers(0, 3)), 1, int(rng.integers(0, 3)), 1)
    elif kind == "direct3x3s2":
        k_h = k_w = 3
        stride, pads = (2, 2), tuple(int(v) for v in rng.integers(0, 2, 4))
    else:
        k_h = k_w = 1
        stride, pads = (1, 1), (0, 0, 0, 0)
    lo = max(1, k_h - pads[0] - pads[2])
    wide = 90 if kind == "direct3x3s2" else 40  # stride 2: rows of more than 32 outputs take two chunks
    h, w_ = int(rng.integers(lo, 16 if kind == "direct3x3s2" else 30)), int(rng.integers(max(lo, 6), wide))
    x = rng.integers(-128, 128, size=(c, h, w_), dtype=np.int8)
    wt = rng.integers(-127, 128, size=(out_c, 1 if depthwise else c, k_h, k_w), dtype=np.int8)
    bias = rng.integers(-50000, 50000, size=out_c).astype(np.int32)
    s_w = rng.uniform(0.002, 0.05, out_c)
    s_out = 0.05 * s_w.mean() * float(rng.choice([0.25, 0.6, 3.0, 70.0, 5e5, 5e7]))  # shifts >= 0 to < -23
    q = quant.conv_quant(0.05, int(rng.integers(-128, 128)), s_w, s_out, int(rng.integers(-128, 128)), out_c,
                         (0.0, 6.0) if rng.random() < 0.3 else (None, None))
    call = dict(stride=stride, pads=pads, group=c if depthwise else 1)
    whole, _ = k.conv(x, wt, bias, q, **call)
    calls = [s8_qemu.conv_call(f"pd{i}", x, wt, bias, q, expect=whole.tobytes(), **call)]
    if out_c > 1:
        cut = out_c // 2
        calls.append(s8_qemu.conv_call(f"pd{i} oc", x, wt, bias, q, oc=(cut, out_c), expect=whole[cut:].tobytes(),
                                       **call))
        calls.append(s8_qemu.conv_call(f"pd{i} oc1", x, wt, bias, q, oc=(out_c - 1, out_c),
                                       expect=whole[out_c - 1:].tobytes(), **call))
    if not depthwise and c >= (8 if kind == "pointwise" else 2):  # input-channel accumulation
        ic = 4 * (c // 8) if kind == "pointwise" else c // 2
        _, acc = k.conv(x[:ic], wt, bias, q, ic=(0, ic), mode=INIT, **call)
        calls.append(s8_qemu.conv_call(f"pd{i} init", x[:ic], wt, bias, q, ic=(0, ic), mode=INIT,
                                       expect=acc.tobytes(), **call))
        calls.append(s8_qemu.conv_call(f"pd{i} act", x[ic:], wt, bias, q, ic=(ic, c), mode=ACT, acc_init=acc,
                                       expect=whole.tobytes(), **call))
    return calls


def test_block_pointwise_and_depthwise_rows_equal_portable_under_qemu(tmp_path: Path) -> None:
    k = Kernels(build_library())
    rng = np.random.default_rng(12)
    calls: list[s8_qemu.Call] = []
    for i in range(48):
        calls += _pointwise_and_depthwise_case(k, rng, i)
    assert any(c.arrays["w"].shape[2:] == (1, 1) and quant.pointwise_block(c.arrays["w"].shape[1]) for c in calls)
    results = s8_qemu.run(calls, tmp_path, dsp=True)
    bad = [c.label for c, r in zip(calls, results) if r.out != s8_qemu.fnv1a(c.expect)]
    assert not bad, f"the DSP build on the Cortex-M4 differs from the host on {bad}"
