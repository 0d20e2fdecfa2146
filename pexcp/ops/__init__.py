"""One home per operator type: what each ONNX operator is, for the importer, rewrites and analysis.

`spec(op_type)` answers for any type; types pexcp knows nothing about get the default (runs whole, fuses
nothing, never a view or in place). Adding an operator means adding its class to one module here (and a
lowering in pexcp/backends/c/ops to run it).
"""

from __future__ import annotations

from pexcp.ops.base import OpSpec, Rule, per_axis
from pexcp.ops.conv import Conv, ConvTranspose
from pexcp.ops.gemm import Gemm
from pexcp.ops.elementwise import Activation, Arithmetic, Cast, Convert, Math, MinMaxPow
from pexcp.ops.movers import Gather, Mover, Resize, Slice
from pexcp.ops.pad import Pad
from pexcp.ops.pool import Pool
from pexcp.ops.reduce import ArgMax, Reduce, Softmax
from pexcp.ops.views import Reshape, Transpose

_DEFAULT = OpSpec()
SPECS: dict[str, OpSpec] = {
    t: s
    for s in (
        Activation(), Convert(), Cast(), Arithmetic(), Math(), MinMaxPow(), Conv(), ConvTranspose(), Gemm(), Pool(),
        Pad(), Reshape(), Transpose(), Slice(), Gather(), Resize(), Mover(), Reduce(), Softmax(), ArgMax(),
    )
    for t in s.op_types
}


def spec(op_type: str) -> OpSpec:
    return SPECS.get(op_type, _DEFAULT)


__all__ = ["OpSpec", "Rule", "SPECS", "per_axis", "spec"]
