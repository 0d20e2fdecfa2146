"""Shared fixtures: where the real models are, and small ONNX model builders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_models() -> Path:
    candidates = [os.environ.get("PEXCP_SHARED_MODELS"), REPO.parent / "shared" / "models", "/work/shared/models"]
    for c in candidates:
        if c and (Path(c) / "tflm_baseline.json").exists():
            return Path(c)
    raise RuntimeError(
        "the shared MCU models were not found: set PEXCP_SHARED_MODELS to the folder holding tflm_baseline.json"
    )


SHARED_MODELS = _shared_models()
FLOAT_MODELS = sorted((SHARED_MODELS / "onnx").glob("*.onnx"))
INT8_MODELS = sorted((SHARED_MODELS / "onnx_int8").glob("*.onnx"))
ALL_MODELS = FLOAT_MODELS + INT8_MODELS


def model_id(path: Path) -> str:
    return path.stem


@pytest.fixture(scope="session")
def shared_models() -> Path:
    return SHARED_MODELS
