"""What every phase of one cpsat solve shares: the options and switches, the clock, progress, and the
searches themselves (charged to the clock, exported when asked)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Callable

from ortools.sat.python import cp_model

from pexcp.errors import BadInputError
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.cpsat.budget import Allowance, Clock
from pexcp.solvers.cpsat.part import Part
from pexcp.solvers.cpsat.search import Outcome, Report, export, search
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams


@dataclass
class Context:
    options: SolveOptions
    clock: Clock
    t0: float = field(default_factory=time.perf_counter)
    exported: list[Path] = field(default_factory=list)

    @property
    def params(self) -> SolverParams:
        return self.options.params

    @property
    def budget(self) -> int | None:
        return self.options.budget

    def progress(self, message: str) -> None:
        if self.options.progress:
            self.options.progress(f"{time.perf_counter() - self.t0:6.1f}s {message}")

    @cached_property
    def costs(self) -> cm.SplitCosts | None:
        """The C backend's measured split costs, when the objective asks for instructions."""
        if self.params.objective != "instructions":
            return None
        data = json.loads(resources.files("pexcp.solvers.cpsat").joinpath("costs.json").read_text())
        return cm.SplitCosts(round(100 * data["per_call"]), round(100 * data["per_element"]),  # hundredths
                             round(100 * data["in_place_per_call"]))

    def base_model(self, part: Part, capacity_bytes: int) -> cm.ScheduleModel:
        """Order, split choices and lifetimes: what every model of a part shares."""
        p = self.params
        sm = cm.ScheduleModel(part.graph, part.groups, part.unit, capacity=-(-capacity_bytes // part.unit))
        cm.add_order(sm, None if p.reorder else [op.name for op in part.graph.ops], p.order, p.order_windows)
        cm.add_split_choices(sm, self.costs)
        if p.in_place:
            cm.add_in_place(sm, p.in_place, self.costs)
        if p.drop_scratch:
            sm.no_scratch = {}
        cm.add_lifetimes(sm)
        return sm

    def search(self, sm: cm.ScheduleModel, part: Part, phase: str, allowed: Allowance,
               show: Callable[[float], str]) -> Outcome:
        """Search `sm` within `allowed`, charging the work to the clock (and noting when the wall clock ended it)."""
        title = f"{part.label} {phase}".strip()
        if self.options.export_model is not None:
            self._export(sm, title)
        if self.clock.left().seconds <= 0:  # --timeout is over: no search, and say the clock decided
            self.clock.by_clock = True
            return Outcome(cp_model.CpSolver(), cp_model.UNKNOWN, 0.0, 0.0, 0.0, True)
        report = Report(self.options.progress, title, show, self.t0)
        reproducible = self.params.search == "reproducible"
        out = search(sm.model, allowed.seconds, allowed.work, self.options.workers, self.options.seed, reproducible,
                     report, self.params.cp)
        self.clock.spent += out.work
        self.clock.by_clock |= out.by_clock
        return out

    def _export(self, sm: cm.ScheduleModel, title: str) -> None:
        base = Path(self.options.export_model)
        tag = title.replace("/", "-of-").replace(" ", "-")
        path = base.with_name(f"{base.stem}.{tag}{base.suffix}")
        k = 2
        while path in self.exported:
            path = base.with_name(f"{base.stem}.{tag}-{k}{base.suffix}")
            k += 1
        try:
            export(sm.model, path)
        except OSError as e:
            raise BadInputError(f"cannot write the CP-SAT model to {path}: {e}") from None
        self.exported.append(path)
