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


def predict_rates(run, files: list, decoded, repeats: int) -> dict:
    """(1): images per second of ``predict`` on the files against bare ``model.predict`` on them decoded, taking
    turns ``repeats`` times after a warm-up that traces every batch shape timed."""
    from alzmri.evaluation.predict import predict_files

    run.model.predict(decoded, verbose=0, batch_size=32)
    predict_files(run, files[:8])
    times = interleaved({"bare": lambda: run.model.predict(decoded, verbose=0, batch_size=32),
                         "files": lambda: predict_files(run, files)}, repeats)
    return {name: [len(files) / t for t in ts] for name, ts in times.items()}


def gradcam_times(model, decoded, repeats: int) -> dict:
    """(2): seconds of Grad-CAM for a batch of :data:`GRADCAM_BATCH` against a forward pass of it, compiled alike."""
    import tensorflow as tf

    from alzmri.explain.gradcam import gradcam

    batch = tf.constant(decoded[:GRADCAM_BATCH])
    # The forward pass as Grad-CAM runs it: one compiled call on a tensor (model.predict adds its own
    # per-call overhead of building a dataset, which is not what the ratio is about).
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    forward(batch)
    gradcam(model, batch.numpy())
    return interleaved({"forward": lambda: forward(batch).numpy(),
                        "gradcam": lambda: gradcam(model, batch.numpy())}, repeats)


def scoring_times(model, images, image_size: int, repeats: int) -> tuple[list[float], int]:
    """(3): seconds of deletion/insertion scoring of ``images`` (Grad-CAM and the two maps that know nothing of the
    model), ``repeats`` times; and how many maps were scored."""
    import numpy as np

    from alzmri.explain.faithfulness import baseline_maps, deletion_insertion_report
    from alzmri.explain.gradcam import gradcam

    cams, classes = gradcam(model, images)
    maps = {"gradcam": cams, **baseline_maps(len(images), image_size)}
    units = np.arange(len(images))
    return interleaved({"score": lambda: deletion_insertion_report(model, images, maps, classes, units, 200)},
                       repeats)["score"], len(maps)


def main() -> None:
    args = parse_args(__doc__, images=256)

    from alzmri.config import describe_backbone, get_config
    from alzmri.data.pipeline import collect_image_files, read_images_for_model
    from alzmri.explain.faithfulness import STEPS
    from alzmri.leakage.prepared import prepare_data
    from alzmri.models.classifier import build_classifier
    from alzmri.models.runs import Run

    config = get_config(args.profile)
    folder = Path(prepare_data(config, progress=False).frame["path"].iloc[0]).parent  # one class folder of the data
    files = collect_image_files([str(folder)])[: args.images]
    run = Run(folder, build_classifier(config), {"image_size": config.image_size})
    decoded = read_images_for_model(files, config.image_size)
    model_name = describe_backbone(config.backbone, config.backbone_end)
    header(f"{model_name} at {config.image_size}px, {len(files)} images from {folder}, {args.repeats} rounds")
    rate = predict_rates(run, files, decoded, args.repeats)
    print(f"(1) predict on files {spread(rate['files'], 'img/s', 1)}, bare model.predict "
          f"{spread(rate['bare'], 'img/s', 1)}")
    times = gradcam_times(run.model, decoded, args.repeats)
    print(f"(2) batch of {GRADCAM_BATCH}: forward {spread(times['forward'])}, Grad-CAM {spread(times['gradcam'])}")
    images = decoded[:EXPLAINED]
    scoring, maps = scoring_times(run.model, images, config.image_size, max(1, args.repeats // 2))
    per_image = [1000 * t / len(images) for t in scoring]
    print(f"(3) deletion + insertion scoring of {len(images)} images, {maps} maps x {STEPS + 1} steps x 2: "
          f"{spread(scoring)} in all, {spread(per_image, 'ms', 1)} per image")

    files_vs_bare, cam_vs_forward = ratios(rate["files"], rate["bare"]), ratios(times["gradcam"], times["forward"])
    files_ok, cam_ok = statistics.median(files_vs_bare) >= 0.8, statistics.median(cam_vs_forward) <= 3
    print(f"\nratios (median of {args.repeats} interleaved rounds [min-max], measured in this run):")
    print(f"  (1) predict on a folder / bare model.predict: {spread(files_vs_bare, '', 3)} (goal >= 0.8)")
    print(f"  (2) Grad-CAM batch / forward pass: {spread(cam_vs_forward, 'x', 2)} (goal <= 3x)")
    print(f"  verdict: (1) {'meets' if files_ok else 'MISSES'} its goal, "
          f"(2) {'meets' if cam_ok else 'MISSES'} its goal")
    write_results("bench_inference", {
        "preset": args.profile, "model": model_name, "image_size": config.image_size, "images": len(files),
        "repeats": args.repeats,
        "images_per_second": {"predict_files": summary(rate["files"], 1), "model_predict": summary(rate["bare"], 1)},
        "gradcam_batch": GRADCAM_BATCH,
        "seconds_per_batch": {"forward": summary(times["forward"]), "gradcam": summary(times["gradcam"])},
        "deletion_insertion": {"images": len(images), "maps": maps, "steps": STEPS + 1,
                               "seconds": summary(scoring, 2), "ms_per_image": summary(per_image, 1)},
        "ratios": {"predict_files_over_model_predict": against_goal(files_vs_bare, ">=", 0.8, 3),
                   "gradcam_over_forward": against_goal(cam_vs_forward, "<=", 3, 3)}}, args.out)


if __name__ == "__main__":
    main()
