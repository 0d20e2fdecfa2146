"""`pexcp fit`: the largest input resolution at which a model's plan fits a budget.

Each resolution tried is planned for the smallest arena (no budget), so the table shows the arena curve,
not just a verdict. The search assumes the arena does not shrink as the resolution grows (true of the
convolutional bodies fit accepts: every activation grows with the image): it doubles the resolution from
the model's own while it fits, then bisects between the last fit and the first miss, in multiples of
`step`; from a native resolution that does not fit it bisects downwards. A resolution counts as fitting
only when its plan's arena is within the budget; a plan that is above the budget with a proven lower
bound below it is `undecided` (a longer --timeout may settle it) and counts as a miss.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import onnx

from pexcp.importer.resize import ImageInput, image_input, resize
from pexcp.importer.onnx_reader import read_model
from pexcp.plan.plan import Plan
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions

MAX_SCALE = 8  # never try beyond 8x the native height: no MCU budget holds that


@dataclass
class Point:
    h: int
    w: int
    arena: int
    lower_bound: int
    status: str
    seconds: float

    def verdict(self, budget: int) -> str:
        if self.arena <= budget:
            return "fits"
        return "undecided" if self.lower_bound <= budget else "over"


@dataclass
class FitResult:
    image: ImageInput
    budget: int
    points: list[Point] = field(default_factory=list)  # in the order tried
    pools: list[str] = field(default_factory=list)  # pooling layers made global

    @property
    def best(self) -> Point | None:
        fitting = [p for p in self.points if p.verdict(self.budget) == "fits"]
        return max(fitting, key=lambda p: (p.h, p.w), default=None)

    def table(self) -> list[Point]:
        return sorted(self.points, key=lambda p: (p.h, p.w))


def _shape(image: ImageInput, h: int, keep_aspect: bool, step: int) -> tuple[int, int]:
    if not keep_aspect:
        return h, h
    h0, w0 = image.resolution
    return h, max(step, round(h * w0 / h0 / step) * step)


def fit(
    model: Path,
    budget: int,
    step: int = 8,
    keep_aspect: bool = False,
    method: str = "cpsat",
    options: SolveOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[FitResult, onnx.ModelProto | None]:
    """Search resolutions (see module docstring); returns the result and the resized model that fits best."""
    options = replace(options or SolveOptions(), budget=None)
    native, _ = read_model(model, {})
    image = image_input(model, native)
    result = FitResult(image, budget)
    resize(model, *_shape(image, image.resolution[0] + step, keep_aspect, step))  # refuses before any solve
    models: dict[int, onnx.ModelProto] = {}
    with tempfile.TemporaryDirectory(prefix="pexcp-fit-") as tmp:

        def fits(k: int) -> bool:
            h, w = _shape(image, k * step, keep_aspect, step)
            resized, result.pools = resize(model, h, w)
            path = Path(tmp) / f"{model.stem}_{h}x{w}.onnx"
            onnx.save(resized, str(path))
            _, plan = solve(path, method, options)
            point = _point(h, w, plan)
            result.points.append(point)
            if progress is not None:
                progress(f"{h}x{w}: arena {point.arena:,} B ({point.status}) -> {point.verdict(budget)}")
            models[k] = resized
            return point.verdict(budget) == "fits"

        native_k = max(1, image.resolution[0] // step)
        top = MAX_SCALE * native_k
        if fits(native_k):
            lo, hi = native_k, None  # lo fits; hi (if known) does not
            while hi is None:
                nxt = min(2 * lo, top)
                if nxt == lo:
                    break
                if fits(nxt):
                    lo = nxt
                else:
                    hi = nxt
        else:
            lo, hi = 0, native_k
        while hi is not None and hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        return result, models.get(lo)


def _point(h: int, w: int, plan: Plan) -> Point:
    return Point(h, w, plan.arena_bytes, plan.lower_bound_bytes, plan.status, plan.solve_seconds)
