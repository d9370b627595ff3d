"""What the benchmark scripts share: a stopwatch and their command line."""

from __future__ import annotations

import argparse
import time
import warnings


def timed(fn) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def parse_args(doc: str, images: int) -> argparse.Namespace:
    """``--profile`` and ``--images`` for a benchmark script; also silences warnings."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--profile", default="demo", help="config preset to measure (default demo)")
    parser.add_argument("--images", type=int, default=images, help="images to time on")
    warnings.simplefilter("ignore")
    return parser.parse_args()
