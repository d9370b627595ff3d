"""Synthetic-data speed: images generated per second vs the goal of 1,000 images in a minute.

Usage: python benchmarks/synthetic.py [--images 1000] [--out docs/results]

Writes docs/results/bench_synthetic.json.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from results import against_goal, summary, write_results
from timing import header, interleaved, parse_args, spread

GOAL_IMAGES_PER_SECOND = 1000 / 60


def main() -> None:
    args = parse_args(__doc__, images=1000)
    from alzmri.data.synthetic import generate_dataset

    n_per_class = max(2, round(args.images / 3 / 4))  # originals + twice as many copies = 3 x originals
    header(f"synthetic generation, 128 px, about {args.images} images, {args.repeats} rounds")
    with tempfile.TemporaryDirectory() as folder:
        rounds = iter(range(args.repeats))
        seconds = interleaved({"generate": lambda: generate_dataset(Path(folder) / f"s{next(rounds)}",
                                                                     n_per_class=n_per_class, size=128,
                                                                     progress=False, slices=8)}, args.repeats)["generate"]
        images = sum(1 for p in (Path(folder) / "s0").rglob("*.jpg"))
    rates = [images / t / GOAL_IMAGES_PER_SECOND for t in seconds]
    print(f"{images} synthetic 128 px images (with masks) in {spread(seconds)}")
    print(f"\nratio (median of {args.repeats} rounds [min-max], measured in this run):")
    print(f"  generation speed / goal (1,000 images a minute): {spread(rates, 'x', 1)}  (goal >= 1x)")
    write_results("bench_synthetic", {
        "images": images, "image_size": 128, "repeats": args.repeats, "seconds": summary(seconds, 3),
        "images_per_second": summary([images / t for t in seconds], 1),
        "ratios": {"speed_over_goal_of_1000_a_minute": against_goal(rates, ">=", 1, 2)}}, args.out)


if __name__ == "__main__":
    main()
