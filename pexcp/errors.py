"""User-facing errors: each carries the exit code the CLI returns and a one-line message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUDGET = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3  # a plan failed validation: a bug in pexcp, never the user's fault
EXIT_SETUP = 4  # pexcp is installed incompletely
EXIT_INTERNAL = 5  # an unexpected exception: a bug in pexcp (the CLI says how to see its traceback)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
EXIT_PIPE = 141  # standard output closed by its reader, e.g. `| head` (128 + SIGPIPE, silently)


class PexcpError(Exception):
    """An error the user can act on; the CLI prints it on one line, without a traceback."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(PexcpError):
    """The model, instance or option given cannot be used (missing, corrupt, dynamic, unsupported)."""


class OutputError(PexcpError):
    """An output (a file, a folder, standard output) cannot be written."""


class BudgetError(PexcpError):
    """No plan fits the requested budget; the message says the proven minimum where known."""

    exit_code = EXIT_BUDGET


class SetupError(PexcpError):
    """pexcp is installed incompletely (a compiled part is missing); the message says how to fix it."""

    exit_code = EXIT_SETUP


class InvalidPlanError(Exception):
    """A plan failed validation. This is a bug in a planner, never a user error, so it is loud."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        head = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"plan failed validation: {head}{more}")
