"""Plan mutations for the validator fuzzer (tests/test_plan_fuzz.py): each takes a valid plan and a seeded
random generator and returns a changed copy, or None when the plan offers nothing to change that way."""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from typing import Callable

from pexcp.plan.plan import Buffer, Plan, Slice

Mutation = Callable[[Plan, random.Random], "Plan | None"]


def _fit_arena(plan: Plan) -> Plan:
    """Grow the arena to the buffers' extent, so a mutant is not rejected merely for sticking out."""
    plan.arena_bytes = max([plan.arena_bytes] + [b.offset + b.bytes for b in plan.buffers])
    return plan


def _pick(rnd: random.Random, items: list):
    return rnd.choice(items) if items else None


def _family(plan: Plan, root: Buffer) -> list[Buffer]:
    members, grew = [root], True
    while grew:
        ids = {b.id for b in members}
        more = [b for b in plan.buffers if b.alias_of in ids and b.id not in ids]
        members += more
        grew = bool(more)
    return members


def move_offset(plan: Plan, rnd: random.Random) -> Plan | None:
    """One buffer (alone) to another word-aligned offset inside the arena or just past it."""
    b = rnd.choice(plan.buffers)
    b.offset = 4 * rnd.randrange(0, (plan.arena_bytes + b.bytes) // 4 + 1)
    return _fit_arena(plan)


def move_family(plan: Plan, rnd: random.Random) -> Plan | None:
    """A buffer with all its aliases, to another offset (often a legal relayout)."""
    root = _pick(rnd, [b for b in plan.buffers if b.alias_of is None])
    new = 4 * rnd.randrange(0, (plan.arena_bytes + root.bytes) // 4 + 1)
    for b in _family(plan, root):
        b.offset += new - root.offset if b is not root else 0
    root.offset = new
    return _fit_arena(plan)


def swap_offsets(plan: Plan, rnd: random.Random) -> Plan | None:
    """Two buffers trade offsets (a relayout that is often legal when their sizes match)."""
    same = [(a, b) for a in plan.buffers for b in plan.buffers if a.id < b.id and a.bytes == b.bytes]
    a, b = rnd.choice(same) if same and rnd.random() < 0.7 else rnd.sample(plan.buffers, 2)
    a.offset, b.offset = b.offset, a.offset
    return _fit_arena(plan)


def move_past_the_end(plan: Plan, rnd: random.Random) -> Plan | None:
    """A buffer to fresh bytes after everything else; an alias stops being one."""
    b = rnd.choice(plan.buffers)
    b.offset, b.alias_of, b.alias_offset = plan.arena_bytes, None, 0
    return _fit_arena(plan)


def shorten(plan: Plan, rnd: random.Random) -> Plan | None:
    b = _pick(rnd, [b for b in plan.buffers if b.last_step > b.first_step])
    if b is None:
        return None
    k = rnd.randint(1, b.last_step - b.first_step)
    if rnd.random() < 0.5:
        b.last_step -= k
    else:
        b.first_step += k
    return plan


def lengthen(plan: Plan, rnd: random.Random) -> Plan | None:
    b = rnd.choice(plan.buffers)
    if rnd.random() < 0.5 and b.first_step > 0:
        b.first_step -= rnd.randint(1, b.first_step)
    elif b.last_step < len(plan.steps) - 1:
        b.last_step += rnd.randint(1, len(plan.steps) - 1 - b.last_step)
    else:
        return None
    return plan


def _reorder(plan: Plan, order: list[int], remap_buffers: bool) -> Plan:
    """Steps in `order` (old indices); buffers' lifetimes follow their steps when `remap_buffers`."""
    where = {old: new for new, old in enumerate(order)}
    plan.steps = [replace(plan.steps[old], index=new) for new, old in enumerate(order)]
    if remap_buffers:
        for b in plan.buffers:
            moved = [where[s] for s in range(b.first_step, b.last_step + 1) if s in where]
            if moved:
                b.first_step, b.last_step = min(moved), max(moved)
    return plan


def swap_steps(plan: Plan, rnd: random.Random) -> Plan | None:
    """Two steps (adjacent or not) trade places; lifetimes follow the steps half of the time."""
    n = len(plan.steps)
    if n < 2:
        return None
    i = rnd.randrange(n - 1)
    j = i + 1 if rnd.random() < 0.7 else rnd.randrange(n)
    order = list(range(n))
    order[i], order[j] = order[j], order[i]
    return _reorder(plan, order, rnd.random() < 0.5)


def drop_step(plan: Plan, rnd: random.Random) -> Plan | None:
    """A step disappears (a slice of a split op, preferably); later steps and lifetimes shift down."""
    sliced = [s.index for s in plan.steps if s.slice is not None]
    i = _pick(rnd, sliced) if sliced and rnd.random() < 0.8 else rnd.randrange(len(plan.steps))
    if len(plan.steps) < 2:
        return None
    plan.steps = [replace(s, index=k) for k, s in enumerate(s for s in plan.steps if s.index != i)]
    last = len(plan.steps) - 1
    for b in plan.buffers:
        b.first_step = min(b.first_step - (b.first_step > i), last)
        b.last_step = min(max(b.last_step - (b.last_step >= i), b.first_step), last)
    return plan


def duplicate_step(plan: Plan, rnd: random.Random) -> Plan | None:
    """A step runs twice in a row; later steps and lifetimes shift up."""
    i = rnd.randrange(len(plan.steps))
    dup = copy.deepcopy(plan.steps[i])
    plan.steps = [replace(s, index=k) for k, s in enumerate(plan.steps[: i + 1] + [dup] + plan.steps[i + 1 :])]
    for b in plan.buffers:
        b.first_step += b.first_step > i
        b.last_step += b.last_step >= i
    return plan


def make_alias(plan: Plan, rnd: random.Random) -> Plan | None:
    """A buffer is declared an alias of another one, at its offset (or a random word inside it)."""
    a, b = rnd.sample(plan.buffers, 2)
    a.alias_of = b.id
    a.alias_offset = 0 if rnd.random() < 0.7 else 4 * rnd.randrange(max(1, (b.bytes - a.bytes) // 4 + 1))
    a.offset = b.offset + a.alias_offset
    return _fit_arena(plan)


def shift_alias(plan: Plan, rnd: random.Random) -> Plan | None:
    """An alias moves inside its base (alias_offset and offset together), or only its alias_offset changes."""
    a = _pick(rnd, [b for b in plan.buffers if b.alias_of is not None])
    if a is None:
        return None
    delta = 4 * rnd.choice([-2, -1, 1, 2])
    a.alias_offset = max(0, a.alias_offset + delta)
    if rnd.random() < 0.7:
        base = next(b for b in plan.buffers if b.id == a.alias_of)
        a.offset = base.offset + a.alias_offset
    return _fit_arena(plan)


def flip_accumulate(plan: Plan, rnd: random.Random) -> Plan | None:
    sliced = [s for s in plan.steps if s.slice is not None]
    s = _pick(rnd, sliced) or rnd.choice(plan.steps)
    s.accumulate = not s.accumulate
    if s.slice is None:
        s.slice = Slice(0, 1)
    return plan


def move_slice_edge(plan: Plan, rnd: random.Random) -> Plan | None:
    """The border between two slices of one op moves by a channel or row (in the steps, the buffers, or
    both)."""
    sliced = [s for s in plan.steps if s.slice is not None and s.slice.start > 0]
    s = _pick(rnd, sliced)
    if s is None:
        return None
    d = rnd.choice([-1, 1])
    edge = s.slice.start
    if rnd.random() < 0.7:
        for t in plan.steps:
            if t.op == s.op and t.slice is not None:
                t.slice = Slice(t.slice.start + d * (t.slice.start == edge), t.slice.stop + d * (t.slice.stop == edge),
                                t.slice.axis)
    if rnd.random() < 0.5:
        for b in plan.buffers:
            if b.slice is not None and edge in (b.slice.start, b.slice.stop):
                new = Slice(b.slice.start + d * (b.slice.start == edge), b.slice.stop + d * (b.slice.stop == edge))
                if new.start < new.stop:
                    b.bytes = b.bytes // (b.slice.stop - b.slice.start) * (new.stop - new.start)
                    b.slice = new
    return _fit_arena(plan)


def drop_buffer_slice(plan: Plan, rnd: random.Random) -> Plan | None:
    """A buffer holding a slice disappears, or one holding a whole value gets a slice of it."""
    sliced = [b for b in plan.buffers if b.slice is not None]
    if sliced and rnd.random() < 0.5:
        victim = rnd.choice(sliced)
        plan.buffers = [b for b in plan.buffers if b is not victim]
        return plan
    b = rnd.choice(plan.buffers)
    b.slice = Slice(0, 1)
    return plan


def flip_in_place(plan: Plan, rnd: random.Random) -> Plan | None:
    """A step's `in_place` flag flips (an in-place depthwise conv run as a plain call over its aliased
    input, or a plain step claimed in place)."""
    s = _pick(rnd, [s for s in plan.steps if s.in_place]) if rnd.random() < 0.7 else None
    s = s or rnd.choice(plan.steps)
    s.in_place = not s.in_place
    return plan


def resize_window(plan: Plan, rnd: random.Random) -> Plan | None:
    """A window of rows holds one row more or fewer (its bytes with it, or not), or a whole buffer becomes a
    window."""
    windows = [b for b in plan.buffers if b.window]
    b = _pick(rnd, windows) if rnd.random() < 0.8 else rnd.choice(plan.buffers)
    if b is None:
        return None
    rows = max(1, b.window + rnd.choice([-1, 1]))
    if b.window and rnd.random() < 0.7:
        b.bytes = b.bytes // b.window * rows
    b.window = rows
    return _fit_arena(plan)


MUTATIONS: list[Mutation] = [
    move_offset, move_family, swap_offsets, move_past_the_end, shorten, lengthen, swap_steps, drop_step,
    duplicate_step, make_alias, shift_alias, flip_accumulate, move_slice_edge, drop_buffer_slice, flip_in_place,
    resize_window,
]


def mutate(plan: Plan, rnd: random.Random, changes: int = 1) -> tuple[Plan, list[str]] | None:
    """A copy of `plan` with `changes` random mutations applied, and their names (None: nothing changed)."""
    mutant, names = copy.deepcopy(plan), []
    for _ in range(changes):
        mutation = rnd.choice(MUTATIONS)
        changed = mutation(mutant, rnd)
        if changed is not None:
            mutant, names = changed, names + [mutation.__name__]
    if not names or (mutant.steps == plan.steps and mutant.buffers == plan.buffers):
        return None
    return mutant, names
