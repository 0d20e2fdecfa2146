"""What every planning method is asked: budget, time, seed, workers, input shapes, rewrites, solver switches,
and where progress goes. One module, read by the registry, the methods and the pipeline alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pexcp.solvers.params import SolverParams

Progress = Callable[[str], None]


@dataclass
class SolveOptions:
    budget: int | None = None  # bytes the arena must fit in; None: minimise the arena
    timeout: float = 60.0  # seconds for the whole solve, import included
    seed: int = 0
    workers: int = 2
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    rewrites: tuple[str, ...] | None = None  # None: the method's default
    io: str = "model"  # "int8": no float model inputs/outputs (see importer/io.py)
    params: SolverParams = field(default_factory=SolverParams)  # the cpsat method's switches
    progress: Progress | None = None
    export_model: Path | None = None  # write every CP-SAT model searched next to this path (cpsat)

    def record(self) -> dict:
        """What the plan JSON keeps of these options: enough to say how the plan was obtained."""
        return {"timeout": self.timeout, "seed": self.seed, "workers": self.workers, "params": self.params.record()}
