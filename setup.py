"""The one compiled part of pexcp: the canonical search's inner loop (pexcp/layout/_canonical.c)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("pexcp.layout._canonical", ["pexcp/layout/_canonical.c"], extra_compile_args=["-O2"])])
