"""How long the test suite takes: the README's command, the same in one process, and the quick subset.

Usage: python benchmarks/suite.py [--runs default,one_process,quick] [--name suite] [--out docs/results]

Runs ``python -m pytest`` three ways from the repository root, one after the other on an otherwise idle machine:
``default`` (the README's command: two pytest-xdist workers on two cores, see pyproject.toml), ``one_process``
(``-n 0``: what the suite costs without xdist, to show the workers pay for themselves) and ``quick``
(``-m "not slow"``: no training, no notebooks). Records each one's wall seconds, its counts of passed, failed,
skipped and errored tests (a run with a failing test writes nothing: its time is not the suite's), and the
slowest tests of each (``--durations``; the one-process run's are not inflated by the other worker). Writes
``docs/results/<name>.json`` (default ``suite``); docs/configuration.md quotes it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from results import ROOT, add_out_option, write_results

RUNS = {
    "default": [],
    "one_process": ["-n", "0", "--durations=15"],
    "quick": ["-m", "not slow"],
}
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)
SLOW_LINE = re.compile(r"^\s*([\d.]+)s (call|setup|teardown)\s+(\S.*)$", re.M)


def run_suite(options: list[str]) -> dict:
    """Run ``python -m pytest`` with ``options``; its wall seconds, test counts and ``--durations`` lines."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    counts = {name.rstrip("s") if name.startswith("error") else name: int(n) for n, name in COUNT.findall(tail)}
    slowest = [{"seconds": float(s), "phase": phase, "test": test} for s, phase, test in SLOW_LINE.findall(done.stdout)]
    return {"options": options, "seconds": round(seconds, 1), "exit_code": done.returncode, "summary": tail,
            "counts": counts, "failed": FAILED.findall(done.stdout), "slowest": slowest[:15]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS), help=f"which of {', '.join(RUNS)} to run (comma-separated)")
    parser.add_argument("--name", default="suite", help="the results file's name (default suite)")
    add_out_option(parser)
    args = parser.parse_args()
    chosen = args.runs.split(",")
    if unknown := set(chosen) - set(RUNS):
        parser.error(f"--runs: unknown {sorted(unknown)}; choose from {', '.join(RUNS)}")
    results = {}
    for name, options in RUNS.items():
        if name not in chosen:
            continue
        print(f"python -m pytest {' '.join(options)} ...", flush=True)
        results[name] = run_suite(options)
        print(f"  {results[name]['seconds']} s: {results[name]['summary']}", flush=True)
    broken = {name: run["failed"] or run["summary"] for name, run in results.items() if run["exit_code"] != 0}
    if broken:  # the time of a suite that fails is not the suite's time: nothing is written
        raise SystemExit(f"not written: the suite failed ({broken})")
    if {"one_process", "default"} <= set(results):
        results["speed_up"] = round(results["one_process"]["seconds"] / results["default"]["seconds"], 2)
    write_results(args.name, results, args.out)


if __name__ == "__main__":
    main()
