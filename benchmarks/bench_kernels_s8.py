"""int8 kernels on a Cortex-M4F (QEMU mps2-an386, -icount shift=0): instructions per MAC of every conv,
depthwise conv and fully connected layer of the shared int8 models, portable loops against the DSP fast
paths, on the layers' real shapes, weights and TFLite Micro inputs.

    python benchmarks/bench_kernels_s8.py [--models ../shared/models] [--layers] [--markdown] [--opt -O2]

Every layer's output, from both builds, is checked bit for bit against TFLite Micro's (exit code 1 if any
differs). Instructions are exact counts of the kernel call (SysTick, 40 instructions per tick) with its
scratch buffer; requantization is included, im2col/line-buffer work is included, the model's other
operators are not. Needs arm-none-eabi-gcc, libnewlib-arm-none-eabi and qemu-system-arm.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the TFLite Micro oracle helpers and the QEMU kernel harness

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import s8_qemu  # noqa: E402
import tflite_oracle as to  # noqa: E402
from pexcp.backends.c import quant  # noqa: E402
from pexcp.backends.c.toolchain import missing_tools  # noqa: E402

MODELS = ["vww_96_int8", "ic_resnet8_int8", "kws_ref_model_int8", "ad01_int8", "te_mcunet_vww"]


def nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a[0].transpose(2, 0, 1))


def kind_of(op: str, w: np.ndarray) -> str:
    if op == "FULLY_CONNECTED":
        return "fully connected"
    if op == "DEPTHWISE_CONV_2D":
        return f"depthwise {w.shape[2]}x{w.shape[3]}"
    return "conv 1x1" if w.shape[2:] == (1, 1) else f"conv {w.shape[2]}x{w.shape[3]}"


def layer_calls(path: Path, seed: int) -> list[s8_qemu.Call]:
    """One call per conv / depthwise / FC operator, fed TFLite Micro's input, expecting its output."""
    data = path.read_bytes()
    m = to.load(data)
    sg = m.subgraphs[0]
    rng = np.random.default_rng(seed)
    inputs = []
    for i in sg.inputs:
        t = sg.tensors[i]
        shape = tuple(int(d) for d in t.shape)
        inputs.append(rng.integers(-128, 128, size=shape, dtype=np.int8) if t.type == to.T.INT8
                      else rng.uniform(-1, 1, size=shape).astype(np.float32))
    run = to.Run(data, inputs)
    calls = []
    for index, op in enumerate(sg.operators):
        name = to.op_type(m, op)
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        x_t, w_t, out_t = (sg.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        o = op.builtinOptions
        bias = to.const(m, sg.tensors[op.inputs[2]]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        s_in, zp_in = to.scale_zp(x_t)
        s_out, zp_out = to.scale_zp(out_t)
        act = to.ACT[o.fusedActivationFunction]
        w = to.const(m, w_t)
        want = run.tensor(op.outputs[0])
        if name == "FULLY_CONNECTED":
            q = quant.fully_connected_quant(s_in, zp_in, to.quant(w_t)[0], s_out, zp_out, w.shape[0], act)
            x = run.tensor(op.inputs[0]).reshape(-1, w.shape[1])
            call = s8_qemu.fc_call(f"{index}", x, w, bias, q, expect=want.tobytes())
            shape = f"{x.shape[1]} -> {w.shape[0]}"
        else:
            depthwise = name == "DEPTHWISE_CONV_2D"
            w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
            x = nchw(run.tensor(op.inputs[0]))
            group = x.shape[0] if depthwise else x.shape[0] // w.shape[1]
            q = quant.conv_quant(s_in, zp_in, to.quant(w_t)[0], s_out, zp_out, w.shape[0], act)
            dil = (o.dilationHFactor, o.dilationWFactor)
            _, pt, pb = to.same_padding(x.shape[1], w.shape[2], o.strideH, dil[0], o.padding)
            _, pl, pr = to.same_padding(x.shape[2], w.shape[3], o.strideW, dil[1], o.padding)
            call = s8_qemu.conv_call(f"{index}", x, w, bias, q, stride=(o.strideH, o.strideW), dil=dil,
                                     pads=(pt, pl, pb, pr), group=group, expect=nchw(want).tobytes())
            y = nchw(want)
            shape = f"{x.shape[0]}x{x.shape[1]}x{x.shape[2]} -> {y.shape[0]}x{y.shape[1]}x{y.shape[2]} s{o.strideH}"
        call.meta.update(kind=kind_of(name, w), shape=shape, op=index)
        calls.append(call)
    return calls


@dataclass
class Row:
    model: str
    op: int
    kind: str
    shape: str
    macs: int
    scratch: int
    portable: int
    dsp: int
    exact: bool


def measure(path: Path, workdir: Path, opt: str, seed: int) -> list[Row]:
    calls = layer_calls(path, seed)
    results = {dsp: s8_qemu.run(calls, workdir / ("dsp" if dsp else "portable"), dsp=dsp, opt=opt) for dsp in (True, False)}
    rows = []
    for c, rd, rp in zip(calls, results[True], results[False]):
        want = s8_qemu.fnv1a(c.expect)
        rows.append(Row(path.stem, c.meta["op"], c.meta["kind"], c.meta["shape"], c.macs, c.meta["scratch"],
                        rp.insns, rd.insns, rd.out == want and rp.out == want))
    return rows


def num(v: float, digits: int = 0) -> str:
    return f"{v:,.{digits}f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=REPO.parent / "shared" / "models")
    ap.add_argument("--layers", action="store_true", help="one row per layer instead of per model and kernel kind")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--opt", default="-O2")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if missing_tools():
        print(f"missing tools: {', '.join(missing_tools())}", file=sys.stderr)
        return 2
    models = args.models if (args.models / "tflite").exists() else Path("/work/shared/models")
    console = Console()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            with console.status(f"{name}: building and running both images under QEMU"):
                rows += measure(models / "tflite" / f"{name}.tflite", Path(tmp) / name, args.opt, args.seed)
    head = ["model", "kernel", "layers" if not args.layers else "shape", "MACs", "scratch B", "portable insns",
            "DSP insns", "portable /MAC", "DSP /MAC", "bit-exact"]
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        key = (r.model, r.op) if args.layers else (r.model, r.kind)
        groups.setdefault(key, []).append(r)
    for model in MODELS:  # totals over all conv/depthwise/FC layers of the model
        groups[(model, "all conv + FC")] = [r for r in rows if r.model == model]
    table_rows = []
    for key, rs in groups.items():
        macs, port, dsp = sum(r.macs for r in rs), sum(r.portable for r in rs), sum(r.dsp for r in rs)
        label = rs[0].kind if args.layers and key[1] != "all conv + FC" else key[1]
        third = rs[0].shape if args.layers and key[1] != "all conv + FC" else str(len(rs))
        table_rows.append([key[0], label, third, num(macs), num(max(r.scratch for r in rs)), num(port), num(dsp),
                           num(port / macs, 2), num(dsp / macs, 2), "yes" if all(r.exact for r in rs) else "NO"])
    table_rows.sort(key=lambda r: (MODELS.index(r[0]), r[1] == "all conv + FC"))
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("| " + " | ".join(["---"] * 3 + ["---:"] * 6 + ["---"]) + " |")
        for r in table_rows:
            print("| " + " | ".join(r) + " |")
    else:
        table = Table(title=f"int8 kernels on Cortex-M4F (QEMU, {args.opt}), instructions per call")
        for h in head:
            table.add_column(h, justify="left" if h in ("model", "kernel", "shape") else "right")
        for r in table_rows:
            table.add_row(*r)
        console.print(table)
    return 0 if all(r.exact for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
