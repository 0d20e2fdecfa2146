"""Method `cpsat`: execution order, channel split factors and buffer offsets in one CP-SAT model.

model.py builds the model from small functions, one per constraint family; solve.py runs it in phases
(heuristic hint, LOAD lower bound, layout, joint model) and turns the answer into a plan.
"""
