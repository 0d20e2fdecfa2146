"""Ctrl-C during native searches: stop them and let KeyboardInterrupt reach the command at once.

Python runs its SIGINT handler in the main thread, between bytecodes, so an interrupt waits for any C call
the main thread is in; CP-SAT by default also installs its own SIGINT handler during a solve, which turns
Ctrl-C into "time limit reached" (the caller then carries on) or, with several solves in threads, aborts the
process (`std::bad_function_call`). So every CP-SAT solve here runs with `catch_sigint_signal` off, on a
worker thread the main thread waits on: the interrupt is raised in the main thread while it waits, the
searches are told to stop, and they are joined before KeyboardInterrupt goes on (the CLI turns it into
exit 130).
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from ortools.sat.python import cp_model


def new_solver() -> cp_model.CpSolver:
    """A CP-SAT solver that leaves SIGINT to Python (see the module docstring)."""
    solver = cp_model.CpSolver()
    solver.parameters.catch_sigint_signal = False
    return solver


def run_threads(targets: Sequence[Callable[[], None]], stop: Callable[[], None]) -> None:
    """Run each target on its own thread and wait for all. When the wait is interrupted (KeyboardInterrupt,
    or any exception raised in the main thread), `stop()` is called, the threads are joined, and the
    exception goes on; an exception raised by a target is re-raised here after every thread has ended."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as e:  # re-raised in the caller's thread
                errors.append(e)
                stop()

        return run

    threads = [threading.Thread(target=guarded(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()  # interruptible: a signal wakes the main thread and its handler raises here
    except BaseException:
        stop()
        for t in threads:
            t.join()
        raise
    if errors:
        raise errors[0]


def solve(solver: cp_model.CpSolver, model: cp_model.CpModel,
          callback: cp_model.CpSolverSolutionCallback | None = None) -> int:
    """`solver.solve(model, callback)`, interruptible with Ctrl-C (see run_threads). Returns the status."""
    status: list[int] = []
    run_threads([lambda: status.append(solver.solve(model, callback))], solver.stop_search)
    return status[0]
