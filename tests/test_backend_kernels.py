"""C backend kernels against onnxruntime, one small multi-output ONNX model per operator family.

Each model is planned, lowered to C, built for the host with -std=c99 -Wall -Wextra -Werror and
AddressSanitizer/UBSan, run by its harness on random inputs (arena pre-filled with NaNs, dead tensors
overwritten with NaNs), and every output is compared with onnxruntime: max abs error <= 1e-4 x the output's
range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backend_helpers import Net, check_net, needs_cc



@needs_cc
def test_conv(tmp_path: Path) -> None:
    n = Net("conv")
    x, line = n.input(1, 4, 9, 11), n.input(1, 4, 13)
    n.out(n.op("Relu", [n.op("Conv", [x, n.weight(6, 4, 3, 3), n.weight(6)], pads=[1, 1, 1, 1])]))
    n.out(n.op("Conv", [x, n.weight(5, 4, 3, 3), n.weight(5)], strides=[2, 2], pads=[0, 1, 1, 0]))
    n.out(n.op("Conv", [x, n.weight(3, 4, 3, 3)], dilations=[2, 2], pads=[2, 2, 2, 2]))
    n.out(n.op("Conv", [x, n.weight(6, 2, 3, 2), n.weight(6)], group=2, strides=[1, 2], pads=[1, 0, 1, 1]))
    relu6 = [n.const(0.0), n.const(6.0)]
    n.out(n.op("Clip", [n.op("Conv", [x, n.weight(4, 1, 3, 3), n.weight(4)], group=4, pads=[1, 1, 1, 1])] + relu6))
    n.out(n.op("Conv", [x, n.weight(8, 1, 3, 3), n.weight(8)], group=4, strides=[2, 1]))  # channel multiplier 2
    n.out(n.op("Conv", [x, n.weight(7, 4, 1, 1)]))  # pointwise, no bias, 99 pixels
    n.out(n.op("Conv", [x, n.weight(3, 4, 5, 5), n.weight(3)], strides=[2, 2], auto_pad="SAME_UPPER"))
    n.out(n.op("Conv", [x, n.weight(3, 4, 1, 1), n.weight(3)], strides=[2, 2]))  # strided 1x1
    n.out(n.op("Conv", [line, n.weight(5, 4, 3), n.weight(5)], pads=[1, 1]))  # 1-D
    # a non-clamp epilogue chain: + per-channel constant, x scalar, sigmoid
    y = n.op("Conv", [x, n.weight(4, 4, 3, 3), n.weight(4)], pads=[1, 1, 1, 1])
    n.out(n.op("Sigmoid", [n.op("Mul", [n.op("Add", [y, n.weight(4, 1, 1)]), n.const(0.5)])]))
    check_net(n, tmp_path)


@needs_cc
def test_gemm_and_matmul(tmp_path: Path) -> None:
    n = Net("gemm")
    row, rows, cols, b = n.input(1, 16), n.input(3, 16), n.input(16, 3), n.input(16, 5)
    n.out(n.op("Relu", [n.op("Gemm", [row, n.weight(9, 16), n.weight(9)], transB=1)]))
    n.out(n.op("Gemm", [row, n.weight(16, 9), n.weight(1, 9)], alpha=0.5, beta=2.0))
    n.out(n.op("Gemm", [rows, n.weight(16, 6), n.weight(3, 1)]))  # bias varies by row
    n.out(n.op("Gemm", [cols, n.weight(6, 16)], transA=1, transB=1))
    n.out(n.op("MatMul", [rows, n.weight(16, 5)]))
    n.out(n.op("MatMul", [n.op("Unsqueeze", [rows, n.const(np.array([0]))]), n.weight(16, 5)]))  # (1, 3, 16) x (16, 5)
    n.out(n.op("MatMul", [rows, b]))  # both operands are activations
    check_net(n, tmp_path)


@needs_cc
def test_pooling(tmp_path: Path) -> None:
    n = Net("pool")
    x, line = n.input(1, 3, 10, 9), n.input(1, 3, 12)
    n.out(n.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    n.out(n.op("MaxPool", [x], kernel_shape=[2, 2], dilations=[2, 2]))
    n.out(n.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1))
    n.out(n.op("AveragePool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    n.out(n.op("AveragePool", [x], kernel_shape=[3, 2], pads=[1, 0, 1, 1], count_include_pad=1))
    n.out(n.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1))
    n.out(n.op("AveragePool", [x], kernel_shape=[4, 4], strides=[3, 3], auto_pad="SAME_UPPER"))
    n.out(n.op("GlobalAveragePool", [x]))
    n.out(n.op("MaxPool", [line], kernel_shape=[3], strides=[2]))
    check_net(n, tmp_path)


@needs_cc
def test_elementwise_with_broadcasting(tmp_path: Path) -> None:
    n = Net("elementwise", opset=14)  # HardSwish
    x, y, z, v = n.input(1, 4, 5, 6), n.input(1, 4, 5, 6), n.input(1, 4, 1, 6), n.input(6)
    n.out(n.op("Relu", [n.op("Add", [x, y])]))
    n.out(n.op("Sub", [x, z]))
    n.out(n.op("Mul", [n.weight(4, 1, 1), x]))  # constant first
    n.out(n.op("Div", [x, n.const(3.0)]))
    n.out(n.op("Div", [n.op("Sigmoid", [x]), n.op("Add", [n.op("Sigmoid", [z]), n.const(0.5)])]))
    n.out(n.op("PRelu", [x, n.weight(4, 1, 1)]))
    n.out(n.op("Add", [v, x]))  # lower-rank activation
    n.out(n.op("Clip", [x, n.const(-0.5), n.const(0.25)]))
    n.out(n.op("LeakyRelu", [x], alpha=0.1))
    n.out(n.op("HardSigmoid", [x], alpha=0.3, beta=0.4))
    n.out(n.op("HardSwish", [n.op("Mul", [x, n.const(4.0)])]))
    n.out(n.op("Tanh", [x]))
    check_net(n, tmp_path)


@needs_cc
def test_data_movement_and_reductions_without_rewrites(tmp_path: Path) -> None:
    """With --rewrites none, Pad, Transpose and the Reshape family are real copies."""
    n = Net("movement")
    x, y = n.input(1, 3, 4, 5), n.input(1, 2, 4, 5)
    n.out(n.op("Pad", [x, n.const(np.array([0, 0, 1, 2, 0, 0, 2, 1])), n.const(0.5)]))
    n.out(n.op("Pad", [x, n.const(np.array([0, 1, 2, 1, 0, 0, 1, 3]))], mode="reflect"))
    n.out(n.op("Pad", [x, n.const(np.array([0, 0, -1, 2, 0, 0, 2, -1]))], mode="edge"))
    n.out(n.op("Transpose", [x], perm=[0, 2, 3, 1]))
    n.out(n.op("Relu", [n.op("Reshape", [x, n.const(np.array([1, 12, 5]))])]))
    n.out(n.op("Flatten", [x], axis=2))
    n.out(n.op("Squeeze", [n.op("Unsqueeze", [x, n.const(np.array([2]))]), n.const(np.array([2]))]))
    n.out(n.op("Concat", [x, y, n.weight(1, 1, 4, 5)], axis=1))
    n.out(n.op("Concat", [x, n.op("Relu", [x])], axis=2))
    n.out(n.op("ReduceMean", [x], axes=[2, 3]))
    n.out(n.op("ReduceMean", [x], axes=[1], keepdims=0))
    n.out(n.op("Softmax", [x], axis=1))
    n.out(n.op("Softmax", [n.op("Flatten", [x])]))
    check_net(n, tmp_path, rewrites=())


@needs_cc
def test_opset_11_softmax_and_clip(tmp_path: Path) -> None:
    """Before opset 13 Softmax normalises over all axes from `axis` on."""
    n = Net("opset11", opset=11)
    x = n.input(1, 3, 4)
    n.out(n.op("Softmax", [x], axis=1))
    n.out(n.op("Clip", [n.op("Conv", [x, n.weight(2, 3, 1)]), n.const(-0.2), n.const(0.3)]))
    check_net(n, tmp_path)
