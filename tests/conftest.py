"""Shared fixtures: where the real models are, and small ONNX model builders."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import settings

import pexcp.cli

REPO = Path(__file__).resolve().parents[1]

# Hypothesis: "ci" replays the same examples on every run (derandomised, no example database), so a CI
# failure is reproducible and never a fluke of the draw; "dev" (the default elsewhere) draws new examples on
# each run to find new failures. .ci/run sets HYPOTHESIS_PROFILE=ci. Tests' own @settings keep their counts.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def _shared_models() -> Path | None:
    given = os.environ.get("PEXCP_SHARED_MODELS")
    candidates = [given] if given else [REPO.parent / "shared" / "models", "/work/shared/models"]
    for c in candidates:
        if c and (Path(c) / "tflm_baseline.json").exists():
            return Path(c)
    return None


SHARED_MODELS = _shared_models()
MISSING_MODELS = (
    "the shared MCU models were not found: set PEXCP_SHARED_MODELS to the folder holding tflm_baseline.json"
)
# tests on the shared models: skipped, with the reason above, where the models are not present
needs_models = pytest.mark.skipif(SHARED_MODELS is None, reason=MISSING_MODELS)
FLOAT_MODELS = sorted((SHARED_MODELS / "onnx").glob("*.onnx")) if SHARED_MODELS else []
INT8_MODELS = sorted((SHARED_MODELS / "onnx_int8").glob("*.onnx")) if SHARED_MODELS else []
ALL_MODELS = FLOAT_MODELS + INT8_MODELS


def _shared_dsa() -> Path | None:
    """MiniMalloc's instances (../shared/dsa)."""
    given = os.environ.get("PEXCP_SHARED_DSA")
    for folder in [given] if given else [REPO.parent / "shared" / "dsa", "/work/shared/dsa"]:
        if folder and (Path(folder) / "C.1048576.csv").exists():
            return Path(folder)
    return None


SHARED_DSA = _shared_dsa()


def model_id(path: Path) -> str:
    return path.stem


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if SHARED_MODELS is None:
        pytest.skip(MISSING_MODELS)
    return SHARED_MODELS


@pytest.fixture(scope="session")
def shared_plan():
    """`shared_plan(path, method, **options)`: the plan of a shared model by a method, solved once per session
    (several tests check the same plan) with SHARED_MODEL_TIMEOUT seconds for searching methods."""
    from plan_helpers import solve_quick

    cache: dict[tuple, tuple] = {}

    def get(path: Path, method: str, **options):
        key = (path, method, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = solve_quick(path, method, timeout=SHARED_MODEL_TIMEOUT, **options)
        return cache[key]

    return get


SHARED_MODEL_TIMEOUT = 5.0  # seconds per searching method and shared model


@dataclass
class Run:
    code: int
    out: str
    err: str


Cli = Callable[..., Run]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Cli:
    """Run `pexcp ARGS...` in-process through `pexcp.cli.main` (the console-script entry point)."""
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped

    def run(*args: str | Path) -> Run:
        monkeypatch.setattr(sys, "argv", ["pexcp", *map(str, args)])
        capsys.readouterr()
        try:
            pexcp.cli.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run
