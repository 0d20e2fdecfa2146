"""The `pexcp` command line: one module per subcommand, errors as one line and an exit code."""

from __future__ import annotations

import sys

import typer

from pexcp.errors import EXIT_BUG, InvalidPlanError, PexcpError

app = typer.Typer(
    name="pexcp",
    help="Fit neural networks into microcontroller SRAM: partial execution + provably optimal scheduling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # each module adds its command to `app`; imported here so `pexcp --help` lists them all
    from pexcp.cli import compile, fit, inspect, pack, solve, validate  # noqa: F401


def main() -> None:
    _register()
    try:
        app()
    except PexcpError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except InvalidPlanError as e:  # a planner bug: say so loudly, with every problem found
        typer.echo("BUG: pexcp produced a plan that fails its validator; please report this with the model.", err=True)
        for problem in e.problems:
            typer.echo(f"  - {problem}", err=True)
        sys.exit(EXIT_BUG)
