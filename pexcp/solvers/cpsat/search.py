"""How a CP-SAT model is searched: reproducibly, or with CP-SAT's parallel portfolio.

Reproducible (the default): one single-threaded search per worker, each with its own seed (seed, seed+1,
...), run side by side until one proves its answer; the best solution wins (ties: one that is proven, then
the lowest worker) and the best bound of any holds.
A single-threaded CP-SAT search is deterministic, and each stops on its deterministic-time budget, which
callers derive from --timeout and the work spent so far, never from the clock; so the same seed and
workers give the same answer unless the machine is so slow or loaded that the wall-clock limit, kept as a
hard stop, ends a search first. (CP-SAT's own deterministic parallel mode,
`interleave_search`, corrupts memory in OR-Tools 9.13-9.15: google/or-tools#5048.)
Portfolio: CP-SAT's parallel search with all workers, often faster, not reproducible.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from ortools.sat.python import cp_model

from pexcp import interrupts

Progress = Callable[[str], None]


@dataclass
class Outcome:
    solver: cp_model.CpSolver  # holds the best solution found, if any
    status: int  # cp_model.OPTIMAL, FEASIBLE, INFEASIBLE or UNKNOWN
    bound: float  # best proven bound on the objective
    work: float  # deterministic seconds spent (the longest search): what budgets are charged
    by_clock: bool = False  # a reproducible search ended by the wall clock, not its work budget

    @property
    def found(self) -> bool:
        return self.status in (cp_model.OPTIMAL, cp_model.FEASIBLE)


class Reporter(cp_model.CpSolverSolutionCallback):
    """Incumbent and bound over time, at most every half second and only when they change."""

    def __init__(self, progress: Progress | None, phase: str, show: Callable[[float], str], t0: float,
                 throttle: _Throttle | None = None):
        super().__init__()
        self.progress, self.phase, self.show, self.t0 = progress, phase, show, t0
        self.throttle = throttle or _Throttle()

    @classmethod
    def shared(cls, progress: Progress | None, phase: str, show: Callable[[float], str],
               t0: float) -> Callable[[], Reporter]:
        """Reporters for the parallel searches of one model: one throttle, so they do not repeat each other."""
        throttle = _Throttle()
        return lambda: cls(progress, phase, show, t0, throttle)

    def on_solution_callback(self) -> None:
        if not self.progress:
            return
        now = time.perf_counter() - self.t0
        objective, bound = self.show(self.objective_value), self.show(self.best_objective_bound)
        state = f"{self.phase}: incumbent {objective}, bound {bound}"
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


def _solver(workers: int, seed: int, seconds: float, work: float | None) -> cp_model.CpSolver:
    solver = interrupts.new_solver()
    # CP-SAT overruns its limit on large models (presolve): leave it a tenth as slack
    solver.parameters.max_time_in_seconds = max(0.9 * seconds, 0.05)
    if work is not None:
        solver.parameters.max_deterministic_time = max(work, 0.05)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed % 2**31  # CP-SAT seeds are 32-bit; worker i runs seed + i
    return solver


def search(
    model: cp_model.CpModel,
    seconds: float,
    work: float,
    workers: int,
    seed: int,
    reproducible: bool,
    reporter: Callable[[], Reporter],
) -> Outcome:
    """Solve `model` within `seconds` of wall time; a reproducible search also within `work` deterministic
    seconds, a budget its callers derive from --timeout alone (see the module docstring)."""
    if not reproducible:
        solver = _solver(workers, seed, seconds, None)
        status = interrupts.solve(solver, model, reporter())
        return Outcome(solver, status, solver.best_objective_bound, solver.deterministic_time)
    solvers = [_solver(1, seed + i, seconds, work) for i in range(workers)]
    statuses = [cp_model.UNKNOWN] * workers

    def run(i: int) -> None:
        statuses[i] = solvers[i].solve(model.clone(), reporter())
        if statuses[i] in (cp_model.OPTIMAL, cp_model.INFEASIBLE):  # settled: the others can stop
            for other in solvers:
                if other is not solvers[i]:
                    other.stop_search()

    interrupts.run_threads([lambda i=i: run(i) for i in range(workers)],
                           stop=lambda: [solver.stop_search() for solver in solvers])
    # a search that proved its answer wins ties: the ones it stopped may have got there too, or not
    found = [(solvers[i].objective_value, status != cp_model.OPTIMAL, i) for i, status in enumerate(statuses)
             if status in (cp_model.OPTIMAL, cp_model.FEASIBLE)]
    best = solvers[min(found)[2]] if found else solvers[0]
    bound = max(solver.best_objective_bound for solver in solvers)
    if cp_model.OPTIMAL in statuses:
        status = cp_model.OPTIMAL
    elif cp_model.INFEASIBLE in statuses:
        status = cp_model.INFEASIBLE
    else:
        status = cp_model.FEASIBLE if found else cp_model.UNKNOWN
    work_done = max(solver.deterministic_time for solver in solvers)
    settled = status in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
    return Outcome(best, status, bound, work_done, by_clock=not settled and work_done < 0.95 * work)
