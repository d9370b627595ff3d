"""Synthetic-data speed: images generated per second vs the goal of 1,000 images in a minute.

Usage: python benchmarks/synthetic.py [--images 1000]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from timing import parse_args, timed

GOAL_IMAGES_PER_SECOND = 1000 / 60


def main() -> None:
    args = parse_args(__doc__, images=1000)
    from alzmri.synthetic import generate_dataset

    n_per_class = max(2, round(args.images / 3 / 4))  # originals + twice as many copies = 3 x originals
    with tempfile.TemporaryDirectory() as folder:
        seconds = timed(lambda: generate_dataset(Path(folder) / "s", n_per_class=n_per_class, size=128,
                                                 progress=False))
        images = sum(1 for p in Path(folder).rglob("*.jpg"))
    rate = images / seconds
    print(f"{images} synthetic 128 px images (with masks) in {seconds:.1f} s")
    print("\nratio (measured in this run):")
    print(f"  generation speed / goal (1,000 images a minute): {rate / GOAL_IMAGES_PER_SECOND:.1f}x  (goal >= 1x)")


if __name__ == "__main__":
    main()
