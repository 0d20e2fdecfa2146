"""Synthetic ONNX models for the benchmarks, written to a folder: MobileNetV2-like chains and NAS-like DAGs.

The builders (tests/onnx_builders.py) and the C-versus-onnxruntime check (tests/backend_helpers.py) live in
the test suite; this is the one place the benchmarks reach them.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from backend_helpers import compile_and_check  # noqa: E402
from onnx_builders import GraphBuilder, mbconv_chain, random_dag_model, save  # noqa: E402

__all__ = ["REPO", "compile_and_check", "mobilenet", "nas_dag", "small_dag", "wide"]


def mobilenet(directory: Path, n_blocks: int, channels: int = 8, hw: int = 16, qdq: bool = True) -> Path:
    """Inverted residual blocks (expand 6): 4 ops per block (+1 stem) in int8, 4 in float."""
    name = f"mbv2_b{n_blocks}_c{channels}_{'int8' if qdq else 'float'}"
    return save(mbconv_chain(n_blocks=n_blocks, channels=channels, expand=6, hw=hw, qdq=qdq), directory, name)


def nas_dag(directory: Path, n_layers: int, seed: int, qdq: bool = True) -> Path:
    """A random DAG of `n_layers` layers (conv, depthwise, add, concat, pool, ...) reading earlier tensors."""
    name = f"dag_{n_layers}_s{seed}_{'int8' if qdq else 'float'}"
    return save(random_dag_model(seed, n_layers, qdq=qdq), directory, name)


def wide(directory: Path, branches: int = 24) -> Path:
    """Parallel expand-depthwise-project branches of one input, concatenated: many free orders (float)."""
    b = GraphBuilder(f"wide_{branches}")
    x = b.input((1, 8, 24, 24))
    outs = [b.conv(b.conv(b.conv(x, 16, 1, act="relu"), 16, 3, group=16, act="relu"), 4, 1) for _ in range(branches)]
    b.output(b.concat(outs))
    return save(b.build(), directory)


def small_dag(directory: Path, seed: int, n_ops: int, qdq: bool, n_inputs: int) -> Path:
    """A small random DAG as the property tests draw them (1-2 inputs, a few layers)."""
    name = f"fuzz_{seed}_{n_ops}_{n_inputs}_{'int8' if qdq else 'float'}"
    return save(random_dag_model(seed, max(n_ops, n_inputs), qdq=qdq, n_inputs=n_inputs), directory, name)
