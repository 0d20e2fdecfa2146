"""TensorFlow Lite Micro as the int8 oracle: read operators, constants and quantization from .tflite
flatbuffers, run models with every intermediate tensor preserved, and build single-operator .tflite models
(for operators and parameter corners the shared models lack) with the flatbuffer schema tflite-micro ships."""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np

from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

OPS = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
T = fb.TensorType
NP_TYPE = {T.INT8: np.int8, T.INT32: np.int32, T.FLOAT32: np.float32, T.INT64: np.int64, T.INT16: np.int16}
TF_TYPE = {np.dtype(v): k for k, v in NP_TYPE.items()}
ACT = {0: (None, None), 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}  # fused activation -> real limits


def load(data: bytes) -> fb.ModelT:
    return fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))


def op_type(model: fb.ModelT, op: fb.OperatorT) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    return OPS[max(code.builtinCode, code.deprecatedBuiltinCode)]


def quant(t: fb.TensorT) -> tuple[np.ndarray, np.ndarray]:
    """(scales as float32, zero points) of a tensor."""
    q = t.quantization
    return np.asarray(q.scale, dtype=np.float32), np.asarray(q.zeroPoint, dtype=np.int64)


def scale_zp(t: fb.TensorT) -> tuple[float, int]:
    s, z = quant(t)
    return float(s[0]), int(z[0])


def const(model: fb.ModelT, t: fb.TensorT) -> np.ndarray:
    raw = np.asarray(model.buffers[t.buffer].data, dtype=np.uint8)
    return raw.view(NP_TYPE[t.type]).reshape(tuple(t.shape))


def same_padding(size: int, k: int, stride: int, dil: int, padding: int) -> tuple[int, int, int]:
    """TFLite's ComputePaddingHeightWidth: (out, pad_before, pad_after) for SAME (0) or VALID (1)."""
    eff = (k - 1) * dil + 1
    out = (size + stride - 1) // stride if padding == fb.Padding.SAME else (size - eff + stride) // stride
    total = max(0, (out - 1) * stride + eff - size)
    return out, total // 2, total - total // 2


class Run:
    """One TFLite Micro invocation with every tensor preserved."""

    def __init__(self, data: bytes, inputs: list[np.ndarray]):
        self.it = runtime.Interpreter.from_bytes(
            data, arena_size=1 << 22, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
        )
        for i, x in enumerate(inputs):
            self.it.set_input(x, i)
        self.it.invoke()

    def tensor(self, index: int) -> np.ndarray:
        return np.array(self.it.GetTensor(index, 0)["tensor_data"])

    def output(self, i: int = 0) -> np.ndarray:
        return np.array(self.it.get_output(i))


# ---- single-operator models ------------------------------------------------------------------------------


@dataclass
class Tensor:
    shape: tuple[int, ...]
    dtype: type = np.int8
    scale: float | list[float] | None = None
    zero_point: int | list[int] = 0
    data: np.ndarray | None = None  # constants
    quantized_dimension: int = 0


@dataclass
class OpModel:
    """A model of one builtin operator: tensors[i] for i in inputs/outputs; constants carry data."""

    op: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    options_type: int = 0
    options: object | None = None
    extra: list[Tensor] = field(default_factory=list)

    def build(self) -> bytes:
        tensors, buffers = [], [fb.BufferT()]
        for i, spec in enumerate(self.inputs + self.outputs):
            t = fb.TensorT()
            t.shape = list(spec.shape)
            t.type = TF_TYPE[np.dtype(spec.dtype)]
            t.name = f"t{i}"
            t.buffer = 0
            if spec.data is not None:
                b = fb.BufferT()
                b.data = np.ascontiguousarray(spec.data, dtype=spec.dtype).view(np.uint8).reshape(-1).tolist()
                buffers.append(b)
                t.buffer = len(buffers) - 1
            if spec.scale is not None:
                q = fb.QuantizationParametersT()
                q.scale = [float(s) for s in np.atleast_1d(spec.scale)]
                q.zeroPoint = [int(z) for z in np.atleast_1d(spec.zero_point)]
                q.quantizedDimension = spec.quantized_dimension
                t.quantization = q
            tensors.append(t)
        code = fb.OperatorCodeT()
        builtin = getattr(fb.BuiltinOperator, self.op)
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        op = fb.OperatorT()
        op.opcodeIndex = 0
        n_in = len(self.inputs)
        op.inputs = list(range(n_in))
        op.outputs = list(range(n_in, n_in + len(self.outputs)))
        op.builtinOptionsType, op.builtinOptions = self.options_type, self.options
        sg = fb.SubGraphT()
        sg.tensors, sg.operators = tensors, [op]
        sg.inputs = [i for i, s in enumerate(self.inputs) if s.data is None]
        sg.outputs = op.outputs
        m = fb.ModelT()
        m.version, m.operatorCodes, m.subgraphs, m.buffers, m.description = 3, [code], [sg], buffers, "pexcp test"
        builder = flatbuffers.Builder(1024)
        builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        return Run(self.build(), list(inputs)).output(0)


def options(cls_name: str, **values) -> object:
    """fb.<cls_name>() with attributes set, e.g. options("Conv2DOptionsT", strideW=2)."""
    o = getattr(fb, cls_name)()
    for k, v in values.items():
        setattr(o, k, v)
    return o
