"""Method `cpsat`: execution order, channel split factors and buffer offsets in one CP-SAT model.

Where each job lives:
- model.py: the CP-SAT model, one function per constraint family (and the order formulations);
- search.py: how a model is searched (reproducible workers or CP-SAT's portfolio), and model export;
- budget.py: time accounting and every tuning constant that shares time between phases;
- part.py: what the phases work on (a part of the graph, candidate plans);
- context.py: what one solve's phases share (options, switches, clock, searches);
- phases.py: the phases, one function each (heuristics, LOAD bound, joint model or packing);
- decompose.py: cut tensors; prove.py: the decomposition proof and economising kernel calls;
- report.py: notes, bottleneck, which phase finished; solve.py: runs it all and builds the plan.
The switches are SolverParams (pexcp/solvers/params.py).
"""
