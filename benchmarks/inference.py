"""Inference-speed ratios, each measured within this one run, interleaved and repeated.

(1) `predict` on a folder of image files (find, read, check, resize, predict) vs bare `model.predict`
    on the same images already decoded in memory (goal >= 0.8)
(2) Grad-CAM for a batch vs a forward pass of the same batch, both compiled the same way (goal <= 3x: one
    backward pass per batch)
(3) the cost of deletion/insertion scoring per image (no goal: reported)

Each side is timed --repeats times, the sides taking turns; printed: median [min-max] per side and the
median of the per-round ratios with its spread, and the machine.

Usage: python benchmarks/inference.py [--profile demo] [--images 256] [--repeats 5] [--out docs/results]

Writes docs/results/bench_inference.json.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from results import against_goal, summary, write_results
from timing import header, interleaved, parse_args, ratios, spread

GRADCAM_BATCH = 32
EXPLAINED = 64  # images scored by deletion/insertion, as many as `evaluate` scores


def main() -> None:
    args = parse_args(__doc__, images=256)

    import tensorflow as tf

    from alzmri.config import describe_backbone, get_config
    import numpy as np

    from alzmri.evaluation.predict import predict_files
    from alzmri.explain.faithfulness import STEPS, baseline_maps, deletion_insertion_report
    from alzmri.explain.gradcam import gradcam
    from alzmri.models.classifier import build_classifier
    from alzmri.models.runs import Run
    from alzmri.data.pipeline import collect_image_files, read_images_for_model
    from alzmri.leakage.prepared import prepare_data

    config = get_config(args.profile)
    frame = prepare_data(config, progress=False).frame
    folder = Path(frame["path"].iloc[0]).parent  # one class folder of the data
    files = collect_image_files([str(folder)])[: args.images]
    run = Run(folder, build_classifier(config), {"image_size": config.image_size})
    decoded = read_images_for_model(files, config.image_size)
    header(f"{describe_backbone(config.backbone, config.backbone_end)} at {config.image_size}px, {len(files)} images "
           f"from {folder}, {args.repeats} rounds")

    run.model.predict(decoded, verbose=0, batch_size=32)  # warm-up: trace every batch shape timed below
    predict_files(run, files[:8])
    times = interleaved({"bare": lambda: run.model.predict(decoded, verbose=0, batch_size=32),
                         "files": lambda: predict_files(run, files)}, args.repeats)
    rate = {name: [len(files) / t for t in ts] for name, ts in times.items()}
    print(f"(1) predict on files {spread(rate['files'], 'img/s', 1)}, bare model.predict "
          f"{spread(rate['bare'], 'img/s', 1)}")
    files_vs_bare = ratios(rate["files"], rate["bare"])

    batch = tf.constant(decoded[:GRADCAM_BATCH])
    # The forward pass as Grad-CAM runs it: one compiled call on a tensor (model.predict adds its own
    # per-call overhead of building a dataset, which is not what the ratio is about).
    forward = tf.function(lambda x: run.model(x, training=False), reduce_retracing=True)
    forward(batch)
    gradcam(run.model, batch.numpy())
    times = interleaved({"forward": lambda: forward(batch).numpy(),
                         "gradcam": lambda: gradcam(run.model, batch.numpy())}, args.repeats)
    print(f"(2) batch of {GRADCAM_BATCH}: forward {spread(times['forward'])}, Grad-CAM {spread(times['gradcam'])}")
    cam_vs_forward = ratios(times["gradcam"], times["forward"])

    images = decoded[:EXPLAINED]
    cams, classes = gradcam(run.model, images)
    maps = {"gradcam": cams, **baseline_maps(len(images), config.image_size)}
    units = np.arange(len(images))
    scoring = interleaved({"score": lambda: deletion_insertion_report(run.model, images, maps, classes, units, 200)},
                          max(1, args.repeats // 2))["score"]
    per_image = [t / len(images) for t in scoring]
    print(f"(3) deletion + insertion scoring of {len(images)} images, 3 maps x {STEPS + 1} steps x 2: "
          f"{spread(scoring)} in all, {spread([1000 * t for t in per_image], 'ms', 1)} per image")

    files_ok, cam_ok = statistics.median(files_vs_bare) >= 0.8, statistics.median(cam_vs_forward) <= 3
    print(f"\nratios (median of {args.repeats} interleaved rounds [min-max], measured in this run):")
    print(f"  (1) predict on a folder / bare model.predict: {spread(files_vs_bare, '', 3)} (goal >= 0.8)")
    print(f"  (2) Grad-CAM batch / forward pass: {spread(cam_vs_forward, 'x', 2)} (goal <= 3x)")
    print(f"  verdict: (1) {'meets' if files_ok else 'MISSES'} its goal, "
          f"(2) {'meets' if cam_ok else 'MISSES'} its goal")
    write_results("bench_inference", {
        "preset": args.profile, "model": describe_backbone(config.backbone, config.backbone_end),
        "image_size": config.image_size, "images": len(files), "repeats": args.repeats,
        "images_per_second": {"predict_files": summary(rate["files"], 1), "model_predict": summary(rate["bare"], 1)},
        "gradcam_batch": GRADCAM_BATCH,
        "seconds_per_batch": {"forward": summary(times["forward"]), "gradcam": summary(times["gradcam"])},
        "deletion_insertion": {"images": len(images), "maps": len(maps), "steps": STEPS + 1,
                               "seconds": summary(scoring, 2),
                               "ms_per_image": summary([1000 * t for t in per_image], 1)},
        "ratios": {"predict_files_over_model_predict": against_goal(files_vs_bare, ">=", 0.8, 3),
                   "gradcam_over_forward": against_goal(cam_vs_forward, "<=", 3, 3)}}, args.out)


if __name__ == "__main__":
    main()
