"""Wall time of the test suite: whole or the fast subset, serial or with pytest-xdist workers.

    python benchmarks/bench_tests.py [--variants full full-n2 fast fast-n2]

PEXCP_BENCH_REPO=/path/to/other/checkout times another checkout (e.g. an older commit, with PYTHONPATH
pointing at it) with the same variants.

Runs `python -m pytest -q` in this checkout once per variant (the derandomised Hypothesis profile, so every
run draws the same examples) and prints the wall seconds, each variant's wall time relative to the first,
the CPU seconds of the test processes, and the outcome. Timings on a shared machine are noisy: compare the
ratios within one run, and the CPU seconds, which other users' load changes less.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(os.environ.get("PEXCP_BENCH_REPO") or Path(__file__).resolve().parents[1])

VARIANTS = {
    "full": [],
    "full-n2": ["-n", "2"],
    "fast": ["-m", "not slow"],
    "fast-n2": ["-m", "not slow", "-n", "2"],
}


def run(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, the test processes and what they started) and outcome."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:]
    failed = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
    outcome = re.sub(r"^=+ | =+$| in [0-9.:()]+s.*$", "", last)
    return seconds, cpu, outcome + (f" ({', '.join(failed)})" if failed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    rows = []
    for name in args.variants:
        seconds, cpu, outcome = run(VARIANTS[name])
        rows.append((name, " ".join(VARIANTS[name]) or "(none)", seconds, cpu, outcome))
        print(f"{name}: {seconds:.0f} s wall, {cpu:.0f} s CPU, {outcome}", file=sys.stderr)
    first = rows[0][2]
    print(f"test suite in {REPO} on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| variant | pytest options | wall s | vs first | CPU s | outcome |")
    print("|---|---|---:|---:|---:|---|")
    for name, options, seconds, cpu, outcome in rows:
        print(f"| {name} | `{options}` | {seconds:.0f} | {seconds / first:.2f} | {cpu:.0f} | {outcome} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
