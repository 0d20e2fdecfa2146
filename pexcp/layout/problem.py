"""The static memory-allocation problem shared by plans and `pexcp pack`.

A block is live on the half-open time interval [lower, upper) and needs `size` bytes at some offset.
Plans convert their inclusive step ranges to this form, so one checker serves both.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence, TextIO

from pexcp.errors import BadInputError
from pexcp.units import MAX_BYTES


@dataclass(frozen=True)
class Block:
    id: str
    lower: int
    upper: int
    size: int
    offset: int | None = None

    def placed(self, offset: int) -> "Block":
        return replace(self, offset=offset)


def live_together(a: Block, b: Block) -> bool:
    return a.lower < b.upper and b.lower < a.upper


def addresses_overlap(a: Block, b: Block) -> bool:
    assert a.offset is not None and b.offset is not None
    return a.offset < b.offset + b.size and b.offset < a.offset + a.size


def load(blocks: Iterable[Block]) -> int:
    """Max over time of the summed sizes of live blocks: a lower bound on any capacity."""
    events: list[tuple[int, int]] = []
    for b in blocks:
        if b.size > 0 and b.lower < b.upper:
            events.append((b.lower, b.size))
            events.append((b.upper, -b.size))
    events.sort()  # at equal times the negative (ending) deltas sort first: [lower, upper) is half-open
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def height(blocks: Iterable[Block]) -> int:
    """Capacity a placement uses: max(offset + size), 0 when empty."""
    return max((b.offset + b.size for b in blocks if b.offset is not None), default=0)


def layout_problems(blocks: Sequence[Block], capacity: int | None = None) -> list[str]:
    """Every way the placement is wrong: unplaced, negative, over capacity, or overlapping a live block."""
    problems: list[str] = []
    for b in blocks:
        if b.offset is None:
            problems.append(f"block {b.id} has no offset")
        elif b.offset < 0:
            problems.append(f"block {b.id} has negative offset {b.offset}")
        elif capacity is not None and b.offset + b.size > capacity:
            problems.append(f"block {b.id} ends at {b.offset + b.size} > capacity {capacity}")
    placed = sorted((b for b in blocks if b.offset is not None and b.size > 0), key=lambda b: b.lower)
    # sweep in time order: only blocks that start before this one ends can collide with it
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            if b.lower >= a.upper:
                break
            if live_together(a, b) and addresses_overlap(a, b):
                problems.append(
                    f"blocks {a.id} [{a.offset}, {a.offset + a.size}) and {b.id} [{b.offset}, {b.offset + b.size}) "
                    f"overlap while both live at time {max(a.lower, b.lower)}"
                )
    return problems


COLUMNS = ("id", "lower", "upper", "size")
MAX_TIME = 2**31  # lifetimes are event indices; larger ones are no schedule's


def read_csv(path: Path) -> list[Block]:
    """Read `id,lower,upper,size[,offset]` (the MiniMalloc format), refusing malformed rows clearly. Header
    names are matched without regard to case or surrounding spaces, and a UTF-8 byte-order mark is skipped
    (spreadsheets write both). Sizes are at most MAX_BYTES and times within [0, MAX_TIME]."""
    if path.exists() and not path.is_file():
        raise BadInputError(f"{path} is not a regular file (a folder, a device or a pipe), not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except FileNotFoundError:
        raise BadInputError(f"no such file: {path}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise BadInputError(f"{path} is not a readable CSV file ({e})") from None
    if header is None:
        raise BadInputError(f"{path} is empty: expected a header id,lower,upper,size and one row per buffer")
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise BadInputError(
            f"{path}: the header {','.join(header)!r} lacks column(s) {', '.join(missing)}; expected id,lower,upper,size"
        )
    if not any(rows):
        raise BadInputError(f"{path} has a header but no buffers")
    at = {name: names.index(name) for name in (*COLUMNS, "offset") if name in names}
    blocks = []
    for line, row in enumerate(rows, start=2):
        if not row:  # a blank line
            continue
        if len(row) != len(header):
            raise BadInputError(f"{path}:{line}: {len(row)} fields where the header has {len(header)}")
        try:
            offset = row[at["offset"]].strip() if "offset" in at else ""
            block = Block(
                id=row[at["id"]].strip(),
                lower=int(row[at["lower"]]),
                upper=int(row[at["upper"]]),
                size=int(row[at["size"]]),
                offset=int(offset) if offset else None,
            )
        except ValueError:
            raise BadInputError(f"{path}:{line}: expected integer columns id,lower,upper,size") from None
        if not (0 <= block.size <= MAX_BYTES and 0 <= block.lower <= block.upper <= MAX_TIME):
            raise BadInputError(
                f"{path}:{line}: need 0 <= size <= {MAX_BYTES:,} (2 GiB) and 0 <= lower <= upper <= {MAX_TIME:,}"
            )
        blocks.append(block)
    if len({b.id for b in blocks}) != len(blocks):
        raise BadInputError(f"{path}: buffer ids are not unique")
    return blocks


def write_csv(blocks: Sequence[Block], path: Path) -> None:
    with open(path, "w", newline="") as f:
        write_rows(blocks, f)


def write_rows(blocks: Sequence[Block], stream: TextIO) -> None:
    """`id,lower,upper,size,offset` rows to an open text stream (a file, or stdout for `-o -`)."""
    w = csv.writer(stream)
    w.writerow(["id", "lower", "upper", "size", "offset"])
    for b in blocks:
        w.writerow([b.id, b.lower, b.upper, b.size, b.offset])
