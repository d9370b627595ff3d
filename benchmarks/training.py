"""Training-speed ratios, each measured within this one run (so the machine's speed cancels out).

(a) stage 1 epoch: head on cached features vs recomputing the frozen backbone every epoch (goal >= 10x)
(b) input pipeline images/s vs the model's training consumption (goal >= 3x: the pipeline is never the bottleneck)
(c) a whole `fit` epoch (pipeline, callbacks, class weights) vs bare `train_on_batch` on in-memory tensors
    at the same batch size (goal >= 0.8: the training loop adds little)

Each side is timed --repeats times, the sides taking turns; printed: median [min-max] per side and the
median of the per-round ratios with its spread, and the machine.

Usage: python benchmarks/training.py [--profile demo] [--images 512] [--repeats 5] [--out docs/results]

Writes docs/results/bench_training.json.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from results import against_goal, summary, write_results
from timing import header, interleaved, parse_args, ratios, spread


def stage1_times(config, frame, repeats: int):
    """(a): a stage-1 epoch of the head on cached features against one recomputing the frozen backbone, taking
    turns ``repeats`` times after a warm-up of each; returns the model (frozen, compiled) and the seconds per side."""
    from alzmri.data.pipeline import images_only, make_tf_dataset
    from alzmri.models.classifier import build_classifier, feature_extractor, head_model, set_trainable
    from alzmri.models.training import _compile

    bs, labels = config.batch_size, frame["label"].to_numpy()
    model = build_classifier(config)
    set_trainable(model, 0)
    plain = make_tf_dataset(frame, config.image_size, bs)
    features = feature_extractor(model).predict(plain.map(images_only), verbose=0)
    head = head_model(model)
    _compile(head, 1e-3)
    head.fit(features, labels, batch_size=bs, epochs=1, verbose=0)  # warm-up (tracing)
    _compile(model, 1e-3)
    model.fit(plain, epochs=1, verbose=0)
    return model, interleaved({"cached": lambda: head.fit(features, labels, batch_size=bs, epochs=1, verbose=0),
                               "recompute": lambda: model.fit(plain, epochs=1, verbose=0)}, repeats)


def loop_rates(model, config, frame, repeats: int) -> dict:
    """(b) and (c): images per second of the training pipeline alone, of bare ``train_on_batch`` on in-memory
    tensors, and of a whole ``fit`` epoch (pipeline, callbacks, class weights), taking turns ``repeats`` times."""
    from alzmri.data.pipeline import class_weights, make_tf_dataset
    from alzmri.models.classifier import set_trainable
    from alzmri.models.training import _compile, stage_callbacks

    n, bs, labels = len(frame), config.batch_size, frame["label"].to_numpy()
    weights = class_weights(labels)
    set_trainable(model, config.finetune_blocks, freeze_batchnorm=config.weights is not None)
    _compile(model, 1e-4)
    train_ds = make_tf_dataset(frame, config.image_size, bs, training=True, seed=config.seed)
    for _ in train_ds:  # fill the cache, as after the first epoch of a real run
        pass
    x = np.random.default_rng(0).uniform(0, 255, (bs, config.image_size, config.image_size, 3)).astype("float32")
    y = labels[:bs]
    model.train_on_batch(x, y)
    steps = int(np.ceil(n / bs))
    with tempfile.TemporaryDirectory() as work:
        callbacks = stage_callbacks(Path(work), "bench", config)
        model.fit(train_ds, epochs=1, verbose=0, class_weight=weights, callbacks=callbacks, shuffle=False)
        times = interleaved({
            "pipeline": lambda: [None for _ in train_ds],
            "bare": lambda: [model.train_on_batch(x, y) for _ in range(steps)],
            "fit": lambda: model.fit(train_ds, epochs=1, verbose=0, class_weight=weights, callbacks=callbacks,
                                     shuffle=False)}, repeats)
    rate = {name: [n / t for t in ts] for name, ts in times.items()}
    rate["bare"] = [steps * bs / t for t in times["bare"]]
    return rate


def main() -> None:
    args = parse_args(__doc__, images=512)

    import keras

    from alzmri.config import describe_backbone, get_config
    from alzmri.leakage.prepared import prepare_data
    from alzmri.models.training import set_seeds

    config = get_config(args.profile)
    set_seeds(config.seed)
    frame = prepare_data(config, progress=False).part("train").head(args.images)
    model_name = describe_backbone(config.backbone, config.backbone_end)
    header(f"{model_name} at {config.image_size}px, {len(frame)} images, batch {config.batch_size}, "
           f"{args.repeats} rounds")
    model, stage1 = stage1_times(config, frame, args.repeats)
    print(f"(a) stage-1 epoch: cached features {spread(stage1['cached'])}, recomputing the backbone "
          f"{spread(stage1['recompute'])}")
    rate = loop_rates(model, config, frame, args.repeats)
    print(f"(b) pipeline {spread(rate['pipeline'], 'img/s', 0)}, model consumes {spread(rate['bare'], 'img/s', 1)}")
    print(f"(c) fit epoch {spread(rate['fit'], 'img/s', 1)}, bare train_on_batch {spread(rate['bare'], 'img/s', 1)}")

    speedup = ratios(stage1["recompute"], stage1["cached"])
    headroom = ratios(rate["pipeline"], rate["bare"])
    loop = ratios(rate["fit"], rate["bare"])
    print(f"\nratios (median of {args.repeats} interleaved rounds [min-max], measured in this run):")
    print(f"  (a) cached-feature stage 1 speed-up: {spread(speedup, 'x', 1)}  (goal >= 10x)")
    print(f"  (b) pipeline / training consumption: {spread(headroom, 'x', 1)}  (goal >= 3x)")
    print(f"  (c) fit epoch / bare train_on_batch: {spread(loop, '', 2)}  (goal >= 0.8)")
    write_results("bench_training", {
        "preset": args.profile, "model": model_name, "image_size": config.image_size, "images": len(frame),
        "batch_size": config.batch_size, "repeats": args.repeats,
        "seconds_per_stage1_epoch": {"cached_features": summary(stage1["cached"]),
                                     "recomputing_backbone": summary(stage1["recompute"])},
        "images_per_second": {"pipeline": summary(rate["pipeline"], 1), "train_on_batch": summary(rate["bare"], 1),
                              "fit_epoch": summary(rate["fit"], 1)},
        "ratios": {"stage1_recomputing_over_cached": against_goal(speedup, ">=", 10, 2),
                   "pipeline_over_training": against_goal(headroom, ">=", 3, 2),
                   "fit_over_train_on_batch": against_goal(loop, ">=", 0.8, 3)}}, args.out)
    keras.backend.clear_session()


if __name__ == "__main__":
    main()
