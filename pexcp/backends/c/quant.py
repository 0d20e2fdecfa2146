"""Prepare-time int8 arithmetic: the integers the int8 kernels (runtime/*_s8.c) take, computed as TensorFlow
Lite Micro's Prepare functions compute them, bit for bit.

Which operations run in float32 and which in double decides the last bit of the multipliers, so every
builder states the TFLite Micro function it mirrors. Builders take plain numbers and numpy arrays (scales as
they are stored: float32) and return frozen dataclasses of Python ints, ready for a params struct or a
const array."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
ADD_LEFT_SHIFT = 20  # TFLite Micro's left_shift for int8 ADD
SOFTMAX_INPUT_INT_BITS = 5  # Q5.26 differences in softmax
LOGISTIC_INPUT_INT_BITS = 4  # Q4.27 inputs in logistic


def _f32(x: float) -> np.float32:
    return np.float32(x)


def _round_half_away(x: float) -> int:
    """std::round / TfLiteRound on a double: halves away from zero (exact: the remainder is exact)."""
    t = math.trunc(x)
    frac = x - t
    if frac >= 0.5:
        t += 1
    elif frac <= -0.5:
        t -= 1
    return int(t)


def _roundf(x: np.float32) -> int:
    """roundf on a float32 value (halves away from zero; numpy's round is half-to-even)."""
    return _round_half_away(float(x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier(double): (m, shift) with real ~= m * 2^(shift - 31), m in [2^30, 2^31).

    frexp, then round(q * 2^31) with halves away from zero; a rounded 2^31 becomes 2^30 with shift + 1;
    shifts below -31 flush to (0, 0)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * 2.0**31)
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def activation_range(scale: float, zero_point: int, lo: float | None = None, hi: float | None = None) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: zp + roundf(limit / scale) in float32, clamped to int8.

    lo/hi are the fused activation's real limits (ReLU: lo=0; ReLU6: lo=0, hi=6; none: both None)."""
    act_min, act_max = INT8_MIN, INT8_MAX
    if lo is not None:
        act_min = max(act_min, zero_point + _roundf(_f32(lo) / _f32(scale)))
    if hi is not None:
        act_max = min(act_max, zero_point + _roundf(_f32(hi) / _f32(scale)))
    return act_min, act_max


@dataclass(frozen=True)
class ConvQuant:
    """Conv, depthwise conv and fully connected: offsets, clamp and per-output-channel (mult, shift)."""

    in_offset: int
    out_offset: int
    act_min: int
    act_max: int
    mult: tuple[int, ...]
    shift: tuple[int, ...]


def _per_channel(s_in: float, s_w: np.ndarray, s_out: float, channels: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    scales = np.asarray(s_w, dtype=np.float32).reshape(-1)
    if scales.size == 1:
        scales = np.repeat(scales, channels)
    if scales.size != channels:
        raise ValueError(f"{scales.size} weight scales for {channels} output channels")
    pairs = [quantize_multiplier(float(_f32(s_in)) * float(s) / float(_f32(s_out))) for s in scales]
    return tuple(m for m, _ in pairs), tuple(s for _, s in pairs)


def conv_quant(
    s_in: float,
    zp_in: int,
    s_w: np.ndarray | float,
    s_out: float,
    zp_out: int,
    out_channels: int,
    act: tuple[float | None, float | None] = (None, None),
) -> ConvQuant:
    """PopulateConvolutionQuantizationParams (conv and depthwise conv): M[oc] = (double)s_in * (double)s_w[oc]
    / (double)s_out, per output channel (a single weight scale is broadcast)."""
    mult, shift = _per_channel(s_in, np.asarray(s_w), s_out, out_channels)
    act_min, act_max = activation_range(s_out, zp_out, *act)
    return ConvQuant(-int(zp_in), int(zp_out), act_min, act_max, mult, shift)


def fully_connected_quant(
    s_in: float,
    zp_in: int,
    s_w: np.ndarray | float,
    s_out: float,
    zp_out: int,
    out_features: int,
    act: tuple[float | None, float | None] = (None, None),
) -> ConvQuant:
    """CalculateOpDataFullyConnected: per-channel weights as conv (double); a per-tensor weight scale takes
    the product s_in * s_w in float32 first (GetQuantizedConvolutionMultipler), then divides in double.
    The per-tensor multiplier is repeated for every output feature."""
    scales = np.asarray(s_w, dtype=np.float32).reshape(-1)
    act_min, act_max = activation_range(s_out, zp_out, *act)
    if scales.size > 1:
        mult, shift = _per_channel(s_in, scales, s_out, out_features)
    else:
        product = float(_f32(s_in) * scales[0])
        m, s = quantize_multiplier(product / float(_f32(s_out)))
        mult, shift = (m,) * out_features, (s,) * out_features
    return ConvQuant(-int(zp_in), int(zp_out), act_min, act_max, mult, shift)


@dataclass(frozen=True)
class AddQuant:
    in1_offset: int
    in2_offset: int
    out_offset: int
    in1_mult: int
    in2_mult: int
    out_mult: int
    in1_shift: int
    in2_shift: int
    out_shift: int
    left_shift: int
    act_min: int
    act_max: int


def _smaller_than_one(real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: the multiplier must be in (0, 1), its shift <= 0."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} outside (0, 1)")
    return quantize_multiplier(real)


def add_quant(
    s1: float, zp1: int, s2: float, zp2: int, s_out: float, zp_out: int, act: tuple[float | None, float | None] = (None, None)
) -> AddQuant:
    """CalculateOpDataAdd (int8): T = 2 * max(s1, s2) in double; multipliers s1 / T, s2 / T and
    T / (2^20 * s_out), each with shift <= 0."""
    twice_max = 2.0 * float(max(_f32(s1), _f32(s2)))
    m1, sh1 = _smaller_than_one(float(_f32(s1)) / twice_max)
    m2, sh2 = _smaller_than_one(float(_f32(s2)) / twice_max)
    mo, sho = _smaller_than_one(twice_max / ((1 << ADD_LEFT_SHIFT) * float(_f32(s_out))))
    act_min, act_max = activation_range(s_out, zp_out, *act)
    return AddQuant(-int(zp1), -int(zp2), int(zp_out), m1, m2, mo, sh1, sh2, sho, ADD_LEFT_SHIFT, act_min, act_max)


@dataclass(frozen=True)
class MeanQuant:
    in_zp: int
    out_zp: int
    mult: int
    shift: int


def mean_quant(s_in: float, zp_in: int, s_out: float, zp_out: int, count: int) -> MeanQuant:
    """PrepareMeanOrSumHelper + QuantizedMeanOrSum: QuantizeMultiplier(s_in / s_out) in double, then 1 / N
    folded in: shift = min(63 - clz64(N), 32, 31 + s), m' = (m << shift) // N (truncating), s' = s - shift."""
    if count <= 0:
        raise ValueError("mean over no elements")
    m, s = quantize_multiplier(float(_f32(s_in)) / float(_f32(s_out)))
    shift = min(count.bit_length() - 1, 32, 31 + s)
    m2 = (m << shift) // count  # both non-negative: floor == truncation
    return MeanQuant(int(zp_in), int(zp_out), m2, s - shift)  # m2 <= m < 2^31: N >= 2^shift


@dataclass(frozen=True)
class SoftmaxQuant:
    in_mult: int
    in_shift: int
    diff_min: int


def softmax_quant(s_in: float, beta: float = 1.0) -> SoftmaxQuant:
    """CalculateSoftmaxParams (int8 -> int8): PreprocessSoftmaxScaling(beta, s_in, 5) = min(beta * s_in *
    2^26, 2^31 - 1) in double as a multiplier > 1; diff_min = -floor((2^5 - 1) * 2^26 / 2^shift)
    (CalculateInputRadius). The output must have scale 1/256 and zero point -128."""
    real = min(float(_f32(beta)) * float(_f32(s_in)) * (1 << (31 - SOFTMAX_INPUT_INT_BITS)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise ValueError(f"softmax input multiplier {real} not > 1 (input scale too small)")
    m, shift = quantize_multiplier(real)
    return SoftmaxQuant(m, shift, -_input_radius(SOFTMAX_INPUT_INT_BITS, shift))


def _input_radius(int_bits: int, left_shift: int, total_bits: int = 31) -> int:
    """CalculateInputRadius: floor((2^int_bits - 1) * 2^(total_bits - int_bits) / 2^left_shift)."""
    return int(math.floor(((1 << int_bits) - 1) * float(1 << (total_bits - int_bits)) / 2.0**left_shift))


@dataclass(frozen=True)
class LogisticQuant:
    in_zp: int
    radius: int
    mult: int
    shift: int


def logistic_quant(s_in: float, zp_in: int) -> LogisticQuant:
    """CalculateArithmeticOpDataLogistic (int8): frexp(s_in * 2^27) and round(q * 2^31) with no guard for
    a rounded 2^31 (which the C++ cast wraps to INT32_MIN); radius = CalculateInputRadius(4, shift)."""
    q, shift = math.frexp(float(_f32(s_in)) * float(1 << (31 - LOGISTIC_INPUT_INT_BITS)))
    m = _round_half_away(q * 2.0**31)
    if m == 2**31:
        m = -(2**31)
    radius = min(_input_radius(LOGISTIC_INPUT_INT_BITS, shift), 2**31 - 1)  # only input scales < 2^-27 reach it
    return LogisticQuant(int(zp_in), radius, m, shift)


@dataclass(frozen=True)
class HardSwishQuant:
    in_zp: int
    out_zp: int
    out_mult16: int
    out_exp: int
    reluish_mult16: int
    reluish_exp: int


def _down_scale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: round the Q31 multiplier to Q15, saturating at 32767."""
    if m >= 2**31 - 1 - (1 << 15):
        return 32767
    return (m + (1 << 15)) >> 16


def hard_swish_quant(s_in: float, zp_in: int, s_out: float, zp_out: int) -> HardSwishQuant:
    """HardSwishPrepare (int8): hires = s_in / 128 and the quotients hires / s_out and hires / (3 / 32768)
    in float32, then QuantizeMultiplier and a rounding down-scale to 16 bits."""
    hires = _f32(1.0 / 128.0) * _f32(s_in)
    out_m, out_exp = quantize_multiplier(float(hires / _f32(s_out)))
    if out_exp > 0:
        raise ValueError("hard-swish output multiplier > 1 (output scale too small)")
    rel_m, rel_exp = quantize_multiplier(float(hires / (_f32(3.0) / _f32(32768.0))))
    return HardSwishQuant(int(zp_in), int(zp_out), _down_scale_to_int16(out_m), out_exp, _down_scale_to_int16(rel_m), rel_exp)


@dataclass(frozen=True)
class RequantizeQuant:
    in_offset: int
    out_offset: int
    mult: int
    shift: int


def requantize_quant(s_in: float, zp_in: int, s_out: float, zp_out: int) -> RequantizeQuant:
    """PrepareQuantizeReference (int8 -> int8): QuantizeMultiplier((double)s_in / (double)s_out)."""
    m, s = quantize_multiplier(float(_f32(s_in)) / float(_f32(s_out)))
    return RequantizeQuant(-int(zp_in), int(zp_out), m, s)


@dataclass(frozen=True)
class FloatBoundary:
    """QUANTIZE float -> int8 and DEQUANTIZE int8 -> float: the float32 scale and the zero point as stored."""

    scale: float
    zero_point: int


def boundary_quant(scale: float, zero_point: int) -> FloatBoundary:
    return FloatBoundary(float(_f32(scale)), int(zero_point))


def pool_quant(s_in: float, zp_in: int, s_out: float, zp_out: int, act: tuple[float | None, float | None] = (None, None)) -> tuple[int, int]:
    """Pooling (AVERAGE/MAX_POOL_2D) has no requantization: TFLite Micro requires |s_in - s_out| <= 1e-6
    and equal zero points; returns the activation clamp."""
    if abs(float(_f32(s_in)) - float(_f32(s_out))) > 1e-6 or zp_in != zp_out:
        raise ValueError("int8 pooling needs the same scale and zero point on input and output")
    return activation_range(s_out, zp_out, *act)


# ---- scratch of the Cortex-M4 DSP fast paths (bytes, 4-byte aligned; 0: the kernel needs none) ----------

DEPTHWISE_DSP_MAX_KH = 16  # PEXCP_S8_DW_MAX_KH in pexcp_s8.h
DEPTHWISE_PLANE_EXTRA = 256  # PEXCP_S8_DW_PLANE_EXTRA in pexcp_s8.h
POINTWISE_BUDGET, POINTWISE_MAX_BLOCK, POINTWISE_MAX_K = 1536, 32, 48  # PEXCP_S8_PW_* in pexcp_s8.h


def conv_scratch_bytes(
    in_c: int, out_c: int, group: int, k_h: int, k_w: int, out_h: int, out_w: int, stride_h: int, stride_w: int,
    dil_h: int = 1, dil_w: int = 1,
) -> int:
    """Scratch pexcp_conv_s8's DSP path uses (the portable path ignores it; without it the DSP build runs the
    portable loops). Full/grouped conv: two im2col columns of int16, each rounded up to whole groups of four:
    4 * ceil4(in_c / group * k_h * k_w). Depthwise (group == in_c > 1, no dilation, k_h <= 16): the weights
    of one channel as halfword pairs (4 * k_h * ceil(k_w / 2)), an int32 row of n = out_w rounded up to even
    sums, and int16 lines of (n - 1) * stride_w + 2 * ceil(k_w / 2) elements: a zero line for padding rows and
    either a ring of k_h input rows or, when that takes at most DEPTHWISE_PLANE_EXTRA bytes more, all the
    (out_h - 1) * stride_h + k_h rows the windows span."""
    del out_c  # the size does not depend on it; kept so callers pass the whole conv shape
    if group == in_c and group > 1:
        if dil_h != 1 or dil_w != 1 or k_h > DEPTHWISE_DSP_MAX_KH:
            return 0
        pairs = (k_w + 1) // 2
        n = (out_w + 1) & ~1
        width = (n - 1) * stride_w + 2 * pairs
        rows = (out_h - 1) * stride_h + k_h
        lines = rows if 2 * (rows - k_h - 1) * width <= DEPTHWISE_PLANE_EXTRA else k_h
        return 4 * k_h * pairs + 4 * n + 2 * (lines + 1) * width
    k = in_c // group * k_h * k_w
    im2col = 4 * ((k + 3) & ~3)
    block = pointwise_block(k) if group == 1 and k_h == k_w == 1 else 0
    return max(im2col, block * (2 * k + 4))


def pointwise_block(k: int) -> int:
    """Pixels per block of the DSP pointwise path (1x1 convs over k <= 48 inputs, k a multiple of 4; 0: it does
    not apply): as many multiples of 4 as fit PEXCP_S8_PW_BUDGET bytes of int16 block and int32 sums, at most
    32. Wider reductions keep the im2col path, whose two-channel loop needs no block."""
    b = (POINTWISE_BUDGET // (2 * k + 4)) & ~3
    return 0 if k % 4 or k > POINTWISE_MAX_K or b < 4 else min(b, POINTWISE_MAX_BLOCK)


def fully_connected_scratch_bytes(k: int) -> int:
    """Scratch pexcp_fully_connected_s8's DSP path uses: one input row widened to int16, 2 * ceil4(k)."""
    return 2 * ((k + 3) & ~3)
