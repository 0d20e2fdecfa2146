"""Generated packing instances: what they promise (a known placement, LOAD == capacity when tight), and the
engine fitting them."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pexcp.layout.canonical import ORDERS, jitter, search
from pexcp.layout.generate import KINDS, generate, standard_set, write_instance
from pexcp.layout.instance import build_instance
from pexcp.layout.pack import pack
from pexcp.layout.problem import layout_problems, read_csv

from conftest import SHARED_DSA


def peak_load(blocks) -> int:
    """LOAD by brute force over every start time (independent of pexcp.layout.problem.load)."""
    return max(sum(b.size for b in blocks if b.lower <= t < b.upper) for t in {b.lower for b in blocks})


@settings(max_examples=40)
@given(seed=st.integers(0, 10**6), buffers=st.integers(1, 120), kind=st.sampled_from(KINDS))
def test_known_placement_is_valid_and_tight_means_load_is_capacity(seed: int, buffers: int, kind: str) -> None:
    g = generate(seed, buffers, kind)
    assert len(g.blocks) == buffers
    assert [b.offset for b in g.blocks] == [None] * buffers
    assert [(b.id, b.lower, b.upper, b.size) for b in g.blocks] == [
        (b.id, b.lower, b.upper, b.size) for b in g.placement
    ]
    assert layout_problems(g.placement, g.capacity) == []
    assert all(b.size > 0 and b.size % 1024 == 0 and b.lower < b.upper and b.lower % 1024 == 0 for b in g.blocks)
    if kind == "tight":
        assert peak_load(g.blocks) == g.capacity
    else:
        assert peak_load(g.blocks) <= g.capacity


def test_deterministic_per_seed() -> None:
    assert generate(3, 150).blocks == generate(3, 150).blocks
    assert generate(3, 150).blocks != generate(4, 150).blocks
    names = [name for name, _ in standard_set(4, 7)]
    assert names == ["g07-tight-160", "g08-tight-200", "g09-slack-240", "g10-slack-280"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate(0, 10, "loose")
    with pytest.raises(ValueError):
        generate(0, 0)


def test_written_instance_reads_back_with_unix_line_ends(tmp_path: Path) -> None:
    g = generate(1, 30)
    path = tmp_path / "g.csv"
    write_instance(g.blocks, path)
    assert b"\r" not in path.read_bytes()  # MiniMalloc splits lines on "\n" only
    assert read_csv(path) == g.blocks


@pytest.mark.skipif(SHARED_DSA is None, reason="shared MiniMalloc instances not found (set PEXCP_SHARED_DSA)")
def test_distributions_resemble_a_to_e() -> None:
    """Medians of size and lifetime within a factor of two of A-E's pooled ones, and big buffers short-lived."""
    def medians(blocks_list):
        blocks = [b for blocks in blocks_list for b in blocks]
        return statistics.median(b.size for b in blocks), statistics.median(b.upper - b.lower for b in blocks)

    reference = medians([read_csv(SHARED_DSA / f"{name}.1048576.csv") for name in "ABCDE"])
    generated = [g.blocks for _, g in standard_set(16)]
    for ours, theirs in zip(medians(generated), reference):
        assert theirs / 2 <= ours <= theirs * 2
    blocks = [b for bs in generated for b in bs]
    sizes = np.array([b.size for b in blocks])
    lifetimes = np.array([b.upper - b.lower for b in blocks])
    big = sizes > np.median(sizes)
    assert np.median(lifetimes[big]) < np.median(lifetimes[~big]) / 2


@settings(max_examples=12)
@given(seed=st.integers(0, 10**6), buffers=st.integers(10, 60), order=st.sampled_from(ORDERS), noisy=st.booleans())
def test_search_fits_generated_instances_at_their_capacity(seed: int, buffers: int, order: str, noisy: bool) -> None:
    """Every tight instance fits its capacity (its known placement does), so a complete search must say so:
    a proof of infeasibility would be wrong. Exercises decomposition, per-side preorders and hatless pruning
    on instances with many time cuts."""
    g = generate(seed, buffers)
    instance = build_instance(g.blocks)
    capacity = g.capacity // instance.unit
    noise = jitter(instance.n, np.random.default_rng(seed), 0.3) if noisy else None
    run = search(instance, capacity, order, 200_000, float("inf"), noise)
    assert run.status != 0
    if run.status == 1:
        assert layout_problems(instance.placement(run.offsets), g.capacity) == []


def test_pack_fits_a_generated_set_like_minimalloc_does() -> None:
    """The three instances of the benchmark set that MiniMalloc fits within 10 s (in under 0.1 s; docs/pack.md)."""
    instances = standard_set(16)
    for name, g in [instances[k] for k in (0, 2, 8)]:
        result = pack(g.blocks, capacity=g.capacity, timeout=20, workers=1)
        assert result.status == "optimal", name
        assert layout_problems(result.blocks, g.capacity) == []
