"""Band rounds folded into loops (pexcp/backends/c/loops.py): the folded code, unrolled by an independent
reading of its loops, runs the same statements in the same order; repeated row rounds shrink to one copy.
End to end, the band plans' C (test_bands.py, test_kernels_bands.py) runs through these loops."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pexcp.backends.c.loops import MIN_ROUNDS, Block, fold

HEAD = re.compile(r"for \(int rnd = 0; rnd < (\d+); \+\+rnd\) \{")
TERM = re.compile(r"\((\d+) ([+-]) (\d+) \* rnd\)")


def unroll(lines: list[str]) -> list[str]:
    """The statements the folded code runs, comments dropped, each loop body once per round."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        head = HEAD.fullmatch(lines[i].strip())
        if head is None:
            if not lines[i].startswith("/*"):
                out.append(lines[i])
            i += 1
            continue
        end = lines.index("}", i)
        body = [line[4:] for line in lines[i + 1 : end] if not line.strip().startswith("/*")]
        for k in range(int(head.group(1))):
            value = lambda m, k=k: str(int(m.group(1)) + (1 if m.group(2) == "+" else -1) * int(m.group(3)) * k)  # noqa: E731
            out += [TERM.sub(value, line) for line in body]
        i = end + 1
    return out


def statements(blocks: list[Block]) -> list[str]:
    return [line for b in blocks for line in b.lines]


TEMPLATES = ["call_a(AT(int8_t, {}), {}, w3);", "pexcp_move_rows(AT(int8_t, {}), 16, {}, {}, 0, 64);",
             "for (int c = 0; c < {}; ++c) /* a band */\n    add(AT(int8_t, {}) + (long)c * 16);", "MODEL_POISON({}, 1152);"]


@st.composite
def programs(draw) -> list[Block]:
    """Straight-line steps: a few unrelated ones, then rounds of a period whose literals advance by fixed
    steps (some zero or negative), then a few more."""
    def step(row: bool) -> Block:
        t = draw(st.sampled_from(TEMPLATES))
        lines = t.format(*[draw(st.integers(0, 5000)) for _ in range(t.count("{}"))]).split("\n")
        return Block("/* step */", tuple(lines), row)

    period, rounds = draw(st.integers(1, 4)), draw(st.integers(1, 7))
    body = [draw(st.sampled_from(TEMPLATES)) for _ in range(period)]
    starts = [[draw(st.integers(1000, 5000)) for _ in range(t.count("{}"))] for t in body]
    steps = [[draw(st.sampled_from([0, 0, 16, 64, -8])) for _ in range(t.count("{}"))] for t in body]
    middle = [Block("/* step */", tuple(t.format(*[a + d * k for a, d in zip(s, ds)]).split("\n")), True)
              for k in range(rounds) for t, s, ds in zip(body, starts, steps)]
    return [step(draw(st.booleans())) for _ in range(draw(st.integers(0, 3)))] + middle + [
        step(draw(st.booleans())) for _ in range(draw(st.integers(0, 3)))]


@settings(max_examples=300, deadline=None)
@given(programs())
def test_folded_code_runs_the_same_statements(blocks: list[Block]) -> None:
    folded = fold(blocks)
    assert unroll(folded) == statements(blocks)


def test_repeated_rounds_become_one_loop() -> None:
    rounds = 10
    blocks = [Block("/* step */", (f"conv(AT(int8_t, {100 + 64 * k}), AT(int8_t, 0), 3);", "MODEL_POISON(9, 4);"), True)
              for k in range(rounds)]
    folded = fold(blocks)
    assert sum(bool(HEAD.fullmatch(line.strip())) for line in folded) == 1
    assert "conv(AT(int8_t, (100 + 64 * rnd)), AT(int8_t, 0), 3);" in [line.strip() for line in folded]
    assert len(folded) < len(statements(blocks))
    assert unroll(folded) == statements(blocks)


def test_too_few_rounds_or_other_steps_stay_straight() -> None:
    few = [Block("/* step */", (f"conv({100 + k});",), True) for k in range(MIN_ROUNDS - 1)]
    whole = [Block("/* step */", (f"conv({100 + k});",), False) for k in range(10)]
    for blocks in (few, whole):
        assert not any(HEAD.fullmatch(line.strip()) for line in fold(blocks))
