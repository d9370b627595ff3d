"""Inference-speed ratios, each measured within this one run.

(1) `predict` on a folder of image files (find, read, check, resize, predict) vs bare `model.predict`
    on the same images already decoded in memory (goal >= 0.8)
(2) Grad-CAM for a batch vs a forward pass of the same batch (goal <= 3x: one backward pass per batch)

Usage: python benchmarks/inference.py [--profile demo] [--images 256]
"""

from __future__ import annotations

from pathlib import Path

from timing import parse_args, timed

GRADCAM_BATCH = 32


def main() -> None:
    args = parse_args(__doc__, images=256)

    from alzmri.config import get_config
    from alzmri.pipeline import collect_image_files, read_images_for_model
    from alzmri.evaluate import predict_files
    from alzmri.gradcam import gradcam
    from alzmri.model import Run, build_classifier
    from alzmri.train import prepare_data

    config = get_config(args.profile)
    frame = prepare_data(config, progress=False).frame
    folder = Path(frame["path"].iloc[0]).parent  # one class folder of the demo data
    files = collect_image_files([str(folder)])[: args.images]
    run = Run(folder, build_classifier(config), {"image_size": config.image_size})
    decoded = read_images_for_model(files, config.image_size)
    print(f"{config.backbone} at {config.image_size}px, {len(files)} images from {folder}")

    run.model.predict(decoded, verbose=0, batch_size=32)  # warm-up: trace every batch shape timed below
    predict_files(run, files[:8])
    bare = len(files) / timed(lambda: run.model.predict(decoded, verbose=0, batch_size=32))
    whole = len(files) / timed(lambda: predict_files(run, files))
    print(f"(1) predict on files {whole:.1f} img/s, bare model.predict {bare:.1f} img/s")

    batch = decoded[:GRADCAM_BATCH]
    run.model.predict(batch, verbose=0, batch_size=len(batch))
    gradcam(run.model, batch)
    forward = min(timed(lambda: run.model.predict(batch, verbose=0, batch_size=len(batch))) for _ in range(3))
    explain = min(timed(lambda: gradcam(run.model, batch)) for _ in range(3))
    print(f"(2) batch of {len(batch)}: forward {forward:.3f} s, Grad-CAM {explain:.3f} s")

    print("\nratios (measured in this run):")
    print(f"  (1) predict on a folder / bare model.predict: {whole / bare:.2f}  (goal >= 0.8)")
    print(f"  (2) Grad-CAM batch / forward pass: {explain / forward:.2f}x  (goal <= 3x)")


if __name__ == "__main__":
    main()
