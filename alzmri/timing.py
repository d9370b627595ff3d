"""Where the time goes: a stopwatch for the stages of a long command, and the machine it ran on.

Machines differ (the same CPU type can run 3x slower from one day to the next), so a time is only
worth printing with the machine beside it.
"""

from __future__ import annotations

import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def machine() -> str:
    """The CPU model and the cores this process may use, e.g. ``AMD EPYC 7B13, 2 cores``."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


class StageTimer:
    """Wall-clock seconds per named stage, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        """Time the ``with`` block as stage ``name`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def table(self) -> pd.DataFrame:
        """One row per stage with its seconds and share of the total, then the total."""
        total = sum(self.seconds.values())
        rows = [(name, s, s / total if total else 0.0) for name, s in self.seconds.items()]
        return pd.DataFrame(rows + [("total", total, 1.0)], columns=["stage", "seconds", "share"])

    def report(self) -> str:
        """The table as text, headed by the machine it was measured on."""
        table = self.table()
        width = max(map(len, table["stage"]))
        lines = [f"  {stage:<{width}}  {seconds:7.1f} s  {share:4.0%}" for stage, seconds, share in table.itertuples(
            index=False)]
        total = table["seconds"].iloc[-1]
        return f"Time per stage on this machine ({machine()}), {total / 60:.1f} min in all:\n" + "\n".join(lines)
