"""The sliding window of a Conv or pooling op (kernel, strides, dilations, pads) with auto_pad resolved from
the static shapes: what the backend's kernels and row-band execution both compute from."""

from __future__ import annotations

from dataclasses import dataclass

from pexcp.ir import Op


@dataclass(frozen=True)
class Rows:
    """How the output rows of a windowed op (axis 2) map to rows of its input: output row y reads input rows
    [y*stride - pad, y*stride - pad + span) clipped to [0, height)."""

    span: int  # (kernel height - 1) * dilation + 1
    stride: int
    pad: int  # top padding
    height: int  # input rows

    def needs(self, a: int, b: int) -> tuple[int, int]:
        """Input rows [lo, hi) that output rows [a, b) read."""
        lo = max(0, a * self.stride - self.pad)
        hi = min(self.height, (b - 1) * self.stride - self.pad + self.span)
        return lo, max(lo, hi)

    def reach(self, rows: int, out_rows: int) -> int:
        """How many output rows (of `out_rows`) input rows [0, rows) are enough for."""
        if rows >= self.height:
            return out_rows
        return max(0, min(out_rows, (rows + self.pad - self.span) // self.stride + 1))



def window(op: Op, in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: list[int]) -> dict[str, int]:
    """Strides, dilations and begin/end pads of a Conv or pool window, in 2-D (1-D as one row). ValueError
    for what no kernel computes (an unknown auto_pad, 3-D windows, negative pads)."""
    n = len(kernel)
    strides = list(op.attrs.get("strides", [1] * n))
    dils = list(op.attrs.get("dilations", [1] * n))
    auto = op.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = list(op.attrs.get("pads", [0] * 2 * n))
    elif auto == "VALID":
        pads = [0] * 2 * n
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(n):
            total = max(0, (out_shape[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dils[i] + 1 - in_shape[2 + i])
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        pads = begin + end
    else:
        raise ValueError(f"auto_pad {auto!r} is not supported")
    if n == 1:  # a 1-D window is a 2-D window of height 1
        kernel, strides, dils, pads = [1, kernel[0]], [1, strides[0]], [1, dils[0]], [0, pads[0], 0, pads[1]]
    elif n != 2:
        raise ValueError(f"{n}-D windows are not supported (1-D and 2-D are)")
    if min(pads) < 0 or min(strides) < 1 or min(dils) < 1:
        raise ValueError("negative pads or non-positive strides/dilations are not supported")
    return {
        "k_h": kernel[0], "k_w": kernel[1], "stride_h": strides[0], "stride_w": strides[1],
        "dil_h": dils[0], "dil_w": dils[1], "pad_t": pads[0], "pad_l": pads[1], "pad_b": pads[2], "pad_r": pads[3],
    }


def rows(op: Op, in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: list[int]) -> Rows | None:
    """The row map of a 2-D window over NCHW tensors (None for other ranks or windows no kernel computes)."""
    if len(in_shape) != 4 or len(out_shape) != 4 or len(kernel) != 2:
        return None
    try:
        w = window(op, in_shape, out_shape, kernel)
    except ValueError:
        return None
    return Rows((w["k_h"] - 1) * w["dil_h"] + 1, w["stride_h"], w["pad_t"], in_shape[2])
