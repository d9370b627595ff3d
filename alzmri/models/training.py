"""Two-stage training, resumable, saved as a run folder.

Stage 1 trains only the head, on backbone features computed once per image and cached: with the
backbone frozen, recomputing them every epoch would be wasted work. Stage 2 unfreezes the top blocks
at a lower learning rate, with on-the-fly augmentation. A run in progress lives in
``<runs_dir>/.<name>.partial/``; started again with the same settings it resumes from its last
completed epoch, and only a finished run is moved (atomically) to ``<runs_dir>/<name>/``.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri import __version__
from alzmri.config import CLASS_NAMES, Config, describe_backbone, training_settings
from alzmri.errors import RunError, SettingsError
from alzmri.files import atomic_path, ensure_writable
from alzmri.leakage.prepared import PreparedData, check_held_out, prepare_data
from alzmri.leakage.saved_splits import split_record
from alzmri.metrics import headline_metrics
from alzmri.models.cards import write_model_card
from alzmri.models.classifier import PREPROCESSING, build_classifier, feature_extractor, head_model, set_trainable
from alzmri.models.emissions import track_emissions
from alzmri.models.input_check import fit_input_check
from alzmri.models.person import describe_person, fit_person_model, slice_answers
from alzmri.models.runs import (CONFIG_FILE, DATA_FILE, PARTIAL_SUFFIX, SPLITS_FILE, is_finished, partial_folder,
                                refuse_finished, run_folder, run_lock, save_run, saved_config)
from alzmri.progress import keras_verbose, show_bars
from alzmri.safe_text import one_line



def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow in one place."""
    import keras

    keras.utils.set_random_seed(seed)


def get_strategy(name: str = "auto"):
    """A ``tf.distribute`` strategy: ``auto`` (TPU, else several GPUs mirrored), ``none`` or ``mirrored``."""
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name != "auto":
        raise SettingsError(f"strategy must be 'auto', 'none' or 'mirrored', got {name!r}")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()  # Colab TPU runtime
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        pass
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


@contextmanager
def mixed_precision_if_gpu():
    """Mixed float16 on a GPU (the head's softmax stays float32), float32 elsewhere, for one training.

    Keras' dtype policy is global; the caller's policy is restored afterwards, so models built later
    in the same process (a notebook, the tests) are not silently half precision.
    """
    import keras
    import tensorflow as tf

    before = keras.mixed_precision.global_policy()
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    keras.mixed_precision.set_global_policy("mixed_float16" if on_gpu else "float32")
    try:
        yield on_gpu
    finally:
        keras.mixed_precision.set_global_policy(before)


def _compile(model, learning_rate: float) -> None:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def _even(n: int) -> int:
    """The largest count <= n that the current strategy's replicas can share evenly.

    Keras 3 with MirroredStrategy fails on a last batch that does not split evenly over the replicas
    ("Inputs to operation AddN ... must have the same size"), so under several replicas up to
    replicas - 1 examples of a split are left out of training and validation.
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return n - n % replicas


def cache_features(model, frame: pd.DataFrame, config: Config, passes: int = 1,
                   progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Pooled backbone features of ``frame``'s images: pass 0 plain, further passes augmented.

    Images and labels are taken from one iteration of each pass, so a shuffled, augmented pass
    keeps every feature vector next to its own label.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    from alzmri.data.pipeline import make_tf_dataset, model_frame

    extractor = feature_extractor(model)
    # A compiled direct call: predict_on_batch returns one replica's share under MirroredStrategy.
    extract = tf.function(lambda images: extractor(images, training=False), reduce_retracing=True)
    features, labels = [], []
    for p in range(passes):
        ds = make_tf_dataset(model_frame(frame, config.neighbour_slices), config.image_size, config.batch_size,
                             training=p > 0, seed=config.seed + p,
                             cache=False)  # each pass is read once
        for images, batch_labels in tqdm(ds, desc=f"backbone features, pass {p + 1}/{passes}", unit="batch",
                                         total=int(np.ceil(len(frame) / config.batch_size)), disable=not show_bars(progress)):
            features.append(extract(images).numpy())
            labels.append(batch_labels.numpy())
    return np.concatenate(features), np.concatenate(labels)


def _count(n: int, word: str) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def _finetune_plan(config: Config) -> str:
    """Stage 2 of :func:`training_plan`."""
    blocks = "all blocks" if config.finetune_blocks < 0 else f"the top {_count(config.finetune_blocks, 'block')}"
    ratio = config.head_learning_rate / config.finetune_learning_rate
    lower = f" ({ratio:g}x lower than the head's)" if ratio > 1 else ""
    batchnorm = "frozen" if config.weights is not None else "learning"
    return (f"stage 2: {blocks} and the head, up to {_count(config.finetune_epochs, 'epoch')}, learning rate "
            f"{config.finetune_learning_rate:g}{lower}, augmentation {'on' if config.augment else 'off'}, "
            f"BatchNorm {batchnorm}")


def training_plan(config: Config) -> str:
    """What :func:`train` will do with these settings, in words and the preset's own numbers."""
    backbone = describe_backbone(config.backbone, config.backbone_end)
    weights = "ImageNet weights" if config.weights == "imagenet" else (
        "from scratch" if config.weights is None else f"weights from {config.weights}")
    stage1 = (f"stage 1: the head alone, {_count(config.head_epochs, 'epoch')} on cached backbone features, "
              f"learning rate {config.head_learning_rate:g}" if config.head_epochs > 0 else
              "stage 1: skipped (head_epochs 0: a backbone trained from scratch has no features to cache yet)")
    stage2 = _finetune_plan(config) if config.finetune_epochs > 0 else "stage 2: skipped (finetune_epochs 0)"
    return (f"{backbone} ({weights}) at {config.image_size} px, batch {config.batch_size}; {stage1}; {stage2}; "
            f"early stopping after {config.patience} epochs without a better val_loss")


def stage_callbacks(work: Path, stage: str, config: Config) -> list:
    """Early stopping, LR schedule, best checkpoint, backup/restore, CSV log (and TensorBoard) for one stage.

    Args:
        work: the run's partial folder, where the checkpoint, the backup and the log of the stage go.
        stage: ``stage1`` or ``stage2``.
        config: the settings (patience, TensorBoard).

    Returns:
        The Keras callbacks, in the order ``fit`` calls them.
    """
    import keras

    log = work / f"history_{stage}.csv"
    best = None
    if log.exists() and log.stat().st_size:  # resuming: the checkpoint must beat the best epoch so far
        previous = pd.read_csv(log)
        best = float(previous["val_loss"].min()) if "val_loss" in previous and len(previous) else None
    run_name = work.name.removeprefix(".").removesuffix(PARTIAL_SUFFIX)
    extra = [keras.callbacks.TensorBoard(work.parent / "tensorboard" / run_name / stage)] if config.tensorboard else []
    return extra + [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, config.patience // 2)),
        keras.callbacks.ModelCheckpoint(work / f"best_{stage}.weights.h5", monitor="val_loss", save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best),
        keras.callbacks.BackupAndRestore(work / f"backup_{stage}"),
        keras.callbacks.CSVLogger(log, append=True),
    ]


def train_head(model, data: PreparedData, config: Config, work: Path, progress: bool = True) -> None:
    """Stage 1: the head on cached features of the frozen backbone (weights land in ``model``); none if
    ``head_epochs`` is 0 (a backbone trained from scratch has no features worth a head of their own yet)."""
    import tensorflow as tf

    from alzmri.data.pipeline import class_weights

    if config.head_epochs <= 0:
        return
    set_trainable(model, 0)
    store = work / "features.npz"
    if store.exists():
        cached = np.load(store)
        x_train, y_train, x_val, y_val = (cached[k] for k in ("x_train", "y_train", "x_val", "y_val"))
    else:
        x_train, y_train = cache_features(model, data.part("train"), config, config.feature_passes, progress)
        x_val, y_val = cache_features(model, data.part("val"), config, 1, progress)
        with atomic_path(store, suffix=".npz") as tmp:
            np.savez(tmp, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    head = head_model(model)
    _compile(head, config.head_learning_rate)
    n_train, n_val = _even(len(x_train)), _even(len(x_val))
    batches = tf.data.Dataset.from_tensor_slices((x_train[:n_train], y_train[:n_train]))
    batches = batches.shuffle(n_train, seed=config.seed).batch(config.batch_size)
    head.fit(batches, validation_data=(x_val[:n_val], y_val[:n_val]), epochs=config.head_epochs,
             class_weight=class_weights(y_train), shuffle=False, verbose=keras_verbose(progress, per_epoch=True),
             callbacks=stage_callbacks(work, "stage1", config))
    _load_best(head, work, "stage1")


def finetune(model, data: PreparedData, config: Config, work: Path, progress: bool = True) -> None:
    """Stage 2: the top ``finetune_blocks`` blocks and the head, lower learning rate, augmentation."""
    from alzmri.data.pipeline import class_weights, make_tf_dataset, model_frame

    if config.finetune_epochs <= 0:
        return
    set_trainable(model, config.finetune_blocks, freeze_batchnorm=config.weights is not None)
    _compile(model, config.finetune_learning_rate)
    train_part, val_part = (model_frame(data.part(part), config.neighbour_slices) for part in ("train", "val"))
    train = make_tf_dataset(train_part.iloc[:_even(len(train_part))], config.image_size, config.batch_size,
                            training=True, augment=config.augment, seed=config.seed)
    val = make_tf_dataset(val_part.iloc[:_even(len(val_part))], config.image_size, config.batch_size)
    model.fit(train, validation_data=val, epochs=config.finetune_epochs,
              class_weight=class_weights(data.part("train")["label"].to_numpy()), shuffle=False,
              verbose=keras_verbose(progress, per_epoch=True),
              callbacks=stage_callbacks(work, "stage2", config))
    _load_best(model, work, "stage2")


def _load_best(model, work: Path, stage: str) -> None:
    """Keep the best epoch of the whole stage, also when it came before an interruption and resume."""
    best = work / f"best_{stage}.weights.h5"
    if best.exists():
        model.load_weights(best)


def library_versions() -> dict:
    """Versions of everything a saved run depends on."""
    import keras
    import PIL
    import sklearn
    import tensorflow as tf

    return {"alzmri": __version__, "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "pillow": PIL.__version__, "pandas": pd.__version__}


def _check_resumable(work: Path, config: Config, fingerprint: str) -> bool:
    """True if ``work`` holds a partial run of the same settings and data; a RunError if either differs.

    The data's fingerprint counts as much as the settings: a dataset changed under the same path must
    not resume an old run, nor reuse its cached stage-1 features.
    """
    settings = work / CONFIG_FILE
    if not settings.exists():
        return False
    previous = training_settings(json.loads(settings.read_text()))
    current = json.loads(json.dumps(config.training_settings()))
    if previous != current:
        changed = sorted(k for k in previous.keys() | current.keys() if previous.get(k) != current.get(k))
        raise RunError(f"An unfinished run in {work} was started with other settings ({changed}); "
                       "use another --run-name, or delete that folder to start over")
    data_file = work / DATA_FILE
    if not data_file.exists():
        raise RunError(f"An unfinished run in {work} does not record which data it was started on, "
                       "so it cannot be resumed safely; use another --run-name, or delete "
                       "that folder to start over")
    started_on = json.loads(data_file.read_text()).get("data_fingerprint")
    if started_on != fingerprint:
        raise RunError(f"An unfinished run in {work} was started on other data (fingerprint {started_on}, the data "
                       f"in {config.data} now has {fingerprint}); use another --run-name, or delete that folder "
                       "to start over")
    return True


def _forget_empty_start(work: Path) -> None:
    """Remove a ``.partial`` folder that holds nothing but its settings: a failed start must not block the next."""
    if work.exists() and {p.name for p in work.iterdir()} <= {CONFIG_FILE, DATA_FILE}:
        shutil.rmtree(work, ignore_errors=True)


def history_frame(work: Path) -> pd.DataFrame:
    """Both stages' CSV logs as one table with a ``stage`` column and a running ``epoch``."""
    parts = []
    for stage in ("stage1", "stage2"):
        log = work / f"history_{stage}.csv"
        if log.exists() and log.stat().st_size:
            # an epoch killed between its backup and its log line is run again: keep its last record
            parts.append(pd.read_csv(log).drop_duplicates("epoch", keep="last").assign(stage=stage))
    history = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["epoch", "stage"])
    history["step"] = np.arange(len(history))
    return history


def build_metadata(config: Config, data: PreparedData, metrics: dict, seconds: float,
                   input_check: dict | None = None, emissions: dict | None = None) -> dict:
    """Everything needed to reuse or audit a run later (``input_check``: the check's settings, if one was built;
    ``emissions``: the training's energy estimate, :func:`alzmri.models.emissions.track_emissions`)."""
    return {
        "classes": list(CLASS_NAMES),
        "image_size": config.image_size,
        **network_record(config),
        "profile": config.profile,
        "split": config.split,
        "labels": "shuffled by subject (memorisation check)" if config.shuffle_labels else "true",
        "split_file": SPLITS_FILE,
        "subjects": {"method": data.subjects.method, "ground_truth": data.subjects.is_truth,
                     "count": int(data.frame.loc[data.frame["subject"] != "", "subject"].nunique())}
        if data.subjects else None,
        "data": str(data.root),
        "data_fingerprint": data.fingerprint,
        **split_record(data),  # split_sizes and split_sha256: evaluate checks splits.csv against them
        "seed": config.seed,
        "config": config.to_dict(),
        "metrics": metrics,
        "train_seconds": round(seconds, 1),
        "emissions": emissions or {"error": "not tracked"},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        "synthetic": data.synthetic,
        "input_check": input_check or {"file": None, "note": "not stored: no training or no validation slices"},
        "disclaimer": "Research/teaching model, not a medical device; outputs are not diagnoses.",
    }


def network_record(config: Config) -> dict:
    """What a run's metadata says about its network: ``model`` (``cnn`` or ``person``), its description, its input,
    preprocessing, backbone and weights."""
    if config.model == "person":
        return {"model": "person", "model_description": describe_person(config),
                "input": f"a stack of {config.person_slices} grey slices per subject (evenly spaced over its slices by "
                         "position), raw 0-255; rescaling is inside the model",
                "preprocessing": "rescaling 1/255", "backbone": None, "backbone_end": None,
                "weights": "none (trained from scratch)"}
    channels = ("the slice below, the slice and the slice above in its brain as the 3 channels (2.5-D)"
                if config.neighbour_slices else "grey (the mean of R, G, B) repeated to 3 channels")
    return {"model": "cnn", "model_description": describe_backbone(config.backbone, config.backbone_end),
            "input": f"raw RGB 0-255, {channels}; preprocessing is inside the model",
            "preprocessing": PREPROCESSING.get(config.backbone, "tf"), "backbone": config.backbone,
            "backbone_end": config.backbone_end,  # None: the whole backbone
            "weights": config.weights or "none (trained from scratch)"}


def get_or_train(config: Config, run_name: str | None = None, data: PreparedData | None = None,
                 strategy: str = "auto", progress: bool = True, replace: bool = False) -> Path:
    """The finished run of these settings and data if there is one (demo, notebooks and ``compare`` reuse it),
    else train it.

    Raises:
        RunError: a finished run of these settings was trained on other data (same path, changed files).
    """
    config = config.with_absolute_data()
    run_dir = run_folder(config, run_name)
    saved, meta = saved_config(run_dir) if is_finished(run_dir) else (None, {})
    if saved is not None and saved.training_settings() == config.training_settings() and not replace:
        data = data or prepare_data(config, progress)
        trained_on = meta.get("data_fingerprint")
        if trained_on != data.fingerprint:
            again = ("delete that folder to train it again" if config.cv_fold else "pass another run_name "
                     "(--run-name on the command line) to train on this data, or replace=True (--replace) to train this "
                     "run again")  # a fold of `alzmri cv` is named by cv, which has neither option
            raise RunError(f"{run_dir} was trained with these settings on other data (fingerprint {trained_on}; the "
                           f"data in {one_line(data.root)} now has {data.fingerprint}): {again}")
        if progress:
            anew = ("delete that folder to train it anew" if config.cv_fold else "to train anew, pass another "
                    "run_name, e.g. get_or_train(config, run_name=\"try2\") (--run-name on the command line)")
            print(f"Reusing the finished run {one_line(run_dir)} (same settings, same data); {anew}")
        return run_dir
    return train(config, run_name=run_name, data=data, strategy=strategy, progress=progress, replace=replace)


def train(config: Config, run_name: str | None = None, data: PreparedData | None = None,
          strategy: str = "auto", progress: bool = True, replace: bool = False) -> Path:
    """Train ``config`` end to end (resuming an interrupted run of the same name) and save the run.

    Args:
        config: the settings.
        run_name: the folder under ``config.runs_dir`` (default: from the settings).
        data: prepared data (default: prepared from ``config.data``).
        strategy: the ``tf.distribute`` strategy (see :func:`get_strategy`).
        progress: show progress bars and messages.
        replace: train again over a finished run of this name; it stays in place until the new one is saved.

    Raises:
        RunError: a finished run of this name exists (and not ``replace``), or another process is training it.
    """
    config = config.with_absolute_data()
    run_dir = run_folder(config, run_name)
    refuse_finished(run_dir, replace)
    ensure_writable(run_dir.parent, "the runs folder: set $ALZMRI_RUNS or runs_dir to move it")
    with run_lock(run_dir):
        refuse_finished(run_dir, replace)  # again: another process may have finished it meanwhile
        if config.model == "person":
            return _train_person_locked(config, run_dir, data, progress)
        return _train_locked(config, run_dir, data, strategy, progress)


def _train_locked(config: Config, run_dir: Path, data: PreparedData | None, strategy: str, progress: bool) -> Path:
    """:func:`train`'s work, with the run locked: prepare, resume or start, two stages, save."""

    start = time.time()
    set_seeds(config.seed)
    data = data or prepare_data(config, progress)
    check_held_out(data)  # an empty val split would otherwise fail deep in the feature cache
    work = partial_folder(run_dir)
    resuming = _check_resumable(work, config, data.fingerprint)
    work.mkdir(parents=True, exist_ok=True)
    (work / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    (work / DATA_FILE).write_text(json.dumps({"data_fingerprint": data.fingerprint}) + "\n")
    if resuming:
        for message in drop_torn_checkpoints(work):
            warnings.warn(message, UserWarning, stacklevel=2)
        if progress:
            print(f"Resuming the unfinished run in {work}")
    if progress:
        print(f"Training {training_plan(config)}")
    try:
        with track_emissions(config) as emissions, mixed_precision_if_gpu(), get_strategy(strategy).scope():
            model = build_classifier(config)
            if (work / "stage1.weights.h5").exists():
                model.load_weights(work / "stage1.weights.h5")
            else:
                train_head(model, data, config, work, progress)
                save_weights_atomically(model, work / "stage1.weights.h5")
            finetune(model, data, config, work, progress)
    except BaseException:
        _forget_empty_start(work)
        raise
    if resuming and "error" not in emissions:
        emissions["note"] = "the training after the last resume only"
    metrics = validation_metrics(model, data, config)
    check = fit_input_check(model, data.part("train"), data.part("val"), config.image_size, config.seed,
                            neighbours=config.neighbour_slices)
    metadata = build_metadata(config, data, metrics, time.time() - start, check.settings() if check else None,
                              emissions)
    save_run(model, metadata, history_frame(work), run_dir, data.frame, check)
    write_model_card(run_dir)  # validation only until `evaluate` scores the test split and rewrites it
    shutil.rmtree(work, ignore_errors=True)
    return run_dir


def _train_person_locked(config: Config, run_dir: Path, data: PreparedData | None, progress: bool) -> Path:
    """:func:`train`'s work for a model of the person (``config.model`` ``person``), with the run locked: one fit on
    the training subjects' original slices, early stopping on the validation subjects, saved as any run is.

    It trains in minutes at most, so there is no resuming and no stage 1; it stores no input check (the check
    compares single slices, which this model does not answer).
    """
    start = time.time()
    set_seeds(config.seed)
    data = data or prepare_data(config, progress)
    check_held_out(data)
    if progress:
        print(f"Training the {describe_person(config)}, at {config.image_size} px, up to "
              f"{_count(config.person_epochs, 'epoch')}; early stopping after {config.patience} epochs without a "
              "better val_loss")
    train_part = data.part("train")
    with track_emissions(config) as emissions:
        model, history = fit_person_model(train_part[train_part["kind"] == "original"], data.part("val"), config,
                                          progress)
    metadata = build_metadata(config, data, validation_metrics(model, data, config), time.time() - start, None,
                              emissions)
    save_run(model, metadata, history, run_dir, data.frame)
    write_model_card(run_dir)
    return run_dir


def validation_metrics(model, data, config) -> dict:
    """The headline metrics (no intervals) on the validation split: the summary of a training run.

    Test-split numbers are left to :func:`evaluate_run` on purpose: printed after every training, they
    invite tuning the settings on the test split.
    """
    part = data.part("val")
    if part.empty:
        return {}
    proba = slice_answers(model, part, config)
    return {"val": {"images": int(len(part)), **headline_metrics(part["label"].to_numpy(), proba)}}


def save_weights_atomically(model, path: Path) -> None:
    """Write weights beside ``path`` and move them into place: a kill mid-write never leaves a torn ``path``."""
    with atomic_path(path, suffix=".weights.h5") as partial:  # Keras wants the name to end in .weights.h5
        model.save_weights(partial)


def readable_h5(path: Path) -> bool:
    """Whether an HDF5 file opens and every dataset in it can be read (a torn write fails here)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
        return True
    except (OSError, ValueError, KeyError, RuntimeError):
        return False


def drop_torn_checkpoints(work: Path) -> list[str]:
    """Remove checkpoints of an unfinished run that a kill left half-written; say what each loss costs.

    Keras callbacks write ``best_<stage>.weights.h5`` and ``backup_<stage>/`` themselves, so their
    writes cannot be made atomic here; they are checked on resume instead.

    Returns:
        One message per removed file or folder.
    """
    messages = []
    for path in sorted(work.glob("*.weights.h5")):
        if not readable_h5(path):
            path.unlink()
            cost = ("stage 1 is trained again" if path.name == "stage1.weights.h5" else
                    "its best epoch so far is forgotten; training goes on from the last backup")
            messages.append(f"{path} was torn (a kill during its save?): removed, {cost}")
    for backup in sorted(p for p in work.glob("backup_*") if p.is_dir()):
        if not all(readable_h5(h5) for h5 in backup.rglob("*.h5")) or _torn_json(backup):
            shutil.rmtree(backup)
            messages.append(f"{backup} was torn (a kill during its save?): removed, its stage starts again from "
                            "epoch 1 (the epochs already logged are kept in the history)")
    return messages


def _torn_json(folder: Path) -> bool:
    """Whether any JSON file in ``folder`` fails to parse."""
    for path in folder.rglob("*.json"):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):
            return True
    return False
