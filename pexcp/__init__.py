"""pexcp: schedule neural networks into microcontroller SRAM with partial execution and CP-SAT.

The Python API (the same things as the command line; each function has a docstring):

    import pexcp
    plan = pexcp.solve("model.onnx", "cpsat", timeout=30, solver={"decompose": False})
    pexcp.validate("model.onnx", plan)          # [] : no problems
    pexcp.save_plan(plan, "plan.json"); pexcp.load_plan("plan.json")
    rows = pexcp.compare(["model.onnx"], ["tflm", "cpsat"])
    pexcp.plot(plan, "model.onnx", "plan.png")
    pexcp.compile("model.onnx", "out", plan)
    graph = pexcp.load("model.onnx")

(`pexcp.plan` is the plan-format package, so planning is `pexcp.solve`.) The functions live in
pexcp/api.py and are imported on first use, so `import pexcp` stays light.
"""

__version__ = "0.1.0"

_API = ("load", "solve", "validate", "save_plan", "load_plan", "compare", "plot", "compile", "SolverParams")


def __getattr__(name: str):
    if name in _API:
        from pexcp import api

        return getattr(api, name)
    raise AttributeError(f"module 'pexcp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
