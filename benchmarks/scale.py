"""Index + audit at the size of the real Kaggle V2 set: wall time and peak memory on this machine.

Usage: python benchmarks/scale.py [--originals 6400] [--copies 34000] [--size 176] [--out docs/results]

Generates a synthetic set of that size (not timed), then times what ``python -m alzmri audit`` does on
it: index and check every file, compute the image features, match copies to originals, recover the
subjects and audit all four split protocols. Prints the machine, the seconds per stage and the peak
resident memory of the process, and writes them to docs/results/bench_scale.json.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from pathlib import Path

from results import add_out_option, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=6400)
    parser.add_argument("--copies", type=int, default=34000)
    parser.add_argument("--size", type=int, default=176)
    parser.add_argument("--slices", type=int, default=32)
    add_out_option(parser)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from alzmri.config import get_config
    from alzmri.data.datasets import index_dataset
    from alzmri.leakage.prepared import PreparedData, annotate
    from alzmri.leakage.audit import audit
    from alzmri.data.synthetic import generate_dataset
    from alzmri.timing import StageTimer

    per_class = args.originals // 4
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        root = generate_dataset(Path(scratch) / "v2", n_per_class=per_class, size=args.size, slices=args.slices,
                                copies=args.copies / 4 / per_class, progress=False)
        generated = time.perf_counter() - start
        print(f"generated in {generated:.0f} s (not part of the audit)")
        config, cache = get_config("full", data=str(root)), Path(scratch) / "cache"
        timer = StageTimer()
        with timer.stage("index and check every file"):
            index = index_dataset(root, cache_dir=cache, progress=False)
        with timer.stage("features, copies, subjects"):
            frame, features, recovery = annotate(index, config, cache, progress=False)
        with timer.stage("audit of the four protocols"):
            audit(PreparedData(index, frame, config.split, features, recovery), config)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{len(index.frame)} images ({int((frame['kind'] == 'original').sum())} originals), "
          f"{frame['subject'].nunique()} subjects")
    print(timer.report())
    print(f"peak memory {peak_gib:.2f} GiB")
    write_results("bench_scale", {
        "images": len(index.frame), "originals": int((frame["kind"] == "original").sum()),
        "subjects": int(frame["subject"].nunique()), "image_size": args.size,
        "seconds_generating": round(generated, 1),
        "seconds_per_stage": dict(zip(("index_and_check", "features_copies_subjects", "audit_four_protocols"),
                                      (round(s, 1) for s in timer.seconds.values()))),
        "seconds_total": round(sum(timer.seconds.values()), 1), "peak_memory_gib": round(peak_gib, 2)}, args.out)


if __name__ == "__main__":
    main()
