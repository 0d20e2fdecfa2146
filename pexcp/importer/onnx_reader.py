"""Read an ONNX file into a checked, constant-folded, fully shape-inferred ModelProto.

Everything that can be wrong with the file is refused here with one clear line (BadInputError).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, helper, shape_inference

from pexcp.errors import BadInputError
from pexcp.importer.fold import fold_constants
from pexcp.importer.weights import check_constants
from pexcp.units import MAX_BYTES

_SHAPE_SPEC = re.compile(r"^(.+)=(\d+(?:[x,]\d+)*)$")
# Opsets pexcp reads: from 11, where Pad, Clip and friends take their parameters as inputs (the form the
# importer and kernels read), to the newest the installed onnx package can check and infer shapes for.
MIN_OPSET = 9  # the oldest whose operator forms pexcp reads: attribute Slice, Pad and Clip, Upsample, Resize-10
MAX_OPSET = onnx.defs.onnx_opset_version()
MAX_FILE_BYTES = 2**31  # protobuf's limit: larger weights must be stored as external data


def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    """Parse `--input-shape name=1x96x96x3` options (also accepts commas between dims)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs or []:
        m = _SHAPE_SPEC.match(spec.strip())
        if not m:
            raise BadInputError(f"cannot read --input-shape {spec!r}: expected name=1x96x96x3")
        dims = tuple(int(d) for d in re.split("[x,]", m.group(2)))
        if any(d < 1 for d in dims) or np.prod(dims, dtype=object) > MAX_BYTES:
            raise BadInputError(
                f"--input-shape {spec.strip()!r}: every dimension must be at least 1 and the tensor at most "
                f"{MAX_BYTES:,} elements (2 GiB), more than any microcontroller holds"
            )
        shapes[m.group(1)] = dims
    return shapes


def read_model(path: Path, input_shapes: dict[str, tuple[int, ...]]) -> tuple[onnx.ModelProto, str]:
    """Load, check, fix input shapes, fold constants and infer shapes. Returns the model and its sha256."""
    if not path.exists():
        raise BadInputError(f"no such file: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a directory, not an ONNX file")
    if not path.is_file():
        raise BadInputError(f"{path} is not a regular file (a device or a pipe), not an ONNX file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadInputError(f"{path} is larger than 2 GiB, more than an ONNX file can be (store weights as external data)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInputError(f"cannot read {path}: {e.strerror}") from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise BadInputError(f"{path} is not a readable ONNX model ({type(e).__name__})") from None
    if not model.graph.node:
        raise BadInputError(f"{path} is not an ONNX model with a graph (no nodes found)")
    _load_external_data(model, path)
    _check_opset(model, path)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, Exception) as e:  # the checker raises several types
        raise BadInputError(f"{path} is not a valid ONNX model: {_first_line(e)}") from None
    _name_nodes(model)
    _fix_input_shapes(model, input_shapes, path)
    model = fold_constants(model)
    try:
        model = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # InferenceError and checker errors
        raise BadInputError(f"shape inference failed for {path.name}: {_first_line(e)}") from None
    _require_static_shapes(model, path)
    check_constants(model, path.name)
    return model, hashlib.sha256(data).hexdigest()


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Weights stored outside the .onnx file are read from the model's folder, not the current one (onnx
    refuses locations outside that folder and data past the end of a file)."""
    try:
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (OSError, ValueError, onnx.checker.ValidationError) as e:
        raise BadInputError(
            f"cannot read the external data of {path.name} (looked up next to it, in {path.parent}): {_first_line(e)}"
        ) from None


def _check_opset(model: onnx.ModelProto, path: Path) -> None:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not MIN_OPSET <= opset <= MAX_OPSET:
        raise BadInputError(
            f"{path.name} uses ONNX opset {opset if opset is not None else '(none)'}; pexcp reads opsets {MIN_OPSET} "
            f"to {MAX_OPSET} (convert it with onnx.version_converter)"
        )


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _name_nodes(model: onnx.ModelProto) -> None:
    """Give nameless nodes the stable name `<op_type>_<index in file>` and make duplicates unique,
    so plans can name every node."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        while name in seen:
            name = f"{name}_{i}"
        node.name = name
        seen.add(name)


def subgraph_inputs(node: onnx.NodeProto) -> list[str]:
    """Values of the enclosing graph that the node's subgraphs (If branches, Loop and Scan bodies) read: the
    node reads them as surely as its inputs, so they must stay live until it runs."""
    found: list[str] = []
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            defined = {i.name for i in g.input} | {i.name for i in g.initializer}
            defined |= {o for n in g.node for o in n.output}
            for n in g.node:
                found += [t for t in list(n.input) + subgraph_inputs(n) if t and t not in defined]
    return list(dict.fromkeys(found))


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def _fix_input_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    inputs = {i.name: i for i in graph_inputs(model)}
    unknown = set(shapes) - set(inputs)
    if unknown:
        raise BadInputError(f"--input-shape names {sorted(unknown)}, but the model's inputs are {sorted(inputs)}")
    for name, vi in inputs.items():
        if name in shapes:
            dims = vi.type.tensor_type.shape.dim
            del dims[:]
            for d in shapes[name]:
                dims.add().dim_value = d
            # stale intermediate shapes would contradict the new input shape: infer them afresh
            del model.graph.value_info[:]
            for out in model.graph.output:
                out.type.tensor_type.ClearField("shape")
            continue
        if not vi.type.tensor_type.HasField("shape"):
            raise BadInputError(
                f"input {name!r} of {path.name} has no shape; give one with --input-shape {name}=1x3x96x96"
            )
        dims = _dims(vi)
        symbolic = [d for d in dims if not isinstance(d, int) or d <= 0]
        if symbolic:
            shown = "x".join(str(d) for d in dims)
            # batch 1 is what an MCU runs; other unknown dims stay named for the user to fill in
            example = "x".join(
                str(d) if isinstance(d, int) and d > 0 else ("1" if i == 0 else str(d)) for i, d in enumerate(dims)
            )
            unknown = [str(d) for i, d in enumerate(dims) if i > 0 and d in symbolic]
            fill = f" with numbers for {', '.join(unknown)}" if unknown else ""
            raise BadInputError(
                f"input {name!r} has dynamic shape {shown}; fix it with --input-shape {name}={example}{fill}"
            )


def _require_static_shapes(model: onnx.ModelProto, path: Path) -> None:
    known = {vi.name: vi for vi in list(model.graph.value_info) + list(model.graph.output) + graph_inputs(model)}
    constants = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        for out in node.output:
            if not out or out in constants:
                continue
            vi = known.get(out)
            if vi is None or not vi.type.tensor_type.HasField("shape"):
                raise BadInputError(
                    f"cannot infer the shape of {out!r} (output of {node.op_type} node {node.name!r}) in {path.name}"
                )
            dims = _dims(vi)
            if all(isinstance(d, int) for d in dims) and 0 in dims:
                raise BadInputError(
                    f"tensor {out!r} (output of {node.op_type} node {node.name!r}) is empty (shape "
                    f"{'x'.join(map(str, dims))}); pexcp plans models whose tensors all hold data"
                )
            if any(not isinstance(d, int) or d <= 0 for d in dims):
                raise BadInputError(
                    f"tensor {out!r} (output of {node.op_type} node {node.name!r}) has dynamic shape "
                    f"{'x'.join(map(str, dims))}; fix the model inputs with --input-shape"
                )
            _check_size(vi, f"tensor {out!r} (output of {node.op_type} node {node.name!r})")
    for vi in graph_inputs(model):
        _check_size(vi, f"input {vi.name!r}")


def _check_size(vi: onnx.ValueInfoProto, what: str) -> None:
    """Refuse a tensor no microcontroller could hold (MAX_BYTES), before any size is computed in int64."""
    itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)).itemsize
    size = int(np.prod([d for d in _dims(vi) if isinstance(d, int)], dtype=object)) * itemsize
    if size > MAX_BYTES:
        raise BadInputError(
            f"{what} needs {size:,} B, more than {MAX_BYTES:,} B (2 GiB): no microcontroller can hold it"
        )
