"""The `pexcp` command line: one module per subcommand, errors as one line and an exit code.

Every way a command can end is decided here (the codes are in pexcp.errors and the README): a usage error,
a PexcpError or an interrupt is one line on stderr; anything else is a bug in pexcp, reported as one
"internal error" line with its own exit code (PEXCP_TRACEBACK=1 shows the traceback instead).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from importlib import metadata
from typing import Any, Optional

import typer

from pexcp.errors import (
    EXIT_BAD_INPUT, EXIT_BUG, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE, InvalidPlanError, OutputError, PexcpError,
)

app = typer.Typer(
    name="pexcp",
    help="Fit neural networks into microcontroller SRAM: partial execution + provably optimal scheduling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

TRACEBACK_ENV = "PEXCP_TRACEBACK"  # set to 1: unexpected errors show their traceback (for developers, tests)


def version_line() -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    python = ".".join(map(str, sys.version_info[:3]))
    return f"pexcp {version('pexcp')} (ortools {version('ortools')}, onnx {version('onnx')}, Python {python})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_print_version, is_eager=True, help="Print the versions of pexcp and its solvers."
    ),
) -> None:
    """Fit neural networks into microcontroller SRAM: partial execution + provably optimal scheduling."""


def _register() -> None:
    # each module adds its command to `app`; imported here so `pexcp --help` lists them all
    from pexcp.cli import compare, compile, fit, inspect, pack, prune, solve, validate  # noqa: F401


class _Stdout:
    """sys.stdout for the length of a command: a failed write (a full disk, /dev/full, a closed pipe) becomes
    an OutputError, so it ends as one line instead of a traceback at exit."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as e:
            raise _stdout_error(e) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise _stdout_error(e) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StdoutClosed(OutputError):
    """The reader of standard output went away (EPIPE)."""


def _stdout_error(e: OSError) -> OutputError:
    if e.errno == errno.EPIPE:
        return StdoutClosed("standard output was closed")
    return OutputError(f"cannot write to standard output: {os.strerror(e.errno or errno.EIO)}")


def _silence_stdout() -> None:
    """After stdout failed, let the interpreter's own flush at exit go nowhere instead of failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def _fail(message: str, code: int) -> int:
    print(f"error: {message}".replace("\n", " "), file=sys.stderr)
    return code


def _interrupted(signum: int, frame: object) -> None:
    """First Ctrl-C: KeyboardInterrupt, which stops the searches (pexcp.interrupts) and exits 130. A second
    one while that cleanup runs ends the process at once."""
    if getattr(_interrupted, "seen", False):
        os._exit(EXIT_INTERRUPTED)
    _interrupted.seen = True  # type: ignore[attr-defined]
    raise KeyboardInterrupt


def run(args: list[str] | None = None) -> int:
    """Run one command; returns its exit code. Usage errors, PexcpErrors, interrupts and bugs each end as
    one line on stderr (see the module docstring)."""
    try:
        _register()  # imports onnx and ortools: seconds on a loaded machine, so inside the handlers below
        code = app(args=args, standalone_mode=False, prog_name="pexcp")
        if code == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
            raise KeyboardInterrupt
        sys.stdout.flush()
        return code if isinstance(code, int) else 0
    except typer.TyperException as e:  # click's usage errors: bad option, missing argument, unknown command
        if type(e).__name__ == "NoArgsIsHelpError":  # `pexcp` alone: the help, already printed
            return e.exit_code
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return _fail(f"{e.format_message().strip().rstrip('.')}{hint}", e.exit_code)
    except typer.Abort:
        return _fail("aborted", EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was written", EXIT_INTERRUPTED)
    except StdoutClosed:  # piped into `head` and the like: not an error worth a line
        _silence_stdout()
        return EXIT_PIPE
    except OutputError as e:
        _silence_stdout()
        return _fail(str(e), e.exit_code)
    except PexcpError as e:
        return _fail(str(e), e.exit_code)
    except InvalidPlanError as e:  # a planner bug: say so loudly, with every problem found
        print("BUG: pexcp produced a plan that fails its validator; please report this with the model.",
              file=sys.stderr)
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_BUG
    except Exception as e:
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        where = e.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        at = f" at {os.path.basename(where.tb_frame.f_code.co_filename)}:{where.tb_lineno}" if where else ""
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return _fail(
            f"internal error {type(e).__name__}{at}{': ' + detail if detail else ''}; this is a bug in pexcp: "
            f"please report it with the command and model ({TRACEBACK_ENV}=1 shows the traceback)",
            EXIT_INTERNAL,
        )


def main() -> None:
    """The console-script entry point: runs the command with SIGINT handled (see _interrupted) and stdout
    guarded (see _Stdout), and exits with its code."""
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = signal.signal(signal.SIGINT, _interrupted) if main_thread else None
    _interrupted.seen = False  # type: ignore[attr-defined]
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)
    try:
        code = run()
    finally:
        sys.stdout = stdout
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    sys.exit(code)
