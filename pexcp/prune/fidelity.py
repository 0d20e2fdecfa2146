"""How close a pruned model's outputs stay to the original's, measured with onnxruntime.

Inputs: the sample photographs that ship inside the scikit-image wheel (read from its package directory,
never downloaded), centre-cropped to the input's aspect and resized, half of them with people (astronaut,
camera man, two faces of the bundled LFW subset) and half without (coffee, Chelsea the cat, rocket,
motorcycle); and random inputs, uniform over the input's range. Pixels map linearly onto the input range:
the whole integer range of an int8/uint8 input, the range a float input's QuantizeLinear can represent, or
else `input_range` (default 0..1). For each input set: top-1 agreement (argmax of the first output's last
axis) and the cosine similarity of the first output (dequantized when the model quantizes it). These say
how much the pruned model still behaves like the original, not how accurate either is: that needs the
user's labelled data, and fine-tuning the pruned model on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from pexcp.errors import SetupError

PEOPLE = ("astronaut.png", "camera.png", "lfw:0", "lfw:1")
OBJECTS = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")
RANDOM_INPUTS = 16


def require() -> None:
    """Fail early, in one line, when the packages fidelity needs are missing."""
    missing = []
    for module, package in (("onnxruntime", "onnxruntime"), ("skimage", "scikit-image")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise SetupError(f"pexcp prune needs {' and '.join(missing)}: pip install 'pexcp[prune]'")


@dataclass
class Fidelity:
    inputs: str  # which input set
    count: int
    top1: float  # fraction of inputs whose top-1 class agrees
    cosine_mean: float
    cosine_min: float


@dataclass
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    low: float
    high: float
    layout: str | None  # NHWC, NCHW, or None when not a 3-channel image


def model_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def input_spec(model: onnx.ModelProto, input_range: tuple[float, float] | None = None) -> InputSpec:
    """The single input's shape, type, value range and image layout."""
    vi = model_inputs(model)[0]
    shape = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
    layout = None
    if len(shape) == 4 and shape[0] == 1:
        layout = "NHWC" if shape[3] == 3 else "NCHW" if shape[1] == 3 else None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = float(info.min), float(info.max)
    else:
        low, high = input_range or _quantized_range(model, vi.name) or (0.0, 1.0)
    return InputSpec(vi.name, shape, dtype, low, high, layout)


def _quantized_range(model: onnx.ModelProto, name: str) -> tuple[float, float] | None:
    """The float range a QuantizeLinear reading the input directly can represent."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] == name and n.input[1] in inits:
            scale = float(inits[n.input[1]])
            zero = inits[n.input[2]] if len(n.input) > 2 and n.input[2] in inits else np.zeros((), np.uint8)
            info = np.iinfo(zero.dtype)
            return (info.min - int(zero)) * scale, (info.max - int(zero)) * scale
    return None


def _photo(name: str) -> np.ndarray:
    """An RGB uint8 photograph from scikit-image's package data."""
    import skimage
    from skimage import io

    base = Path(skimage.__file__).parent / "data"
    if name.startswith("lfw:"):
        faces = np.load(base / "lfw_subset.npy")
        img = (faces[int(name[4:])] * 255).astype(np.uint8)
    else:
        path = base / name
        if not path.exists():
            raise SetupError(f"scikit-image ships without {name}; reinstall scikit-image")
        img = io.imread(path)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return img[..., :3]


def _fit(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Centre crop to the aspect h:w, resize, as floats in 0..1 (H, W, 3)."""
    from skimage.transform import resize

    ih, iw = img.shape[:2]
    if ih * w > iw * h:
        ch, cw = iw * h // w, iw
    else:
        ch, cw = ih, ih * w // h
    top, left = (ih - ch) // 2, (iw - cw) // 2
    crop = img[top : top + ch, left : left + cw].astype(np.float64) / 255.0
    return resize(crop, (h, w), anti_aliasing=True)


def _encode(spec: InputSpec, unit: np.ndarray) -> np.ndarray:
    """Values in 0..1 mapped onto the input's range and type."""
    x = spec.low + unit * (spec.high - spec.low)
    if spec.dtype.kind in "iu":
        x = np.clip(np.round(x), spec.low, spec.high)
    return x.astype(spec.dtype)


def image_inputs(spec: InputSpec, names: tuple[str, ...]) -> list[np.ndarray]:
    if spec.layout is None:
        return []
    h, w = (spec.shape[1], spec.shape[2]) if spec.layout == "NHWC" else (spec.shape[2], spec.shape[3])
    out = []
    for name in names:
        img = _fit(_photo(name), h, w)
        x = img[None] if spec.layout == "NHWC" else img.transpose(2, 0, 1)[None]
        out.append(_encode(spec, x))
    return out


def random_inputs(spec: InputSpec, n: int = RANDOM_INPUTS, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_encode(spec, rng.uniform(0, 1, spec.shape)) for _ in range(n)]


class Runner:
    """One onnxruntime session; outputs as float (dequantized when the model quantizes its first output)."""

    def __init__(self, model: onnx.ModelProto):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name
        self.dequant = _output_quantization(model)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.session.run(None, {self.name: x})[0]
        if self.dequant is not None:
            scale, zero = self.dequant
            return (y.astype(np.float64) - zero) * scale
        return y.astype(np.float64)


def _output_quantization(model: onnx.ModelProto) -> tuple[float, float] | None:
    out = model.graph.output[0].name
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.output[0] == out and n.op_type == "QuantizeLinear" and n.input[1] in inits:
            zero = float(inits[n.input[2]]) if len(n.input) > 2 and n.input[2] in inits else 0.0
            return float(inits[n.input[1]]), zero
    return None


def compare(original: Runner, pruned: Runner, inputs: list[np.ndarray], label: str) -> Fidelity | None:
    if not inputs:
        return None
    agree, cosines = 0, []
    for x in inputs:
        a, b = original(x).ravel(), pruned(x).ravel()
        agree += int(np.argmax(a) == np.argmax(b))
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        cosines.append(float(a @ b / (na * nb)) if na > 0 and nb > 0 else float(na == nb))
    return Fidelity(label, len(inputs), agree / len(inputs), float(np.mean(cosines)), float(np.min(cosines)))


def measure(original: onnx.ModelProto, pruned: onnx.ModelProto,
            input_range: tuple[float, float] | None = None) -> list[Fidelity]:
    """Fidelity of `pruned` against `original` on the photographs (people, no people) and random inputs."""
    spec = input_spec(original, input_range)
    a, b = Runner(original), Runner(pruned)
    results = [
        compare(a, b, image_inputs(spec, PEOPLE), "photos with people"),
        compare(a, b, image_inputs(spec, OBJECTS), "photos without people"),
        compare(a, b, random_inputs(spec), f"random inputs (uniform {spec.low:g}..{spec.high:g})"),
    ]
    return [r for r in results if r is not None]
