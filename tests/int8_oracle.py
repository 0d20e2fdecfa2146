"""TFLite Micro's answers for the shared int8 models: the oracle of the int8 C backend tests and
benchmarks. For a model with float I/O it also gives the int8 tensors at its boundary (what its QUANTIZE
wrote and its DEQUANTIZE read), which are the inputs and outputs under `--io int8`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

import tflite_oracle as tfl
from conftest import SHARED_MODELS

RUNS = 20  # random inputs per model


@dataclass
class Case:
    """One input and TFLite Micro's results for it."""

    x: np.ndarray  # as the .tflite takes it (declared layout)
    y: np.ndarray  # as the .tflite returns it
    x_int8: np.ndarray  # the int8 input the model's first QUANTIZE made (x itself for int8 inputs)
    y_int8: np.ndarray  # the int8 tensor its last DEQUANTIZE read (y itself for int8 outputs)


def tflite_path(onnx_path: Path) -> Path:
    return SHARED_MODELS / "tflite" / f"{onnx_path.stem}.tflite"


def random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if dtype == np.int8:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def oracle(onnx_path: Path, x: np.ndarray) -> Case:
    """TFLite Micro on one input of the model's .tflite."""
    data = tflite_path(onnx_path).read_bytes()
    model = tfl.load(data)
    sg = model.subgraphs[0]
    first, last = sg.operators[0], sg.operators[-1]
    run = tfl.Run(data, [x])
    y = run.output(0)
    x8 = run.tensor(first.outputs[0]).reshape(x.shape) if tfl.op_type(model, first) == "QUANTIZE" else x
    y8 = run.tensor(last.inputs[0]).reshape(y.shape) if tfl.op_type(model, last) == "DEQUANTIZE" else y
    return Case(x, y, x8.astype(np.int8), y8.astype(np.int8))


@lru_cache(maxsize=None)
def cases(onnx_path: Path, runs: int = RUNS, seed: int = 0) -> tuple[Case, ...]:
    """`runs` random inputs of the model's .tflite and what TFLite Micro computes for them."""
    sg = tfl.load(tflite_path(onnx_path).read_bytes()).subgraphs[0]
    t_in = sg.tensors[sg.inputs[0]]
    rng = np.random.default_rng(seed)
    return tuple(
        oracle(onnx_path, random_input(rng, tuple(t_in.shape), np.dtype(tfl.NP_TYPE[t_in.type]))) for _ in range(runs)
    )
