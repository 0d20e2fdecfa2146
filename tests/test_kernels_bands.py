"""Row bands of the conv and pool kernels (the contract at the top of pexcp_runtime.h): computing the output
band by band, each band reading its input rows [lo, hi) from a window buffer whose channel stride is larger
than the band (poison in the rows around them and between channels) and writing into a poisoned output
window, gives the whole call's output bit for bit and leaves every other byte as it was. Float and int8,
full, grouped, depthwise (with a channel multiplier), 1x1, strided, dilated, odd and tall kernels, asymmetric
and large pads (bands wholly in the padding), output-channel ranges and (int8) input-channel accumulation
through an accumulator window; max and average pools. The host runs the portable loops (UBSan; the
AddressSanitizer rerun catches reads past the window buffers); QEMU runs the Cortex-M4 DSP paths on band calls
shaped to select each of them."""

from __future__ import annotations

import copy
import ctypes as C
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s8_qemu
from pexcp.backends.c import quant
from pexcp.backends.c.toolchain import missing_tools
from s8_kernels import ACT, INIT, RUNTIME, STORE, ConvParams, Kernels, PoolParams, build_library, conv_params

EXAMPLES = settings(max_examples=60, deadline=None)


class F32ConvParams(C.Structure):
    """pexcp_conv_params (pexcp_runtime.h)"""
    _fields_ = [(n, C.c_int) for n in ("in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "k_h", "k_w", "stride_h",
                                       "stride_w", "dil_h", "dil_w", "pad_t", "pad_l", "group")] + [
        (n, C.c_long) for n in ("in_cs", "out_cs")] + [(n, C.c_float) for n in ("act_min", "act_max")]


class F32PoolParams(C.Structure):
    """pexcp_pool_params (pexcp_runtime.h)"""
    _fields_ = [(n, C.c_int) for n in ("in_h", "in_w", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "dil_h",
                                       "dil_w", "pad_t", "pad_l", "pad_b", "pad_r", "count_include_pad")] + [
        (n, C.c_long) for n in ("in_cs", "out_cs")]


@pytest.fixture(scope="module")
def s8() -> Kernels:
    return Kernels(build_library())


@pytest.fixture(scope="module")
def f32() -> C.CDLL:
    return C.CDLL(str(build_library(sources=[RUNTIME / "conv.c", RUNTIME / "pool.c"])))


def band_rows(a: int, b: int, in_h: int, pad_t: int, k_h: int, stride: int, dil: int) -> tuple[int, int, int]:
    """(lo, hi, the band's pad_t) of output rows [a, b), as pexcp_runtime.h states the contract."""
    lo = min(in_h, max(0, a * stride - pad_t))
    hi = max(lo, min(in_h, (b - 1) * stride - pad_t + (k_h - 1) * dil + 1))
    return lo, hi, lo - (a * stride - pad_t)


def at(a: np.ndarray, elements: int) -> C.c_void_p:
    """a pointer `elements` elements into a"""
    return C.c_void_p(a.ctypes.data + elements * a.itemsize)


def poison(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """float: NaN (any use spreads to the output); int8 / int32: random values"""
    if dtype == np.float32:
        return np.full(shape, np.nan, dtype=np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


@dataclass
class Band:
    """One band call: output rows [a, b) from input rows [lo, hi) held in windows with margins (rows of poison)."""

    a: int
    b: int
    lo: int
    hi: int
    pad_t: int
    in_top: int
    in_rows: int  # the input window's row capacity
    out_top: int
    out_rows: int


def bands(data: st.DataObject, out_h: int, in_h: int, pad_t: int, k_h: int, stride: int, dil: int) -> list[Band]:
    """A random cut of [0, out_h) (bands of one row included) with random window margins."""
    cuts = sorted(data.draw(st.sets(st.integers(1, out_h - 1), max_size=out_h - 1), label="cuts")) if out_h > 1 else []
    edges = [0, *cuts, out_h]
    result = []
    for a, b in zip(edges, edges[1:]):
        lo, hi, pt = band_rows(a, b, in_h, pad_t, k_h, stride, dil)
        in_top, in_bottom, out_top, out_bottom = data.draw(st.tuples(*[st.integers(0, 2)] * 4), label="margins")
        result.append(Band(a, b, lo, hi, pt, in_top, in_top + hi - lo + in_bottom + 1, out_top,
                           out_top + b - a + out_bottom + 1))
    return result


Invoke = Callable[[C.Structure, np.ndarray, int, np.ndarray, int, Band], None]


def check_bands(rng: np.random.Generator, p: C.Structure, x: np.ndarray, whole: np.ndarray, plan: list[Band],
                invoke: Invoke) -> None:
    """Runs every band of `plan` through `invoke` (params, input window, element offset of the band's first
    row in it, output window, offset of its first row, band) and checks the output window: the band's rows are
    the whole call's rows, every other element (and the input window) is untouched."""
    c_in, _, in_w = x.shape
    c_out, _, out_w = whole.shape
    for band in plan:
        xw = poison(rng, (c_in, band.in_rows, in_w), x.dtype)
        xw[:, band.in_top:band.in_top + band.hi - band.lo] = x[:, band.lo:band.hi]
        yw = poison(rng, (c_out, band.out_rows, out_w), whole.dtype)
        want = yw.copy()
        want[:, band.out_top:band.out_top + band.b - band.a] = whole[:, band.a:band.b]
        x_before = xw.copy()
        q = copy.copy(p)
        q.in_h, q.pad_t, q.out_h = band.hi - band.lo, band.pad_t, band.b - band.a
        q.in_cs, q.out_cs = band.in_rows * in_w, band.out_rows * out_w
        invoke(q, xw, band.in_top * in_w, yw, band.out_top * out_w, band)
        where = f"band [{band.a}, {band.b}) from input rows [{band.lo}, {band.hi})"
        assert want.tobytes() == yw.tobytes(), where
        assert x_before.tobytes() == xw.tobytes(), f"{where} wrote its input"


# ---- convolutions ------------------------------------------------------------------------------------------


def fitting(k: int, dil: int, pad_a: int, pad_b: int, most: int) -> st.SearchStrategy[int]:
    """input sizes along an axis that give at least one output, up to `most` (or the least that does)"""
    least = max(1, (k - 1) * dil + 1 - pad_a - pad_b)
    return st.integers(least, max(least, most))


def out_size(n: int, pad_a: int, pad_b: int, dil: int, k: int, stride: int) -> int:
    return (n + pad_a + pad_b - dil * (k - 1) - 1) // stride + 1


class Window:
    """A case's output size from its h, w, pads (top, left, bottom, right), dil, kernel and stride."""

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(out_size(n, a, b, d, k, s) for n, a, b, d, k, s in zip(
            (self.h, self.w), self.pads[:2], self.pads[2:], self.dil, self.kernel, self.stride))


@dataclass
class ConvCase(Window):
    c: int
    out_c: int
    group: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dil: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    h: int
    w: int


@st.composite
def conv_cases(draw: st.DrawFn) -> ConvCase:
    kind = draw(st.sampled_from(["full", "grouped", "depthwise", "pointwise", "3x3", "3x3s2", "tall"]))
    c = draw(st.integers(1, 6))
    group, out_c = 1, draw(st.integers(1, 5))
    if kind == "grouped":
        c, group = 2 * c, 2
        out_c = 2 * out_c
    elif kind == "depthwise":
        group, out_c = c, c * draw(st.integers(1, 2))
    kernel = {"pointwise": (1, 1), "3x3": (3, 3), "3x3s2": (3, 3), "tall": (draw(st.sampled_from([7, 10])), 4)}.get(
        kind, (draw(st.integers(1, 5)), draw(st.integers(1, 5))))
    stride = {"pointwise": (1, 1), "3x3": (1, 1), "3x3s2": (2, 2)}.get(
        kind, (draw(st.integers(1, 3)), draw(st.integers(1, 3))))
    dil = (1, 1) if kind in ("pointwise", "3x3", "3x3s2") else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = (0, 0, 0, 0) if kind == "pointwise" else tuple(draw(st.integers(0, 4)) for _ in range(4))
    h, w = (draw(fitting(k, d, a, b, most)) for k, d, a, b, most in zip(kernel, dil, pads[:2], pads[2:], (14, 10)))
    return ConvCase(c, out_c, group, kernel, stride, dil, pads, h, w)


def conv_data(rng: np.random.Generator, case: ConvCase, dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = (case.out_c, case.c // case.group, *case.kernel)
    if dtype == np.float32:
        return (rng.normal(size=(case.c, case.h, case.w)).astype(np.float32), rng.normal(size=shape).astype(np.float32),
                rng.normal(size=case.out_c).astype(np.float32))
    return (rng.integers(-128, 128, size=(case.c, case.h, case.w), dtype=np.int8),
            rng.integers(-127, 128, size=shape, dtype=np.int8),
            rng.integers(-5000, 5000, size=case.out_c, dtype=np.int32))


def channel_ranges(data: st.DataObject, case: ConvCase) -> tuple[int, int, int, int]:
    """(oc0, oc1, ic0, ic1): a random output-channel range and the input channels it reads"""
    mult = case.out_c // case.c if case.group == case.c else 0
    if mult:  # depthwise: whole input channels, their outputs
        c0 = data.draw(st.integers(0, case.c - 1), label="c0")
        c1 = data.draw(st.integers(c0 + 1, case.c), label="c1")
        return c0 * mult, c1 * mult, c0, c1
    oc0 = data.draw(st.integers(0, case.out_c - 1), label="oc0")
    return oc0, data.draw(st.integers(oc0 + 1, case.out_c), label="oc1"), 0, case.c


@EXAMPLES
@given(case=conv_cases(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_f32_conv_bands(f32: C.CDLL, case: ConvCase, data: st.DataObject, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, w, bias = conv_data(rng, case, np.float32)
    (out_h, out_w), (k_h, k_w) = case.out_hw, case.kernel
    p = F32ConvParams(case.c, case.h, case.w, case.out_c, out_h, out_w, k_h, k_w, *case.stride, *case.dil,
                      *case.pads[:2], case.group, case.h * case.w, out_h * out_w, -1.5, 2.0)
    oc0, oc1, ic0, ic1 = channel_ranges(data, case)
    whole = np.empty((oc1 - oc0, p.out_h, p.out_w), dtype=np.float32)
    f32.pexcp_conv(C.byref(p), at(x, ic0 * p.in_cs), at(whole, 0), at(w, 0), at(bias, 0), oc0, oc1, ic0, ic1, STORE)

    def invoke(q: C.Structure, xw: np.ndarray, x_at: int, yw: np.ndarray, y_at: int, band: Band) -> None:
        f32.pexcp_conv(C.byref(q), at(xw, ic0 * q.in_cs + x_at), at(yw, y_at), at(w, 0), at(bias, 0), oc0, oc1, ic0,
                       ic1, STORE)

    plan = bands(data, p.out_h, case.h, case.pads[0], case.kernel[0], case.stride[0], case.dil[0])
    check_bands(rng, p, x, whole, plan, invoke)


def s8_quant(rng: np.random.Generator, case: ConvCase) -> quant.ConvQuant:
    s_w = rng.uniform(0.002, 0.05, case.out_c)
    taps = case.c // case.group * case.kernel[0] * case.kernel[1]
    return quant.conv_quant(0.05, int(rng.integers(-128, 128)), s_w, 0.05 * s_w.mean() * np.sqrt(taps) * 70,
                            int(rng.integers(-128, 128)), case.out_c,
                            (0.0, 6.0) if rng.random() < 0.5 else (None, None))


def s8_conv_call(lib: C.CDLL, p: ConvParams, x: C.c_void_p, out: C.c_void_p, acc: C.c_void_p, w: np.ndarray,
                 bias: np.ndarray, q: quant.ConvQuant, oc: tuple[int, int], ic: tuple[int, int], mode: int) -> None:
    mult, shift = np.asarray(q.mult, np.int32), np.asarray(q.shift, np.int32)
    lib.pexcp_conv_s8(C.byref(p), x, out, acc, at(w, 0), at(bias, 0), at(mult, 0), at(shift, 0), *oc, *ic, mode, None)


@EXAMPLES
@given(case=conv_cases(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_s8_conv_bands(s8: Kernels, case: ConvCase, data: st.DataObject, seed: int) -> None:
    """STORE calls, and for one-group convs the accumulating pair (INIT over the first input channels into an
    accumulator window of the output's stride, then ACT over the rest), whose accumulator rows outside the
    band must stay untouched too."""
    rng = np.random.default_rng(seed)
    x, w, bias = conv_data(rng, case, np.int8)
    q = s8_quant(rng, case)
    p = conv_params((case.h, case.w), w.shape, q, case.stride, case.dil, case.pads, case.group)
    oc0, oc1, ic0, ic1 = channel_ranges(data, case)
    whole = np.empty((oc1 - oc0, p.out_h, p.out_w), dtype=np.int8)
    s8_conv_call(s8.lib, p, at(x, ic0 * p.in_cs), at(whole, 0), None, w, bias, q, (oc0, oc1), (ic0, ic1), STORE)
    split = data.draw(st.integers(1, case.c - 1), label="split") if case.group == 1 and case.c > 1 else 0

    def invoke(r: C.Structure, xw: np.ndarray, x_at: int, yw: np.ndarray, y_at: int, band: Band) -> None:
        if not split:
            s8_conv_call(s8.lib, r, at(xw, ic0 * r.in_cs + x_at), at(yw, y_at), None, w, bias, q, (oc0, oc1),
                         (ic0, ic1), STORE)
            return
        acc = poison(rng, yw.shape, np.int32)
        before = acc.copy()
        s8_conv_call(s8.lib, r, at(xw, x_at), at(yw, y_at), at(acc, y_at), w, bias, q, (oc0, oc1), (0, split), INIT)
        rows = slice(band.out_top, band.out_top + band.b - band.a)
        outside = np.ones(acc.shape, dtype=bool)
        outside[:, rows] = False
        assert np.array_equal(acc[outside], before[outside]), "the accumulator was written outside the band"
        s8_conv_call(s8.lib, r, at(xw, split * r.in_cs + x_at), at(yw, y_at), at(acc, y_at), w, bias, q, (oc0, oc1),
                     (split, case.c), ACT)

    plan = bands(data, p.out_h, case.h, case.pads[0], case.kernel[0], case.stride[0], case.dil[0])
    check_bands(rng, p, x, whole, plan, invoke)


# ---- pools -------------------------------------------------------------------------------------------------


@dataclass
class PoolCase(Window):
    is_max: bool
    c: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dil: tuple[int, int]
    pads: tuple[int, int, int, int]
    count_include_pad: int
    h: int
    w: int


@st.composite
def pool_cases(draw: st.DrawFn, dilations: bool) -> PoolCase:
    is_max = draw(st.booleans())
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilations and is_max else (1, 1)
    pads = tuple(draw(st.integers(0, k - 1)) for k in kernel * 2)
    h, w = (draw(fitting(k, d, a, b, most)) for k, d, a, b, most in zip(kernel, dil, pads[:2], pads[2:], (14, 10)))
    count = int(dilations and not is_max and draw(st.booleans()))  # float AveragePool's count_include_pad
    return PoolCase(is_max, draw(st.integers(1, 4)), kernel, stride, dil, pads, count, h, w)


@EXAMPLES
@given(case=pool_cases(dilations=True), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_f32_pool_bands(f32: C.CDLL, case: PoolCase, data: st.DataObject, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(case.c, case.h, case.w)).astype(np.float32)
    out_h, out_w = case.out_hw
    p = F32PoolParams(case.h, case.w, out_h, out_w, *case.kernel, *case.stride, *case.dil, *case.pads,
                      case.count_include_pad, case.h * case.w, out_h * out_w)
    kernel = f32.pexcp_max_pool if case.is_max else f32.pexcp_average_pool
    c0 = data.draw(st.integers(0, case.c - 1), label="c0")
    whole = np.empty((case.c - c0, out_h, out_w), dtype=np.float32)
    kernel(C.byref(p), at(x, c0 * p.in_cs), at(whole, 0), c0, case.c)

    def invoke(q: C.Structure, xw: np.ndarray, x_at: int, yw: np.ndarray, y_at: int, band: Band) -> None:
        kernel(C.byref(q), at(xw, c0 * q.in_cs + x_at), at(yw, y_at), c0, case.c)

    plan = bands(data, out_h, case.h, case.pads[0], case.kernel[0], case.stride[0], case.dil[0])
    check_bands(rng, p, x, whole, plan, invoke)


@EXAMPLES
@given(case=pool_cases(dilations=False), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_s8_pool_bands(s8: Kernels, case: PoolCase, data: st.DataObject, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(case.c, case.h, case.w), dtype=np.int8)
    out_h, out_w = case.out_hw
    act = (-128, 127) if rng.random() < 0.5 else (-100, 90)
    p = PoolParams(case.h, case.w, out_h, out_w, *case.kernel, *case.stride, case.pads[0], case.pads[1],
                   case.h * case.w, out_h * out_w, *act)
    kernel = getattr(s8.lib, f"pexcp_{'max' if case.is_max else 'average'}_pool_s8")
    c0 = data.draw(st.integers(0, case.c - 1), label="c0")
    whole = np.empty((case.c - c0, out_h, out_w), dtype=np.int8)
    kernel(C.byref(p), at(x, c0 * p.in_cs), at(whole, 0), c0, case.c)

    def invoke(q: C.Structure, xw: np.ndarray, x_at: int, yw: np.ndarray, y_at: int, band: Band) -> None:
        kernel(C.byref(q), at(xw, c0 * q.in_cs + x_at), at(yw, y_at), c0, case.c)

    plan = bands(data, out_h, case.h, case.pads[0], case.kernel[0], case.stride[0], 1)
    check_bands(rng, p, x, whole, plan, invoke)


def test_bands_under_address_sanitizer() -> None:
    """The host tests above once more with the libraries built with AddressSanitizer (a subprocess, as in
    test_kernels_s8.py): no band call reads or writes past its window buffers."""
    if os.environ.get("PEXCP_S8_ASAN"):
        pytest.skip("already running under AddressSanitizer")
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libasan) or not os.path.exists(libasan):
        pytest.skip("gcc has no AddressSanitizer runtime")
    env = dict(os.environ, PEXCP_S8_ASAN="1", LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__, "-k",
           "not address_sanitizer and not qemu"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# ---- int8 scratch of band calls --------------------------------------------------------------------------


def test_s8_band_scratch() -> None:
    """quant.conv_scratch_bytes of a band call (out_h = its rows): full and grouped convs need what the whole
    call needs whatever the band (their scratch does not depend on out_h), so the whole call's scratch serves
    every band; a depthwise conv's can exceed it: a band of a few rows keeps all its input rows in lines (the
    whole-map mode) where the whole call keeps a ring of k_h, so a banded depthwise conv needs the largest
    conv_scratch_bytes over its band heights."""
    for in_c, group, k_h, k_w, stride, dil in [(8, 1, 1, 1, 1, 1), (16, 1, 1, 1, 1, 1), (5, 1, 3, 3, 1, 1),
                                              (4, 1, 3, 3, 2, 1), (6, 2, 3, 2, 1, 2), (3, 1, 10, 4, 1, 1)]:
        for out_h, out_w in [(1, 1), (12, 9), (48, 48)]:
            whole = quant.conv_scratch_bytes(in_c, 8, group, k_h, k_w, out_h, out_w, stride, stride, dil, dil)
            for rows in range(1, out_h + 1):
                band = quant.conv_scratch_bytes(in_c, 8, group, k_h, k_w, rows, out_w, stride, stride, dil, dil)
                assert band == whole
    whole = quant.conv_scratch_bytes(8, 8, 8, 3, 3, 48, 48, 1, 1)  # vww_96's first depthwise conv: a ring
    band = quant.conv_scratch_bytes(8, 8, 8, 3, 3, 4, 48, 1, 1)  # four rows: all six input rows in lines
    assert band > whole
    assert max(quant.conv_scratch_bytes(8, 8, 8, 3, 3, rows, 48, 1, 1) for rows in range(1, 49)) == band


# ---- the Cortex-M4 DSP paths under QEMU ------------------------------------------------------------------

# (label, in_c, out_c, group, kernel, stride, dil, pads (t, l, b, r), h, w, oc range or None, input split)
DSP_CASES = [
    ("pointwise block", 8, 5, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 7, 9, None, 4),
    ("pointwise block 16", 16, 6, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 9, 5, (1, 4), 8),
    ("pointwise im2col", 6, 4, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 6, 7, None, 3),
    ("depthwise 3x3 s1 ring", 3, 6, 3, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 12, 12, None, 0),
    ("depthwise 3x3 s2", 4, 4, 4, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 15, 11, (1, 3), 0),
    ("depthwise 5x5", 2, 2, 2, (5, 5), (1, 1), (1, 1), (2, 2, 2, 2), 11, 10, None, 0),
    ("depthwise 7x7 s2", 2, 4, 2, (7, 7), (2, 2), (1, 1), (3, 3, 3, 3), 17, 16, None, 0),
    ("depthwise 4x3 asymmetric", 3, 3, 3, (4, 3), (1, 2), (1, 1), (0, 1, 3, 0), 9, 9, None, 0),
    ("direct 3x3 s1", 5, 3, 1, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 10, 9, None, 2),
    ("direct 3x3 s1 wide", 3, 6, 1, (3, 3), (1, 1), (1, 1), (0, 1, 2, 1), 8, 26, None, 0),
    ("direct 3x3 s1 deep padding", 2, 3, 1, (3, 3), (1, 1), (1, 1), (1, 1, 4, 1), 7, 8, None, 0),
    ("depthwise 3x3 deep padding", 3, 3, 3, (3, 3), (1, 1), (1, 1), (4, 1, 4, 1), 6, 8, None, 0),
    ("direct 3x3 s2", 4, 6, 1, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 13, 11, None, 2),
    ("direct 3x3 s2 chunks", 2, 2, 1, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1), 9, 71, None, 1),
    ("rows 5x3", 6, 5, 1, (5, 3), (1, 1), (1, 1), (2, 1, 1, 0), 11, 8, (1, 3), 3),
    ("rows 10x4", 3, 2, 1, (10, 4), (1, 1), (1, 1), (4, 1, 5, 2), 13, 9, None, 1),
    ("im2col dilated", 3, 6, 1, (3, 2), (1, 2), (2, 1), (2, 0, 1, 1), 12, 9, None, 1),
    ("im2col grouped", 4, 6, 2, (3, 3), (2, 1), (1, 1), (1, 1, 0, 1), 11, 7, None, 0),
    ("im2col 10x4", 2, 6, 1, (10, 4), (2, 1), (1, 1), (3, 2, 3, 1), 14, 8, None, 1),
]


def _dsp_band_calls(k: Kernels, rng: np.random.Generator, case: tuple) -> list[tuple[s8_qemu.Call, bytes]]:
    """Band calls of one DSP case (random cuts, the first and last rows alone: with deep padding, a band wholly
    in the padding, in_h = 0), each with the output window it must leave: the whole call's rows (host portable
    loops) in the band's rows, 0x55 (the harness's fill) elsewhere."""
    label, c, out_c, group, kernel, stride, dil, pads, h, w_, oc, split = case
    x = rng.integers(-128, 128, size=(c, h, w_), dtype=np.int8)
    wt = rng.integers(-127, 128, size=(out_c, c // group, *kernel), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=out_c, dtype=np.int32)
    q = s8_quant(rng, ConvCase(c, out_c, group, kernel, stride, dil, pads, h, w_))
    p = conv_params((h, w_), wt.shape, q, stride, dil, pads, group)
    oc0, oc1 = oc or (0, out_c)
    mult = out_c // c if group == c else 0
    ic0, ic1 = (oc0 // mult, (oc1 - 1) // mult + 1) if mult else (0, c)
    whole = np.empty((oc1 - oc0, p.out_h, p.out_w), dtype=np.int8)
    s8_conv_call(k.lib, p, at(x, ic0 * p.in_cs), at(whole, 0), None, wt, bias, q, (oc0, oc1), (ic0, ic1), STORE)
    cuts = sorted(set(int(v) for v in rng.integers(1, p.out_h, size=3))) if p.out_h > 1 else []
    edges = sorted({0, 1, *cuts, p.out_h - 1, p.out_h} - {-1})  # one-row bands first and last
    arrays = {"w": wt, "bias": bias, "mult": np.asarray(q.mult, np.int32), "shift": np.asarray(q.shift, np.int32)}
    calls = []
    for a, b in zip(edges, edges[1:]):
        lo, hi, pt = band_rows(a, b, h, pads[0], kernel[0], stride[0], dil[0])
        in_top, out_top = int(rng.integers(0, 3)), int(rng.integers(0, 3))
        in_rows, out_rows = in_top + hi - lo + int(rng.integers(1, 3)), out_top + b - a + int(rng.integers(1, 3))
        xw = rng.integers(-128, 128, size=(c, in_rows, w_), dtype=np.int8)
        xw[:, in_top:in_top + hi - lo] = x[:, lo:hi]
        r = copy.copy(p)
        r.in_h, r.pad_t, r.out_h, r.in_cs, r.out_cs = hi - lo, pt, b - a, in_rows * w_, out_rows * p.out_w
        params = s8_qemu.struct("pexcp_conv_s8_params", r)
        x_at, y_at = ic0 * r.in_cs + in_top * w_, out_top * p.out_w
        tail = f"$w, $bias, $mult, $shift, {oc0}, {oc1}"
        if split:
            code = (f"pexcp_conv_s8({params}, $xw + {x_at}, out + {y_at}, acc + {y_at}, {tail}, 0, {split}, {INIT}, "
                    f"scratch); pexcp_conv_s8({params}, $xw + {x_at + split * r.in_cs}, out + {y_at}, acc + {y_at}, "
                    f"{tail}, {split}, {c}, {ACT}, scratch);")
            ks = (split, c - split)
        else:
            code = f"pexcp_conv_s8({params}, $xw + {x_at}, out + {y_at}, 0, {tail}, {ic0}, {ic1}, {STORE}, scratch);"
            ks = (c if group > 1 else ic1 - ic0,)
        size = max(quant.conv_scratch_bytes(kk, out_c, group, *kernel, b - a, p.out_w, *stride, *dil) for kk in ks)
        want = np.full((oc1 - oc0, out_rows, p.out_w), 0x55, dtype=np.int8)
        want[:, out_top:out_top + b - a] = whole[:, a:b]
        n = want.size
        calls.append((s8_qemu.Call(f"{label} [{a}, {b})", code, {**arrays, "xw": xw}, n, acc_words=n if split else 0,
                                   acc_init=rng.integers(-2**31, 2**31, size=n, dtype=np.int32) if split else None,
                                   meta={"scratch": size}), want.tobytes()))
    return calls


@pytest.mark.qemu
@pytest.mark.skipif(bool(missing_tools()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_s8_conv_bands_dsp_under_qemu(s8: Kernels, tmp_path: Path) -> None:
    """Band calls shaped to select each DSP path (block pointwise, depthwise rows in ring and whole-map mode,
    3x3 stride 1 and 2 direct, rows, im2col; accumulating pairs through an accumulator window) write the whole
    call's rows into their output window and nothing else, and stay within the scratch quant.py gives for
    them (the harness's canary)."""
    rng = np.random.default_rng(7)
    pairs = [pair for case in DSP_CASES for pair in _dsp_band_calls(s8, rng, case)]
    results = s8_qemu.run([c for c, _ in pairs], tmp_path, dsp=True, dump=True)
    bad = [c.label for (c, want), r in zip(pairs, results) if r.out != want.hex()]
    assert not bad, f"band calls differ from the whole call on the Cortex-M4: {bad}"
