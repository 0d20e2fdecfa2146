"""How a CP-SAT model is searched: reproducibly (the default), or with CP-SAT's parallel portfolio.

Reproducible: one single-threaded search per worker, each with its own seed (seed, seed+1, ...), run side
by side. A single-threaded CP-SAT search is deterministic, and each stops on a budget of deterministic
time that callers derive from --timeout and the work spent so far, never from the clock. Which worker
proves first in wall time is a race, so the answer never depends on it:
- when some worker proves the optimum v, the answer is the solution of value v found by the lowest-numbered
  worker that reaches v within its budget (the first of its solutions with value v: a fact of its own
  deterministic search). Workers above the one holding v stop at once; workers below it go on until they
  reach v or their budget. So extra workers cost time only when a proof comes from a higher worker;
- when nobody proves, every worker ran its whole budget: the best solution wins (ties: the lowest
  worker) and the best bound of any holds;
- the work charged is deterministic too: the winner's work when it reached v, or the longest search.
The same seed and workers then give the same answer unless the wall clock, kept as a hard stop at the
end of --timeout, ends a search first (Outcome.by_clock; the plan then says so). (CP-SAT's own
deterministic parallel mode, `interleave_search`, corrupts memory in OR-Tools 9.13-9.15:
google/or-tools#5048.)
Portfolio: CP-SAT's parallel search with all workers, often faster, not reproducible.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ortools.sat.python import cp_model

from pexcp.solvers.params import apply_cp

Progress = Callable[[str], None]
SLACK = 0.9  # CP-SAT overruns its wall limit on large models (presolve): it gets this share of the time left


@dataclass
class Outcome:
    solver: cp_model.CpSolver  # holds the answer's solution, if any
    status: int  # cp_model.OPTIMAL, FEASIBLE, INFEASIBLE or UNKNOWN
    objective: float  # of the answer's solution (meaningless when none was found)
    bound: float  # best proven bound on the objective
    work: float  # deterministic seconds charged (see the module docstring)
    by_clock: bool = False  # a reproducible search ended by the wall clock, not its work budget

    @property
    def found(self) -> bool:
        return self.status in (cp_model.OPTIMAL, cp_model.FEASIBLE)


@dataclass
class Report:
    """Where progress goes: a phase name and how to show objective values, shared by a model's workers."""

    progress: Progress | None
    phase: str
    show: Callable[[float], str]
    t0: float
    throttle: _Throttle = field(default_factory=lambda: _Throttle())

    def solution(self, objective: float, bound: float) -> None:
        if not self.progress:
            return
        now = time.perf_counter() - self.t0
        state = f"{self.phase}: incumbent {self.show(objective)}, bound {self.show(bound)}"
        if self.throttle.admit(now, state):
            self.progress(f"{now:6.1f}s {state}")


class _Throttle:
    """Thread-safe: admits a report at most every half second, and never the same one twice in a row."""

    def __init__(self) -> None:
        self.at, self.last, self.lock = -1.0, "", threading.Lock()

    def admit(self, now: float, state: str) -> bool:
        with self.lock:
            if now - self.at < 0.5 or state == self.last:
                return False
            self.at, self.last = now, state
            return True


class _Race:
    """The reproducible workers' shared state: the proven optimum, and who holds it."""

    def __init__(self, n: int):
        self.lock = threading.Lock()
        self.proven: float | None = None
        self.solvers: list[cp_model.CpSolver] = []
        self.best: list[float | None] = [None] * n  # each worker's best objective
        self.reached: list[float | None] = [None] * n  # deterministic time of each worker's best solution

    def stop_above(self, i: int) -> None:
        for k in range(i + 1, len(self.solvers)):
            self.solvers[k].stop_search()

    def settled(self, i: int, objective: float) -> None:
        """Worker i proved `objective` optimal: workers above it, and below it holding the optimum, stop."""
        with self.lock:
            self.proven = objective if self.proven is None else min(self.proven, objective)
            self.stop_above(i)
            for k in range(i):
                if self.best[k] is not None and self.best[k] <= self.proven:
                    self.solvers[k].stop_search()


class _Watch(cp_model.CpSolverSolutionCallback):
    """Records worker i's solutions (objective, deterministic time) and stops it once it holds a proven optimum."""

    def __init__(self, i: int, race: _Race, report: Report):
        super().__init__()
        self.i, self.race, self.report = i, race, report

    def on_solution_callback(self) -> None:
        objective = self.objective_value
        with self.race.lock:
            self.race.best[self.i], self.race.reached[self.i] = objective, self.deterministic_time
            if self.race.proven is not None and objective <= self.race.proven:
                self.stop_search()
                self.race.stop_above(self.i)
        self.report.solution(objective, self.best_objective_bound)


class _Plain(cp_model.CpSolverSolutionCallback):
    def __init__(self, report: Report):
        super().__init__()
        self.report = report

    def on_solution_callback(self) -> None:
        self.report.solution(self.objective_value, self.best_objective_bound)


def _solver(workers: int, seed: int, seconds: float, work: float | None, cp: dict[str, Any]) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    apply_cp(solver.parameters, cp)
    solver.parameters.max_time_in_seconds = max(SLACK * seconds, 0.05)
    if work is not None:
        solver.parameters.max_deterministic_time = max(work, 0.05)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    return solver


def export(model: cp_model.CpModel, path: Path) -> None:
    """Write the model (with its hints) as CP-SAT reads it: text when the name ends in `txt`, else binary."""
    if not model.export_to_file(str(path)):
        raise OSError(f"CP-SAT could not write {path}")


def search(model: cp_model.CpModel, seconds: float, work: float, workers: int, seed: int, reproducible: bool,
           report: Report, cp: dict[str, Any] | None = None) -> Outcome:
    """Solve `model` (minimising its objective) within `seconds` of wall time; a reproducible search also
    within `work` deterministic seconds per worker (see the module docstring). `cp`: CP-SAT parameters
    passed through."""
    cp = cp or {}
    if not reproducible:
        solver = _solver(workers, seed, seconds, None, cp)
        status = solver.solve(model, _Plain(report))
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        return Outcome(solver, status, solver.objective_value if found else 0.0, solver.best_objective_bound,
                       solver.deterministic_time)
    race = _Race(workers)
    race.solvers = [_solver(1, seed + i, seconds, work, cp) for i in range(workers)]
    statuses = [cp_model.UNKNOWN] * workers

    def run(i: int) -> None:
        solver = race.solvers[i]
        statuses[i] = solver.solve(model.clone(), _Watch(i, race, report))
        if statuses[i] == cp_model.OPTIMAL:
            race.settled(i, solver.objective_value)
        elif statuses[i] == cp_model.INFEASIBLE:
            for other in race.solvers:
                other.stop_search()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _verdict(race, statuses, work)


def _verdict(race: _Race, statuses: list[int], work: float) -> Outcome:
    solvers = race.solvers
    spent = [s.deterministic_time for s in solvers]
    if cp_model.INFEASIBLE in statuses:  # a fact about the model, whoever proved it
        i = statuses.index(cp_model.INFEASIBLE)
        return Outcome(solvers[i], cp_model.INFEASIBLE, 0.0, solvers[i].best_objective_bound, spent[i])
    if race.proven is not None:
        w = min(i for i, best in enumerate(race.best) if best is not None and best <= race.proven)
        charged = spent[0] if len(solvers) == 1 else max([race.reached[w] or 0.0] + spent[:w])
        by_clock = any(t < 0.95 * work for t in spent[:w])  # below the winner: ended by budget, else the clock
        return Outcome(solvers[w], cp_model.OPTIMAL, race.proven, race.proven, charged, by_clock)
    found = [(race.best[i], i) for i in range(len(solvers)) if race.best[i] is not None]
    bound = max(s.best_objective_bound for s in solvers)
    by_clock = any(t < 0.95 * work for t in spent)
    if not found:
        return Outcome(solvers[0], cp_model.UNKNOWN, 0.0, bound, max(spent), by_clock)
    objective, w = min(found)
    return Outcome(solvers[w], cp_model.FEASIBLE, objective, bound, max(spent), by_clock)
