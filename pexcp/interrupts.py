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
from typing import Callable, Sequence, TypeVar

from ortools.sat.python import cp_model

STOP_RETRY_SECONDS = 0.05
T = TypeVar("T")


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
    done = [threading.Event() for _ in targets]

    def guarded(target: Callable[[], None], finished: threading.Event) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as e:  # re-raised in the caller's thread
                errors.append(e)
                stop()
            finally:
                finished.set()

        return run

    for target, finished in zip(targets, done):
        threading.Thread(target=guarded(target, finished), daemon=True).start()
    # Waits on events, not Thread.join: a join interrupted by KeyboardInterrupt marks a running thread as
    # stopped (CPython's fix for bpo-45274), so joining it again returns at once, and the process exited with
    # the search still running ("terminate called without an active exception").
    try:
        for finished in done:
            finished.wait()  # interruptible: the SIGINT handler raises here
    except BaseException:
        for finished in done:
            while not finished.wait(STOP_RETRY_SECONDS):
                stop()  # again: a search that had not started yet when asked to stop did not hear it
        raise
    if errors:
        raise errors[0]


def call_abandonable(function: Callable[[], T]) -> T:
    """`function()` on a worker thread the main thread waits on, so Ctrl-C is raised at once; the function is
    then left to finish on its own. Only for pure computations in C that hold no Python state and write
    nothing (the canonical search): the process exits around them."""
    result: list[T] = []
    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            result.append(function())
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)
        finally:
            finished.set()

    threading.Thread(target=run, daemon=True).start()
    finished.wait()
    if errors:
        raise errors[0]
    return result[0]


def solve(solver: cp_model.CpSolver, model: cp_model.CpModel,
          callback: cp_model.CpSolverSolutionCallback | None = None) -> int:
    """`solver.solve(model, callback)`, interruptible with Ctrl-C (see run_threads). Returns the status."""
    status: list[int] = []
    run_threads([lambda: status.append(solver.solve(model, callback))], solver.stop_search)
    return status[0]
