"""The offset packing engine: exact against exhaustive search, valid always, and the `pexcp pack` command."""

from __future__ import annotations

import contextlib
import importlib.machinery
import io
import itertools
import os
import random
import subprocess
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numpy as np

from pexcp.cli import run as run_cli
from pexcp.errors import EXIT_SETUP
from pexcp.layout import canonical
from pexcp.layout.canonical import ORDERS, Restarts, jitter, luby, search
from pexcp.layout.cpsat import solve_at
from pexcp.layout.greedy import best_of_greedy
from pexcp.layout.instance import build_instance
from pexcp.layout.pack import pack
from pexcp.layout.portfolio import SEARCH_NODES_PER_BUFFER
from pexcp.layout.problem import Block, height, layout_problems, live_together, load, read_csv, write_csv

from conftest import SHARED_DSA


# ---- reference: exhaustive search ------------------------------------------------------------------------


def lowest_fit(blocks: list[Block], order: tuple[int, ...]) -> int:
    """Height when blocks go in `order`, each at the lowest offset clear of those already placed."""
    placed: list[tuple[Block, int]] = []
    for i in order:
        b = blocks[i]
        conflicts = sorted((o, o + p.size) for p, o in placed if p.size and b.size and live_together(p, b))
        offset = 0
        for start, end in conflicts:
            if start >= offset + b.size:
                break
            offset = max(offset, end)
        placed.append((b, offset))
    return max((o + b.size for b, o in placed), default=0)


def exhaustive_minimum(blocks: list[Block]) -> int:
    """The optimum: placing blocks in the order of their offsets in an optimal placement, each as low as it
    fits, never ends any block higher, so the best order reproduces the optimum."""
    return min(lowest_fit(blocks, order) for order in itertools.permutations(range(len(blocks))))


def random_blocks(rng: random.Random, n: int, unit: int = 1) -> list[Block]:
    blocks = []
    for i in range(n):
        lower = rng.randrange(0, 8)
        blocks.append(Block(f"b{i}", lower, lower + rng.randrange(1, 6), unit * rng.randrange(1, 12)))
    return blocks


def edge_forcing(h: int, w: int, t: int = 0, tag: str = "") -> list[Block]:
    """Seven blocks over five steps from t whose LOAD is h but which need more unless h = 3w. At LOAD the
    thin blocks x and y (size w) each share a step with a block of size h - w, so each sits at the bottom or
    the top, and as they are live together, at opposite ends. z (size w, live with both) shares a step with
    x and a block of size h - 2w, which leaves it only the place right beside x, and another step with y and
    such a block, which leaves it only the place right beside y: two different places unless h = 3w."""
    return [
        Block(f"x{tag}", t, t + 3, w), Block(f"wide_first{tag}", t, t + 1, h - w),
        Block(f"y{tag}", t + 2, t + 5, w), Block(f"wide_last{tag}", t + 4, t + 5, h - w),
        Block(f"z{tag}", t + 1, t + 4, w), Block(f"mid_x{tag}", t + 1, t + 2, h - 2 * w),
        Block(f"mid_y{tag}", t + 3, t + 4, h - 2 * w),
    ]


def gadget_blocks(rng: random.Random, extra: int) -> list[Block]:
    """An edge_forcing gadget of random sizes plus `extra` random blocks, shuffled."""
    w = rng.randrange(1, 3)
    h = rng.randrange(2 * w + 2, 2 * w + 6)
    blocks = edge_forcing(h, w, rng.randrange(0, 3))
    for i in range(extra):
        lower = rng.randrange(0, 8)
        blocks.append(Block(f"e{i}", lower, lower + rng.randrange(1, 5), rng.randrange(1, h)))
    rng.shuffle(blocks)
    return blocks


blocks_strategy = st.lists(
    st.tuples(st.integers(0, 10), st.integers(0, 6), st.integers(0, 40)), min_size=0, max_size=10
).map(lambda rows: [Block(f"b{i}", lo, lo + span, size) for i, (lo, span, size) in enumerate(rows)])


# ---- exact against exhaustive search ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_minimize_matches_exhaustive_search(seed: int) -> None:
    rng = random.Random(seed)
    blocks = random_blocks(rng, rng.randrange(3, 8), unit=rng.choice([1, 16, 1024]))
    best = exhaustive_minimum(blocks)
    result = pack(blocks, minimize=True, timeout=20)
    assert result.status == "optimal"
    assert result.capacity == best == result.lower_bound
    assert layout_problems(result.blocks, best) == []


@pytest.mark.parametrize("seed", range(12, 20))
def test_fixed_capacity_fits_the_optimum_and_proves_one_unit_less_infeasible(seed: int) -> None:
    rng = random.Random(seed)
    blocks = random_blocks(rng, 7)
    best = exhaustive_minimum(blocks)
    fits = pack(blocks, capacity=best, timeout=20)
    assert fits.status == "optimal" and fits.capacity <= best
    assert layout_problems(fits.blocks, best) == []
    short = pack(blocks, capacity=best - 1, timeout=20)
    assert short.status == "infeasible" and short.lower_bound >= best


@pytest.mark.parametrize(("h", "w"), [(4, 1), (5, 1), (7, 2), (8, 2)])
def test_edge_forcing_needs_more_than_load(h: int, w: int) -> None:
    """Random instances almost never need more than LOAD; these do, so the proofs above LOAD get tested."""
    blocks = edge_forcing(h, w)
    best = exhaustive_minimum(blocks)
    assert best > load(blocks) == h
    result = pack(blocks, minimize=True, timeout=20)
    assert result.status == "optimal" and result.capacity == best == result.lower_bound


@pytest.mark.parametrize("seed", [2, 3, 4, 6, 7, 15, 18, 22, 27])  # the seeds whose minimum exceeds LOAD
def test_minimum_above_load_matches_exhaustive_search(seed: int) -> None:
    blocks = gadget_blocks(random.Random(seed), extra=1)
    best = exhaustive_minimum(blocks)
    assert best > load(blocks)
    result = pack(blocks, minimize=True, timeout=20)
    assert result.status == "optimal" and result.capacity == best == result.lower_bound
    short = pack(blocks, capacity=best - 1, timeout=20)
    assert short.status == "infeasible" and short.lower_bound >= best


NO_DEADLINE = float("inf")


@pytest.mark.parametrize("order", ORDERS)
def test_each_preorder_search_is_exact_on_its_own(order: str) -> None:
    for seed in range(6):
        rng = random.Random(100 + seed)
        blocks = random_blocks(rng, 7)
        instance = build_instance(blocks)
        best = exhaustive_minimum(blocks)
        run = search(instance, best, order, 10**9, NO_DEADLINE)
        assert run.status == 1 and layout_problems(instance.placement(run.offsets), best) == []
        assert search(instance, best - 1, order, 10**9, NO_DEADLINE).status == 0


@pytest.mark.parametrize("seed", range(8))
def test_any_preorder_search_is_exact(seed: int) -> None:
    """Restarts rely on it: a perturbed preorder decides the same questions, only faster or slower."""
    rng = random.Random(200 + seed)
    blocks = random_blocks(rng, 8, unit=4)
    instance = build_instance(blocks)
    best = exhaustive_minimum(blocks) // instance.unit
    for order in ORDERS:
        noise = jitter(instance.n, np.random.default_rng(seed), noise=1.0)
        run = search(instance, best, order, 10**9, NO_DEADLINE, noise)
        assert run.status == 1 and layout_problems(instance.placement(run.offsets), best * instance.unit) == []
        assert search(instance, best - 1, order, 10**9, NO_DEADLINE, noise).status == 0


@pytest.mark.skipif(SHARED_DSA is None, reason="shared MiniMalloc instances not found (set PEXCP_SHARED_DSA)")
def test_search_stops_at_its_node_limit_and_deadline() -> None:
    instance = build_instance(read_csv(SHARED_DSA / "D.1048576.csv"))  # thrashes below 995 KiB
    stopped = search(instance, 980, "WAT", 3, NO_DEADLINE)
    assert stopped.status == -1 and stopped.offsets is None and stopped.nodes == 4  # the node over the limit
    late = search(instance, 980, "WAT", 10**9, deadline=0.0)
    assert late.status == -1 and late.nodes == 256  # the clock is read every 256 nodes


@pytest.mark.parametrize("seed", [0, 7, 8, 10, 15, 16, 22])  # the seeds whose minimum exceeds LOAD
def test_search_and_cpsat_agree_beyond_exhaustive_reach(seed: int) -> None:
    """Two independent exact engines on 16-19 buffers (two gadgets, buffers live throughout, random ones
    between): the search's minimum (a fit, and a proof one unit below, above LOAD) is CP-SAT's too."""
    rng = random.Random(seed)
    blocks = []
    for tag, start in (("a", 0), ("b", 6)):
        w = rng.randrange(1, 3)
        blocks += edge_forcing(rng.randrange(2 * w + 2, 2 * w + 6), w, start, tag)
    blocks += [Block(f"long{i}", 0, 11, rng.randrange(1, 4)) for i in range(rng.randrange(1, 4))]
    for i in range(rng.randrange(1, 4)):
        lower = rng.randrange(3, 7)
        blocks.append(Block(f"e{i}", lower, lower + rng.randrange(1, 3), rng.randrange(1, 4)))
    rng.shuffle(blocks)
    instance = build_instance(blocks)
    capacity = instance.load()
    while (verdict := Restarts(instance, capacity, seed).run(10**9, NO_DEADLINE)).offsets is None:
        capacity += 1
    assert capacity > instance.load()
    assert layout_problems(instance.placement(verdict.offsets), capacity * instance.unit) == []
    assert solve_at(instance, capacity - 1, time_limit=30).proven
    assert solve_at(instance, capacity, time_limit=30).offsets is not None


def test_luby_sequence() -> None:
    assert [luby(i) for i in range(1, 16)] == [1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8]


def test_restarts_decide_like_exhaustive_search_and_resume() -> None:
    for seed in range(4):
        blocks = random_blocks(random.Random(300 + seed), 8, unit=8)
        instance = build_instance(blocks)
        best = exhaustive_minimum(blocks) // instance.unit
        assert Restarts(instance, best).run(0, NO_DEADLINE) is None  # no budget: nothing searched
        fits = Restarts(instance, best, seed).run(10**9, NO_DEADLINE)
        assert fits is not None and fits.order.split("~")[0] in ORDERS
        assert layout_problems(instance.placement(fits.offsets), best * instance.unit) == []
        short = Restarts(instance, best - 1, seed)
        verdict = None
        while verdict is None:  # one node of budget at a time: every call runs one more search
            verdict = short.run(1, NO_DEADLINE)
        assert verdict.offsets is None


# ---- properties --------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks_strategy)
def test_every_placement_validates_and_is_no_worse_than_greedy(blocks: list[Block]) -> None:
    result = pack(blocks, minimize=True, timeout=10)
    assert [b.id for b in result.blocks] == [b.id for b in blocks]
    assert layout_problems(result.blocks, result.capacity) == []
    assert result.capacity == height(result.blocks)
    assert load(blocks) <= result.lower_bound <= result.capacity <= height(best_of_greedy(blocks))
    assert result.status == "optimal"  # ten small blocks are always settled


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks_strategy, st.integers(0, 120))
def test_fixed_capacity_answers_are_consistent(blocks: list[Block], capacity: int) -> None:
    result = pack(blocks, capacity=capacity, timeout=10)
    assert result.status in ("optimal", "infeasible")
    assert layout_problems(result.blocks) == []
    if result.status == "optimal":
        assert layout_problems(result.blocks, capacity) == []
    else:
        assert result.lower_bound > capacity


@settings(max_examples=30, deadline=None)
@given(blocks_strategy)
def test_quick_placement_is_valid_and_bounded(blocks: list[Block]) -> None:
    result = pack(blocks, timeout=5)
    assert result.status in ("optimal", "feasible")
    assert layout_problems(result.blocks) == []
    assert result.lower_bound <= result.capacity == height(result.blocks)


# ---- edge cases --------------------------------------------------------------------------------------------


def test_empty_input() -> None:
    result = pack([], capacity=0)
    assert result.blocks == [] and result.capacity == 0 and result.status == "optimal"


def test_zero_size_and_never_live_blocks_sit_at_zero_but_count() -> None:
    blocks = [Block("empty", 0, 5, 0), Block("idle", 3, 3, 700), Block("a", 0, 2, 100), Block("b", 1, 3, 100)]
    result = pack(blocks, minimize=True)
    assert result.capacity == 700 == result.lower_bound  # the never-live block still needs its bytes
    assert layout_problems(result.blocks, 700) == []
    assert pack(blocks, capacity=699).status == "infeasible"


def test_zero_length_lifetimes_follow_the_validator() -> None:
    # [1, 1) is live together with [0, 2) (lower < other.upper both ways) but not with [1, 3) nor with [1, 1)
    blocks = [Block("a", 0, 2, 4), Block("z", 1, 1, 4), Block("y", 1, 1, 2), Block("b", 1, 3, 4)]
    result = pack(blocks, minimize=True)
    assert layout_problems(result.blocks, result.capacity) == []
    assert result.capacity == 8 == result.lower_bound


def test_existing_offsets_are_ignored() -> None:
    blocks = [Block("a", 0, 2, 8, offset=1000), Block("b", 1, 3, 8, offset=5000)]
    result = pack(blocks, minimize=True)
    assert result.capacity == 16 and {b.offset for b in result.blocks} == {0, 8}


def test_below_load_is_infeasible_without_search() -> None:
    blocks = [Block("a", 0, 2, 8), Block("b", 1, 3, 8)]
    result = pack(blocks, capacity=15)
    assert result.status == "infeasible" and result.lower_bound == 16 and result.method == "LOAD bound"
    minimized = pack(blocks, capacity=15, minimize=True)
    assert minimized.status == "infeasible" and minimized.lower_bound == 16


def test_cpsat_model_places_and_proves() -> None:
    blocks = random_blocks(random.Random(7), 7)
    instance = build_instance(blocks)
    best = exhaustive_minimum(blocks) // instance.unit
    found = solve_at(instance, best, time_limit=10)
    assert found.offsets is not None and layout_problems(instance.placement(found.offsets), best * instance.unit) == []
    assert solve_at(instance, best - 1, time_limit=10).proven


def test_same_answer_every_time() -> None:
    blocks = random_blocks(random.Random(3), 60, unit=64)
    capacity = load(blocks)
    first, second = (pack(blocks, capacity=capacity, timeout=20, workers=1) for _ in range(2))
    assert first.status == second.status == "optimal" and first.blocks == second.blocks


@pytest.mark.skipif(SHARED_DSA is None, reason="shared MiniMalloc instances not found (set PEXCP_SHARED_DSA)")
def test_solves_a_shared_minimalloc_instance_at_one_mebibyte() -> None:
    blocks = read_csv(SHARED_DSA / "C.1048576.csv")
    result = pack(blocks, capacity=1048576, timeout=60)
    assert result.status == "optimal"
    assert layout_problems(result.blocks, 1048576) == []


@pytest.mark.skipif(SHARED_DSA is None, reason="shared MiniMalloc instances not found (set PEXCP_SHARED_DSA)")
def test_first_search_turn_fits_every_shared_minimalloc_instance() -> None:
    """All five fit 1 MiB (MiniMalloc fits them), and with each side ranked afresh the portfolio's first
    search turn finds each placement (E took 59k nodes, CP-SAT's turn first when preorders were ranked once)."""
    for name in "ABCDE":
        instance = build_instance(read_csv(SHARED_DSA / f"{name}.1048576.csv"))
        capacity = 1048576 // instance.unit
        verdict = Restarts(instance, capacity).run(SEARCH_NODES_PER_BUFFER * instance.n, NO_DEADLINE)
        assert verdict is not None and verdict.offsets is not None, name
        assert layout_problems(instance.placement(verdict.offsets), 1048576) == []


@pytest.mark.slow
@pytest.mark.skipif(SHARED_DSA is None, reason="shared MiniMalloc instances not found (set PEXCP_SHARED_DSA)")
@pytest.mark.parametrize("name", ["A", "B", "D", "E"])
def test_solves_every_shared_minimalloc_instance(name: str) -> None:
    blocks = read_csv(SHARED_DSA / f"{name}.1048576.csv")
    result = pack(blocks, capacity=1048576, timeout=60)
    assert result.status == "optimal" and layout_problems(result.blocks, 1048576) == []


# ---- the command -------------------------------------------------------------------------------------------


def pexcp(*args: str | Path) -> subprocess.CompletedProcess:
    """`pexcp ARGS` run in this process, as the console script runs it (test_cli.py runs the installed
    entry point itself): a new interpreter per call cost 2-10 s of imports."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, COLUMNS="200"), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli([str(a) for a in args])
    return subprocess.CompletedProcess(["pexcp", *map(str, args)], code, out.getvalue(), err.getvalue())


def assert_one_line_error(run: subprocess.CompletedProcess, code: int) -> str:
    assert run.returncode == code, (run.stdout, run.stderr)
    lines = [line for line in run.stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in run.stderr + run.stdout, run.stderr
    return lines[0]


@pytest.fixture
def instance_csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    write_csv(random_blocks(random.Random(5), 8, unit=1024), path)
    return path


def test_cli_packs_validates_and_writes(instance_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "offsets.csv"
    run = pexcp("pack", instance_csv, "--capacity", "1M", "-o", out)
    assert run.returncode == 0, run.stderr
    for label in ("buffers", "LOAD", "capacity requested", "capacity used", "status", "proven lower bound", "time"):
        assert label in run.stdout
    placed = read_csv(out)
    assert len(placed) == 8 and layout_problems(placed, 1024**2) == []


def test_cli_minimize_to_stdout(instance_csv: Path) -> None:
    run = pexcp("pack", instance_csv, "--minimize", "-o", "-")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("id,lower,upper,size,offset") and "optimal" in run.stderr
    rows = run.stdout.strip().splitlines()[1:]
    blocks = [Block(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in (line.split(",") for line in rows)]
    assert layout_problems(blocks, height(blocks)) == [] and height(blocks) == exhaustive_minimum(blocks)


def test_cli_unwritable_output_is_bad_input(instance_csv: Path, tmp_path: Path) -> None:
    assert_one_line_error(pexcp("pack", instance_csv, "-o", tmp_path / "missing" / "out.csv"), 2)


def test_cli_infeasible_capacity_exits_1_with_the_bound(instance_csv: Path) -> None:
    bound = load(read_csv(instance_csv))
    message = assert_one_line_error(pexcp("pack", instance_csv, "--capacity", str(bound - 1)), 1)
    assert f"{bound:,} B" in message


@pytest.mark.parametrize(
    "content, args",
    [
        (None, []),
        ("id,lower,upper,size\na,0,x,3\n", []),
        ("id,lower,upper\na,0,1\n", []),
        ("id,lower,upper,size\na,0,1,-3\n", []),
        ("id,lower,upper,size\na,0,1,3\na,1,2,3\n", []),
        ("id,lower,upper,size\na,0,1,3\n", ["--capacity", "12q"]),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(content: str | None, args: list[str], tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content)
    assert_one_line_error(pexcp("pack", path, *args), 2)


def test_cli_folder_as_input_is_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(pexcp("pack", tmp_path), 2)


def test_cli_without_the_compiled_search_says_how_to_build_it(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A checkout used without `pip install -e .` has no compiled search: one line saying so, exit 4."""
    path = tmp_path / "gadget.csv"  # greedy misses its minimum, so packing it needs the search
    write_csv(edge_forcing(7, 2), path)
    monkeypatch.setattr(importlib.machinery, "EXTENSION_SUFFIXES", [".not-built"])
    canonical._library.cache_clear()
    try:
        run = cli("pack", path, "--minimize")
    finally:
        canonical._library.cache_clear()
    assert run.code == EXIT_SETUP, (run.out, run.err)
    lines = [line for line in run.err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "pip install -e ." in lines[0] and "Traceback" not in run.err + run.out
    monkeypatch.undo()
    assert pexcp("pack", path, "--minimize").returncode == 0  # and with the build, the same command works
