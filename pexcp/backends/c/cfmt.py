"""C99 text: float literals that round-trip float32 exactly, constant arrays, safe comments."""

from __future__ import annotations

import math
import re

import numpy as np

VALUES_PER_LINE = 8


def c_float(x: float) -> str:
    """A C float literal equal to float32(x): 9 significant digits round-trip every float32."""
    x = float(np.float32(x))
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    return _suffix(f"{x:.9g}")


def _suffix(text: str) -> str:
    return (text if any(ch in text for ch in ".e") else text + ".") + "f"


def c_float_array(name: str, values: np.ndarray, comment: str = "") -> str:
    """`static const float name[n] = {...};`: constants stay in flash (.rodata)."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    if not np.isfinite(flat).all():
        text = [c_float(v) for v in flat]
    else:
        text = [_suffix(t) for t in np.char.mod("%.9g", flat.astype(np.float64)).tolist()]
    lines = [", ".join(text[i : i + VALUES_PER_LINE]) for i in range(0, len(text), VALUES_PER_LINE)]
    head = f"/* {c_comment(comment)} */\n" if comment else ""
    body = ",\n    ".join(lines)
    return f"{head}static const float {name}[{len(flat)}] = {{\n    {body}\n}};\n"


def c_int_array(name: str, values: np.ndarray, ctype: str, comment: str = "") -> str:
    """`static const <ctype> name[n] = {...};` for integer constants (int8 weights, int32 biases and
    requantization parameters): they stay in flash."""
    flat = np.ascontiguousarray(values).ravel().astype(np.int64)
    text = [str(v) if v != -(2**31) else "INT32_MIN" for v in flat.tolist()]
    per_line = 16
    lines = [", ".join(text[i : i + per_line]) for i in range(0, len(text), per_line)]
    head = f"/* {c_comment(comment)} */\n" if comment else ""
    body = ",\n    ".join(lines)
    return f"{head}static const {ctype} {name}[{len(flat)}] = {{\n    {body}\n}};\n"


def c_value(value: object) -> str:
    """An initializer for an int, float, C name (str), list of them (arrays) or dict (nested structs)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(c_value(v) for v in value) + "}"
    if isinstance(value, dict):  # a nested struct
        return "{" + ", ".join(f".{k} = {c_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (float, np.floating)):
        return c_float(float(value))
    return str(int(value))  # type: ignore[arg-type]


def c_struct(ctype: str, name: str, fields: dict[str, object]) -> str:
    inits = ", ".join(f".{k} = {c_value(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{{inits}}};\n"


def c_comment(text: str, limit: int = 100) -> str:
    """Text that cannot end a comment or form a trigraph, cut to `limit` characters."""
    text = re.sub(r"[^\x20-\x7e]", "?", text).replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
    return text if len(text) <= limit else text[: limit // 2 - 1] + "..." + text[-(limit // 2 - 2) :]


def c_string(text: str) -> str:
    """A C string literal of printable ASCII."""
    safe = re.sub(r"[^\x20-\x7e]", "?", text).replace("\\", "\\\\").replace('"', '\\"').replace("??", "?\\?")
    return f'"{safe}"'
