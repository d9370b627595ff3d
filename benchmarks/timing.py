"""What the benchmark scripts share: interleaved repeated timings, their summary, and the command line.

One timing per side is not a measurement on a shared machine: the same call was seen to swing from 98 to
181 images/s between runs. Each side is therefore timed several times, the sides alternating (A B A B ...)
so that a machine slowing down or speeding up hits both alike, and a ratio is reported as the median of
the per-round ratios with its spread (min-max).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Callable

from results import add_out_option

REPEATS = 5


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int = REPEATS) -> dict[str, list[float]]:
    """Seconds per call of each contender, ``repeats`` rounds, the contenders taking turns in every round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    return times


def spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    """``median [min-max] unit`` of repeated measurements."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}] {unit}"


def ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios of two interleaved timings (rounds pair up: they ran next to each other)."""
    return [a / b for a, b in zip(numerator, denominator)]


def parse_args(doc: str, images: int) -> argparse.Namespace:
    """``--profile``, ``--images``, ``--repeats`` and ``--out`` for a benchmark script; also silences warnings."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--profile", default="demo", help="config preset to measure (default demo)")
    parser.add_argument("--images", type=int, default=images, help="images to time on")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"interleaved rounds (default {REPEATS})")
    add_out_option(parser)
    warnings.simplefilter("ignore")
    return parser.parse_args()


def header(description: str) -> None:
    """Print what is measured and on which machine (every absolute time needs the machine beside it)."""
    from alzmri.timing import machine

    print(f"{description}\nmachine: {machine()}")
