"""Wall time of the test suite: whole or the fast subset, serial or with pytest-xdist workers.

    python benchmarks/bench_tests.py [--variants full full-n2 fast fast-n2] [--markdown]

Runs `python -m pytest -q` in this checkout once per variant (the derandomised Hypothesis profile, so every
run draws the same examples) and prints the wall seconds, tests passed/skipped/failed, and each variant's
time relative to the first. Timings on a shared machine are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {
    "full": [],
    "full-n2": ["-n", "2"],
    "fast": ["-m", "not slow"],
    "fast-n2": ["-m", "not slow", "-n", "2"],
}


def run(args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:]
    return seconds, re.sub(r"^=+ | =+$| in [0-9.]+s.*$", "", last)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in args.variants:
        seconds, outcome = run(VARIANTS[name])
        rows.append((name, " ".join(VARIANTS[name]) or "(none)", seconds, outcome))
        print(f"{name}: {seconds:.0f} s, {outcome}", file=sys.stderr)
    first = rows[0][2]
    print(f"test suite wall time on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| variant | pytest options | wall s | vs first | outcome |")
    print("|---|---|---:|---:|---|")
    for name, options, seconds, outcome in rows:
        print(f"| {name} | `{options}` | {seconds:.0f} | {seconds / first:.2f} | {outcome} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
