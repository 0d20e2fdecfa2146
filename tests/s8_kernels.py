"""The int8 runtime kernels (pexcp/backends/c/runtime/*_s8.c) built into a host shared library and called
through ctypes with numpy arrays, for the oracle tests. Wrappers take and return NCHW numpy arrays and the
dataclasses of pexcp.backends.c.quant, the way generated code would fill the params structs."""

from __future__ import annotations

import ctypes as C
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pexcp.backends.c import quant

RUNTIME = Path(__file__).resolve().parents[1] / "pexcp" / "backends" / "c" / "runtime"
SOURCES = sorted(RUNTIME.glob("*_s8.c"))
CFLAGS = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]
UBSAN = ["-fsanitize=undefined", "-fno-sanitize-recover=all"]
ASAN = ["-fsanitize=address"]

INIT, ACT = 1, 2
STORE = INIT | ACT

i8p = np.ctypeslib.ndpointer(dtype=np.int8, flags="C_CONTIGUOUS")


def build_library(sanitize: list[str] | None = None, sources: list[Path] | None = None) -> Path:
    """gcc -std=c99 -Wall -Wextra -Werror (+ sanitizers) over every *_s8.c (or the given runtime sources);
    cached by source hash."""
    if sanitize is None:
        sanitize = ASAN + UBSAN if os.environ.get("PEXCP_S8_ASAN") else UBSAN
    sources = SOURCES if sources is None else sources
    flags = CFLAGS + sanitize
    digest = hashlib.sha256(" ".join(flags).encode())
    for src in sources + sorted(RUNTIME.glob("*.h")):
        digest.update(src.name.encode() + src.read_bytes())
    out = Path(tempfile.gettempdir()) / f"pexcp_s8_{os.getuid()}_{digest.hexdigest()[:16]}.so"
    if not out.exists():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["gcc", *flags, "-I", str(RUNTIME), *map(str, sources), "-o", str(tmp)], check=True,
                       capture_output=True, text=True)
        tmp.replace(out)
    return out


class ConvParams(C.Structure):
    _fields_ = [(n, C.c_int) for n in ("in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "k_h", "k_w", "stride_h",
                                       "stride_w", "dil_h", "dil_w", "pad_t", "pad_l", "group")] + [
        (n, C.c_long) for n in ("in_cs", "out_cs")] + [
        (n, C.c_int32) for n in ("in_offset", "out_offset", "act_min", "act_max")]


class FcParams(C.Structure):
    _fields_ = [(n, C.c_int) for n in ("m", "n", "k")] + [
        (n, C.c_int32) for n in ("in_offset", "out_offset", "act_min", "act_max")]


class AddParams(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("in1_offset", "in2_offset", "out_offset", "in1_mult", "in2_mult",
                                         "out_mult", "in1_shift", "in2_shift", "out_shift", "left_shift",
                                         "act_min", "act_max")]


class PoolParams(C.Structure):
    _fields_ = [(n, C.c_int) for n in ("in_h", "in_w", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
                                       "pad_t", "pad_l")] + [(n, C.c_long) for n in ("in_cs", "out_cs")] + [
        (n, C.c_int32) for n in ("act_min", "act_max")]


class MeanParams(C.Structure):
    _fields_ = [(n, C.c_int) for n in ("outer", "reduce", "inner")] + [
        (n, C.c_int32) for n in ("in_zp", "out_zp", "mult", "shift")]


class SoftmaxParams(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("in_mult", "in_shift", "diff_min")]


class LogisticParams(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("in_zp", "radius", "mult", "shift")]


class HardSwishParams(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("in_zp", "out_zp", "out_mult16", "out_exp", "reluish_mult16", "reluish_exp")]


class PadParams(C.Structure):
    _fields_ = [("in_dims", C.c_int * 4), ("out_dims", C.c_int * 4), ("begin", C.c_int * 4), ("value", C.c_int32)]


class TransposeParams(C.Structure):
    _fields_ = [("out_dims", C.c_int * 4), ("in_strides", C.c_int * 4)]


def conv_params(in_hw, w_shape, q: quant.ConvQuant, stride=(1, 1), dil=(1, 1), pads=(0, 0, 0, 0), group=1) -> ConvParams:
    """pexcp_conv_s8_params of a conv on an input of in_hw = (H, W) with weights O x C/g x kh x kw."""
    out_c, cin_g, k_h, k_w = w_shape
    in_h, in_w = in_hw
    pt, pl, pb, pr = pads
    out_h = (in_h + pt + pb - dil[0] * (k_h - 1) - 1) // stride[0] + 1
    out_w = (in_w + pl + pr - dil[1] * (k_w - 1) - 1) // stride[1] + 1
    return ConvParams(cin_g * group, in_h, in_w, out_c, out_h, out_w, k_h, k_w, stride[0], stride[1], dil[0], dil[1],
                      pt, pl, group, in_h * in_w, out_h * out_w, q.in_offset, q.out_offset, q.act_min, q.act_max)


def _ptr(a: np.ndarray | None) -> C.c_void_p:
    return C.c_void_p(0 if a is None else a.ctypes.data)


def _i32(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.int64).astype(np.int32))


class Kernels:
    """ctypes front end of the shared library; every call checks shapes and returns new arrays."""

    def __init__(self, path: Path):
        self.lib = C.CDLL(str(path))

    # -- conv -------------------------------------------------------------------------------------------
    def conv(self, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, q: quant.ConvQuant, *, stride=(1, 1),
             dil=(1, 1), pads=(0, 0, 0, 0), group: int = 1, oc=None, ic=None, mode: int = STORE,
             acc: np.ndarray | None = None, out: np.ndarray | None = None):
        """x: C x H x W int8 (the input channels [ic0, ic1) only if ic is given); w: O x C/g x kh x kw.
        Returns (int8 output of channels [oc0, oc1), accumulator)."""
        p = conv_params(x.shape[1:], w.shape, q, stride, dil, pads, group)
        out_h, out_w = p.out_h, p.out_w
        oc0, oc1 = oc or (0, p.out_c)
        ic0, ic1 = ic or (0, p.in_c)
        assert x.shape[0] == ic1 - ic0
        if out is None:
            out = np.full((oc1 - oc0, out_h, out_w), 0x55, dtype=np.int8)
        if acc is None and mode != STORE:
            acc = np.zeros((oc1 - oc0, out_h, out_w), dtype=np.int32)
        x, w = np.ascontiguousarray(x, np.int8), np.ascontiguousarray(w, np.int8)
        b = None if bias is None else _i32(bias)
        mult, shift = _i32(q.mult), _i32(q.shift)
        self.lib.pexcp_conv_s8(C.byref(p), _ptr(x), _ptr(out), _ptr(acc), _ptr(w), _ptr(b), _ptr(mult), _ptr(shift),
                               oc0, oc1, ic0, ic1, mode, None)
        return out, acc

    # -- fully connected --------------------------------------------------------------------------------
    def fully_connected(self, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, q: quant.ConvQuant, *, n=None,
                        k=None, mode: int = STORE, acc: np.ndarray | None = None):
        """x: M x K' int8 (columns [k0, k1) if k is given, then M must be 1); w: N x K."""
        n_all, k_all = w.shape
        n0, n1 = n or (0, n_all)
        k0, k1 = k or (0, k_all)
        m = x.shape[0]
        p = FcParams(m, n_all, k_all, q.in_offset, q.out_offset, q.act_min, q.act_max)
        out = np.full((m, n1 - n0), 0x55, dtype=np.int8)
        if acc is None and mode != STORE:
            acc = np.zeros((m, n1 - n0), dtype=np.int32)
        x, w = np.ascontiguousarray(x, np.int8), np.ascontiguousarray(w, np.int8)
        b = None if bias is None else _i32(bias)
        mult, shift = _i32(q.mult), _i32(q.shift)
        self.lib.pexcp_fully_connected_s8(C.byref(p), _ptr(x), _ptr(out), _ptr(acc), _ptr(w), _ptr(b), _ptr(mult),
                                          _ptr(shift), n0, n1, k0, k1, mode, None)
        return out, acc

    def requant_acc(self, acc: np.ndarray, q: quant.ConvQuant, c0: int, c1: int, in_place: bool = True) -> np.ndarray:
        """acc: (c1 - c0) x inner int32; in place, the int8 result is read back from acc's own bytes."""
        acc = np.ascontiguousarray(acc, dtype=np.int32).copy()
        inner = acc[0].size
        mult, shift = _i32(q.mult), _i32(q.shift)
        if in_place:
            out_ptr = _ptr(acc)
        else:
            out = np.empty(acc.size, dtype=np.int8)
            out_ptr = _ptr(out)
        self.lib.pexcp_requant_acc_s8(_ptr(acc), out_ptr, inner, _ptr(mult), _ptr(shift), q.out_offset, q.act_min,
                                      q.act_max, c0, c1)
        if in_place:
            out = acc.view(np.int8).reshape(-1)[: acc.size].copy()
        return out.reshape(acc.shape)

    # -- elementwise ------------------------------------------------------------------------------------
    def add(self, a: np.ndarray, b: np.ndarray, q: quant.AddQuant) -> np.ndarray:
        p = AddParams(q.in1_offset, q.in2_offset, q.out_offset, q.in1_mult, q.in2_mult, q.out_mult, q.in1_shift,
                      q.in2_shift, q.out_shift, q.left_shift, q.act_min, q.act_max)
        a, b = np.ascontiguousarray(a, np.int8), np.ascontiguousarray(b, np.int8)
        out = np.empty_like(a)
        self.lib.pexcp_add_s8(C.byref(p), _ptr(a), _ptr(b), _ptr(out), a.size)
        return out

    def logistic(self, x: np.ndarray, q: quant.LogisticQuant) -> np.ndarray:
        p = LogisticParams(q.in_zp, q.radius, q.mult, q.shift)
        x = np.ascontiguousarray(x, np.int8)
        out = np.empty_like(x)
        self.lib.pexcp_logistic_s8(C.byref(p), _ptr(x), _ptr(out), x.size)
        return out

    def hard_swish(self, x: np.ndarray, q: quant.HardSwishQuant) -> np.ndarray:
        p = HardSwishParams(q.in_zp, q.out_zp, q.out_mult16, q.out_exp, q.reluish_mult16, q.reluish_exp)
        x = np.ascontiguousarray(x, np.int8)
        out = np.empty_like(x)
        self.lib.pexcp_hard_swish_s8(C.byref(p), _ptr(x), _ptr(out), x.size)
        return out

    def quantize(self, x: np.ndarray, q: quant.FloatBoundary) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        out = np.empty(x.shape, dtype=np.int8)
        self.lib.pexcp_quantize_s8(_ptr(x), _ptr(out), x.size, C.c_float(q.scale), q.zero_point)
        return out

    def dequantize(self, x: np.ndarray, q: quant.FloatBoundary) -> np.ndarray:
        x = np.ascontiguousarray(x, np.int8)
        out = np.empty(x.shape, dtype=np.float32)
        self.lib.pexcp_dequantize_s8(_ptr(x), _ptr(out), x.size, C.c_float(q.scale), q.zero_point)
        return out

    def requantize(self, x: np.ndarray, q: quant.RequantizeQuant) -> np.ndarray:
        x = np.ascontiguousarray(x, np.int8)
        out = np.empty_like(x)
        self.lib.pexcp_requantize_s8(_ptr(x), _ptr(out), x.size, q.in_offset, q.mult, q.shift, q.out_offset)
        return out

    # -- pooling, mean, softmax, pad --------------------------------------------------------------------
    def pool(self, kind: str, x: np.ndarray, kernel, stride, pads, act: tuple[int, int], c=None) -> np.ndarray:
        """x: C x H x W (channels [c0, c1) if c is given); pads = (top, left, bottom, right)."""
        ch, in_h, in_w = x.shape
        pt, pl, pb, pr = pads
        out_h = (in_h + pt + pb - kernel[0]) // stride[0] + 1
        out_w = (in_w + pl + pr - kernel[1]) // stride[1] + 1
        p = PoolParams(in_h, in_w, out_h, out_w, kernel[0], kernel[1], stride[0], stride[1], pt, pl, in_h * in_w,
                       out_h * out_w, act[0], act[1])
        c0, c1 = c or (0, ch)
        x = np.ascontiguousarray(x, np.int8)
        out = np.full((c1 - c0, out_h, out_w), 0x55, dtype=np.int8)
        getattr(self.lib, f"pexcp_{kind}_pool_s8")(C.byref(p), _ptr(x), _ptr(out), c0, c1)
        return out

    def mean(self, x: np.ndarray, outer: int, reduce: int, inner: int, q: quant.MeanQuant) -> np.ndarray:
        p = MeanParams(outer, reduce, inner, q.in_zp, q.out_zp, q.mult, q.shift)
        x = np.ascontiguousarray(x, np.int8)
        assert x.size == outer * reduce * inner
        out = np.empty(outer * inner, dtype=np.int8)
        self.lib.pexcp_mean_s8(C.byref(p), _ptr(x), _ptr(out))
        return out

    def softmax(self, x: np.ndarray, q: quant.SoftmaxQuant, outer: int, n: int, inner: int) -> np.ndarray:
        p = SoftmaxParams(q.in_mult, q.in_shift, q.diff_min)
        x = np.ascontiguousarray(x, np.int8)
        out = np.empty_like(x)
        self.lib.pexcp_softmax_s8(C.byref(p), _ptr(x), _ptr(out), outer, n, inner)
        return out

    def pad(self, x: np.ndarray, begin, end, value: int, c=None) -> np.ndarray:
        """x: 4-D NCHW; begin/end: pads per axis."""
        in_dims = list(x.shape)
        out_dims = [d + b + e for d, b, e in zip(in_dims, begin, end)]
        p = PadParams((C.c_int * 4)(*in_dims), (C.c_int * 4)(*out_dims), (C.c_int * 4)(*begin), value)
        c0, c1 = c or (0, out_dims[1])
        x = np.ascontiguousarray(x, np.int8)
        out = np.full((out_dims[0], c1 - c0, out_dims[2], out_dims[3]), 0x55, dtype=np.int8)
        self.lib.pexcp_pad_s8(C.byref(p), _ptr(x), _ptr(out), c0, c1)
        return out

    # -- byte movers ------------------------------------------------------------------------------------
    def transpose(self, x: np.ndarray, perm) -> np.ndarray:
        """4-D transpose with numpy's axes semantics."""
        x = np.ascontiguousarray(x, np.int8)
        strides = [st // x.itemsize for st in x.strides]
        out_dims = [x.shape[a] for a in perm]
        p = TransposeParams((C.c_int * 4)(*out_dims), (C.c_int * 4)(*[strides[a] for a in perm]))
        out = np.empty(out_dims, dtype=np.int8)
        self.lib.pexcp_transpose_s8(C.byref(p), _ptr(x), _ptr(out))
        return out

    def concat(self, parts: list[np.ndarray], axis: int) -> np.ndarray:
        """numpy.concatenate through one pexcp_concat_s8 call per part."""
        shape = list(parts[0].shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        out = np.empty(shape, dtype=np.int8)
        outer = int(np.prod(shape[:axis]))
        out_block = out.size // outer
        offset = 0
        for part in parts:
            part = np.ascontiguousarray(part, np.int8)
            in_block = part.size // outer
            self.lib.pexcp_concat_s8(_ptr(part), C.c_void_p(out.ctypes.data + offset), outer, in_block, out_block)
            offset += in_block
        return out

    def copy(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.int8)
        out = np.empty_like(x)
        self.lib.pexcp_copy_s8(_ptr(x), _ptr(out), x.size)
        return out
