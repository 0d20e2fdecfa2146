"""Byte sizes as users write them: 200k, 1.5M, 64KiB, 4096."""

from __future__ import annotations

import re

from pexcp.errors import BadInputError

# The largest tensor, arena, budget or packing capacity pexcp accepts: 2 GiB. Cortex-M SRAM is at most a few
# MiB and the whole 32-bit address space 4 GiB; the generated C indexes its arena with 32-bit offsets.
MAX_BYTES = 2**31

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(text: str) -> int:
    """Parse a size: plain numbers are bytes; k/K/KB/KiB = 1024 and M/MB/MiB = 1024**2."""
    match = _PATTERN.match(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise BadInputError(f"cannot read size {text!r}: use bytes (4096) or a suffix k/KiB (x1024) or M/MiB (x1024^2)")
    value = float(match.group(1)) * _UNITS[unit]
    if value > MAX_BYTES:  # before int(): a long digit string is inf as a float
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise BadInputError(f"size {shown!r} is more than {MAX_BYTES:,} B (2 GiB), more than any microcontroller holds")
    if value != int(value):
        raise BadInputError(f"size {text!r} is not a whole number of bytes")
    return int(value)


def format_bytes(n: int) -> str:
    """Exact bytes with thousands separators, plus KiB for readability."""
    return f"{n:,} B ({n / 1024:.1f} KiB)" if n >= 1024 else f"{n:,} B"


WORD = 4  # bytes every buffer block is rounded up to, so float and int32 buffers stay word-aligned


def align_up(n: int, unit: int = WORD) -> int:
    return -(-n // unit) * unit
