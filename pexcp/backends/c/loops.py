"""Band rounds folded into loops, so that a band plan's code grows with its period, not its rounds.

A band group's steady state repeats: round after round the same calls, whose integer arguments (a pointer
into a whole buffer, a row count, a window move) stay the same or advance by the same amount each round.
Straight-line code spends flash on every call. `fold` finds runs of at least MIN_ROUNDS consecutive rounds
of p row steps (p up to MAX_PERIOD) whose code differs only in integer literals that progress
arithmetically, and writes each run once inside `for (int rnd = 0; rnd < n; ++rnd)`, every varying literal
v0 + d k as `(v0 + d * rnd)`. The code a round runs is the code it ran before, literal for literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

LITERAL = re.compile(r"(?<![\w.])\d+(?![\w.])")  # a decimal integer, not part of a name or a float
MIN_ROUNDS = 3
MAX_PERIOD = 24
VAR = "rnd"


@dataclass(frozen=True)
class Block:
    """The code of one step: its comment line and its statements; `row` for a row step (foldable)."""

    comment: str
    lines: tuple[str, ...]
    row: bool

    @cached_property
    def shape(self) -> tuple[str, list[int]]:
        text = "\n".join(self.lines)
        return LITERAL.sub("#", text), [int(x) for x in LITERAL.findall(text)]


def _round(blocks: list[Block], start: int, period: int) -> tuple[str, list[int]]:
    shapes = [b.shape for b in blocks[start : start + period]]
    return "\f".join(s for s, _ in shapes), [x for _, xs in shapes for x in xs]


def _repeats(blocks: list[Block], start: int, period: int) -> tuple[int, list[int], list[int]]:
    """How many rounds of `period` steps from `start` share one shape with literals in arithmetic
    progression, and the first round's literals and their steps."""
    if start + 2 * period > len(blocks) or not all(b.row for b in blocks[start : start + 2 * period]):
        return 1, [], []
    shape, first = _round(blocks, start, period)
    second_shape, second = _round(blocks, start + period, period)
    if second_shape != shape:
        return 1, [], []
    steps = [b - a for a, b in zip(first, second)]
    n = 2
    while start + (n + 1) * period <= len(blocks) and all(b.row for b in blocks[start + n * period : start + (n + 1) * period]):
        s, xs = _round(blocks, start + n * period, period)
        if s != shape or any(x != a + n * d for x, a, d in zip(xs, first, steps)):
            break
        n += 1
    return n, first, steps


def _loop(blocks: list[Block], first_step: int, period: int, rounds: int, first: list[int], steps: list[int]) -> list[str]:
    values = iter(zip(first, steps))

    def literal(_: re.Match) -> str:
        a, d = next(values)
        return str(a) if d == 0 else f"({a} + {d} * {VAR})" if d > 0 else f"({a} - {-d} * {VAR})"

    last = first_step + period * rounds - 1
    body = []
    for b in blocks[:period]:
        body.append("    " + b.comment)
        body += ["    " + LITERAL.sub(literal, line) for line in b.lines]
    head = f"/* steps {first_step}..{last}: {rounds} rounds of the {period} steps below (rows of the first round) */"
    return [head, f"for (int {VAR} = 0; {VAR} < {rounds}; ++{VAR}) {{", *body, "}"]


def fold(blocks: list[Block], first_step: int = 0) -> list[str]:
    """The statements of `blocks` (steps first_step, first_step + 1, ...), repeated row rounds as loops."""
    lines: list[str] = []
    i = 0
    while i < len(blocks):
        best = None  # (steps covered, period, rounds, first literals, their steps)
        for period in range(1, MAX_PERIOD + 1):
            rounds, first, steps = _repeats(blocks, i, period)
            if rounds >= MIN_ROUNDS and (best is None or rounds * period > best[0]):
                best = (rounds * period, period, rounds, first, steps)
        if best is None:
            lines += [blocks[i].comment, *blocks[i].lines]
            i += 1
            continue
        covered, period, rounds, first, steps = best
        lines += _loop(blocks[i:], first_step + i, period, rounds, first, steps)
        i += covered
    return lines
