"""Peak memory of the `full` preset's input pipeline (224 px) on 1,000 images, cached in memory.

The pipeline caches each decoded, resized slice as one grey uint8 channel and makes RGB after the cache
(`alzmri.data.pipeline.make_tf_dataset`). For comparison the same images are also cached the earlier way, as
RGB (three equal channels). Each variant runs in a fresh process, so its peak resident memory is its own.

Usage: python benchmarks/memory.py [--images 1000] [--profile full] [--out docs/results]

Writes docs/results/bench_memory.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import warnings

from results import add_out_option, write_results


def measure(variant: str, images: int, profile: str) -> dict:
    """Iterate the training pipeline twice (fill the cache, then read it); peak RSS growth in MiB."""
    import tensorflow as tf

    from alzmri.config import get_config
    from alzmri.data.pipeline import load_image, make_tf_dataset
    from alzmri.leakage.prepared import prepare_data

    config = get_config(profile, data="demo")
    frame = prepare_data(get_config("demo"), progress=False).frame.head(images)
    for _ in make_tf_dataset(frame.head(config.batch_size), config.image_size, config.batch_size, cache=False):
        pass  # start TensorFlow's runtime first: its own memory is not the cache's
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if variant == "grey":
        ds = make_tf_dataset(frame, config.image_size, config.batch_size, training=True, augment=False)
    else:  # the earlier way: RGB uint8 in the cache
        ds = tf.data.Dataset.from_tensor_slices(frame["path"].to_numpy(str))
        ds = ds.map(lambda p: tf.image.grayscale_to_rgb(load_image(p, config.image_size))).cache()
        ds = ds.batch(config.batch_size).map(lambda x: tf.cast(x, tf.float32))
    for _ in range(2):
        for _ in ds:
            pass
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": variant, "images": len(frame), "image_size": config.image_size,
            "peak_growth_mib": round(after - before, 1), "peak_mib": round(after, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--profile", default="full", help="preset whose image size and batch are used")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # set when this script runs itself
    add_out_option(parser)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.variant:
        print(json.dumps(measure(args.variant, args.images, args.profile)))
        return
    from timing import header

    header(f"input pipeline memory, {args.profile} preset, {args.images} images (synthetic demo slices)")
    rows = []
    for variant in ("grey", "rgb"):
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--images", str(args.images),
                              "--profile", args.profile], capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    for row in rows:
        per_image = row["peak_growth_mib"] * 1024 / row["images"]
        print(f"  cache as {row['variant']:>4}: peak +{row['peak_growth_mib']:.0f} MiB over a warmed-up TensorFlow "
              f"({per_image:.0f} KiB per image; peak {row['peak_mib']:.0f} MiB in all)")
    size = rows[0]["image_size"]
    ratio = rows[1]["peak_growth_mib"] / max(rows[0]["peak_growth_mib"], 1e-9)
    print(f"  expected per cached image: {size * size / 1024:.0f} KiB grey, {3 * size * size / 1024:.0f} KiB RGB; "
          f"measured ratio rgb/grey growth: {ratio:.2f}")
    write_results("bench_memory", {
        "preset": args.profile, "images": rows[0]["images"], "image_size": size, "data": "synthetic demo slices",
        "cache": {row["variant"]: {"peak_growth_mib": row["peak_growth_mib"], "peak_mib": row["peak_mib"],
                                   "kib_per_image": round(row["peak_growth_mib"] * 1024 / row["images"], 1)}
                  for row in rows},
        "expected_kib_per_cached_image": {"grey": round(size * size / 1024, 1),
                                          "rgb": round(3 * size * size / 1024, 1)},
        "rgb_over_grey_growth": round(ratio, 3)}, args.out)


if __name__ == "__main__":
    main()
