"""The run folder and everything in it: the one module that knows its files' names.

A run is a folder ``<runs_dir>/<name>/`` holding the model, its metadata (settings, data, split, versions), the
training history, which file went to which split, the input check, the metrics of every evaluation, the model card
and figures. This module names each of those files, reads and writes the metadata and the metrics (atomically),
holds the run's lock (one training at a time, evaluations one after another), saves a finished run, loads one, finds
the finished runs of a folder and a run's shuffled-label sibling (from their metadata, not their names), and
builds the table behind ``alzmri runs``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alzmri.config import CLASS_NAMES, HF_REPO, KAGGLE_HANDLE, Config, describe_backbone
from alzmri.errors import RunError, SettingsError, SplitsFileError
from alzmri.files import write_text_atomically
from alzmri.leakage.prepared import PreparedData
from alzmri.leakage.saved_splits import load_splits, save_splits
from alzmri.safe_text import one_line

#: The files of a finished run.
MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
SPLITS_FILE = "splits.csv"
CHECK_FILE = "input_check.npz"
CARD_FILE = "MODEL_CARD.md"
FIGURES_DIR = "figures"
#: In an unfinished run's folder (``.<name>.partial`` beside the run): its settings and the fingerprint of the
#: data it was started on.
CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
PARTIAL_SUFFIX = ".partial"
#: Beside the run: its lock, and the queue of evaluations waiting for it.
LOCK_SUFFIX = ".lock"
QUEUE_SUFFIX = ".evaluating.lock"


def default_run_name(config: Config) -> str:
    """A run name that the same command always gives, so that a rerun resumes it (a model of the person is named
    ``person`` where a slice classifier names its backbone)."""
    data = "" if config.data == "demo" else "-" + re.sub(r"[^A-Za-z0-9]+", "_", Path(config.data).name or "data")
    shuffled = "-shuffled" if config.shuffle_labels else ""
    depth = "-2.5d" if config.neighbour_slices and config.model == "cnn" else ""
    network = "person" if config.model == "person" else config.backbone.lower()
    return (f"{config.profile}{data}-{network}-{config.split}{shuffled}-{config.image_size}px{depth}"
            f"-seed{config.seed}")


def is_person_run(metadata: dict) -> bool:
    """Whether a run is a model of the person (:mod:`alzmri.models.person`: one answer per subject from its stack),
    as its metadata's settings say; a slice classifier otherwise.

    Args:
        metadata: the run's ``metadata.json`` (its ``config`` block says the model).

    Returns:
        True for a model of the person (a run saved before the setting existed is a slice classifier).
    """
    config = metadata.get("config")
    return isinstance(config, dict) and config.get("model") == "person"


def is_stacked_run(metadata: dict) -> bool:
    """Whether a run was trained on 2.5-D input (``neighbour_slices``: each slice's channels are the slice below, the
    slice and the slice above), as its metadata's settings say.

    Args:
        metadata: the run's ``metadata.json``.

    Returns:
        True for a 2.5-D run; False for one that takes single slices (or whose settings are unreadable).
    """
    config = metadata.get("config")
    return isinstance(config, dict) and bool(config.get("neighbour_slices"))


def describe_network(metadata: dict) -> str:
    """A run's network in words, from its metadata: the model of the person's description, or the backbone.

    Args:
        metadata: the run's ``metadata.json``, as read (values of the wrong kind are shown, never trusted).

    Returns:
        e.g. ``ResNet50V2 up to stage conv3``, or the model of the person's one-line description.
    """
    config = metadata.get("config") if isinstance(metadata.get("config"), dict) else {}
    if is_person_run(metadata):
        return one_line(metadata.get("model_description", "model of the person"))
    return describe_backbone(str(metadata.get("backbone", "?")), config.get("backbone_end"))


def run_folder(config: Config, run_name: str | None = None) -> Path:
    """The folder of a run: ``<runs_dir>/<run_name>``, refusing names that would lead anywhere else.

    Raises:
        ValueError: ``run_name`` is not a plain folder name (a path, ``..``, hidden, or odd characters).
    """
    name = run_name or default_run_name(config)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or ".." in name:
        raise SettingsError(f"--run-name must be a plain folder name (letters, digits, '.', '_', '-'; no path, "
                            f"no '..'), got {name!r}: runs always live in {config.runs_dir}/")
    return Path(config.runs_dir) / name


def partial_folder(run_dir: Path) -> Path:
    """Where an unfinished run of ``run_dir`` lives until it is saved: ``.<name>.partial`` beside it."""
    return run_dir.parent / f".{run_dir.name}{PARTIAL_SUFFIX}"


def is_finished(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run (its metadata is written last, when the run is saved)."""
    return (Path(run_dir) / METADATA_FILE).exists()


def read_json(path: Path) -> dict:
    """A JSON file as a dict; missing, unreadable or not an object: empty."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def peek_metadata(run_dir: Path) -> dict:
    """A run's metadata as a dict; missing, unreadable or not an object: empty (for listings and cards)."""
    return read_json(Path(run_dir) / METADATA_FILE)


def read_metrics(run_dir: Path) -> dict:
    """A run's metrics (every evaluation, by key) as a dict; none yet or unreadable: empty."""
    return read_json(Path(run_dir) / METRICS_FILE)


def _metadata_table(path: Path) -> tuple[dict, str | None]:
    """A metadata file's contents, and what is wrong with it (None when it is a JSON table): the one parser behind
    :func:`read_metadata`, :func:`saved_config` and :func:`recorded_split`, which each word the problem for
    their error."""
    try:
        metadata = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {}, f"missing or unreadable ({type(err).__name__}: {one_line(err)})"
    if not isinstance(metadata, dict):
        return {}, f"not a run's metadata (a {type(metadata).__name__}, not a table)"
    return metadata, None


def read_metadata(run_dir: Path) -> dict:
    """A run's metadata, checked to be a run's.

    Args:
        run_dir: the run folder.

    Returns:
        The metadata.

    Raises:
        RunError: it is missing, unreadable, or lacks what every run records (classes, image size, settings).
    """
    path = Path(run_dir) / METADATA_FILE
    metadata, problem = _metadata_table(path)
    if problem:
        raise RunError(f"{path} is {problem}")
    missing = sorted({"classes", "image_size", "config"} - set(metadata))
    if missing:
        raise RunError(f"{path} is not a run's metadata (missing {', '.join(missing)}); was the run written by "
                       "`alzmri train`?")
    return metadata


def write_metadata(run_dir: Path, metadata: dict) -> Path:
    """Write a run's metadata atomically (:func:`alzmri.files.write_text_atomically`)."""
    return write_text_atomically(Path(run_dir) / METADATA_FILE, json.dumps(metadata, indent=2, default=str) + "\n")


def data_name(metadata: dict) -> str:
    """The data a run learnt from, named as a user would look it up (Kaggle handle, HF repo, folder name)."""
    spec = str((metadata.get("config") or {}).get("data", metadata.get("data", "?")))
    if is_synthetic(metadata):
        return "alzmri.data.synthetic demo set" if spec == "demo" else f"alzmri.data.synthetic set {Path(spec).name}"
    return {"kaggle": KAGGLE_HANDLE, "hf": HF_REPO}.get(spec, Path(spec).name or spec)


def is_synthetic(metadata: dict) -> bool:
    """Whether the run learnt from synthetic data (its metadata's ``synthetic`` flag)."""
    return bool(metadata.get("synthetic"))


def saved_config(run_dir: Path) -> tuple[Config, dict]:
    """The settings a finished run was trained with, and its whole metadata.

    Args:
        run_dir: the run folder.

    Returns:
        ``(config, metadata)``.

    Raises:
        RunError: its metadata is missing, unreadable, or not this layout's (named, with what to do).
    """
    path = Path(run_dir) / METADATA_FILE
    metadata, problem = _metadata_table(path)
    if problem:
        raise RunError(f"{path} is not a run's metadata: it is {problem}")
    return run_config(metadata, run_dir), metadata


def run_config(metadata: dict, run_dir: Path) -> Config:
    """The :class:`Config` a run's metadata records.

    Raises:
        RunError: the metadata holds no settings, or settings this version of alzmri does not know.
    """
    try:
        return Config.from_dict(metadata["config"])
    except (KeyError, TypeError, SettingsError) as err:
        raise RunError(f"{run_dir / METADATA_FILE} does not hold settings this alzmri can use ({one_line(err)}): "
                       "train the run again (--replace)") from None


def recorded_split(run_dir: Path) -> dict:
    """A run's metadata as the record its ``splits.csv`` is checked against; a SplitsFileError if unreadable."""
    path = Path(run_dir) / METADATA_FILE
    recorded, problem = _metadata_table(path)
    if problem:
        raise SplitsFileError(f"{path} is {problem}, so the run's {SPLITS_FILE} cannot be checked: train the run "
                              "again (--replace)")
    return recorded


def load_run_splits(run_dir: Path, config: Config, progress: bool = True) -> PreparedData:
    """The data of a saved run split as it was trained (:func:`alzmri.leakage.saved_splits.load_splits` on its
    ``splits.csv``, checked against what its metadata recorded).

    Raises:
        SplitsFileError: the file is gone, unreadable, or not what the run's metadata recorded.
    """
    return load_splits(Path(run_dir) / SPLITS_FILE, recorded_split(Path(run_dir)), config, progress)


def refuse_finished(run_dir: Path, replace: bool) -> None:
    """A finished run is only ever replaced on request: a RunError unless ``replace``."""
    if is_finished(run_dir) and not replace:
        raise RunError(f"{run_dir} is a finished run; nothing was changed. To train another, pass a new --run-name, "
                       "or --replace to train this one again (the finished run is kept until the new one is saved)")


@contextmanager
def run_lock(run_dir: Path, evaluation: bool = False):
    """Hold the run's lock for the ``with`` block: one training at a time, or evaluations one after another.

    A training holds ``<runs_dir>/.<name>.lock`` exclusively from start to save; an evaluation holds it shared
    (from loading the run to its last figure) and queues behind other evaluations on ``.<name>.evaluating.lock``.
    A training or evaluation that finds the run being trained stops at once: a training lasts up to hours, and
    waiting for it would score a model that did not exist when the command was given. A training waits for the
    evaluations in progress, and an evaluation for the one before it (each takes minutes), with a note.
    OS file locks (``fcntl.flock``): a killed holder never leaves a stale lock; the last holder removes the
    files. Where ``fcntl`` is missing (Windows) runs are not locked.

    Args:
        run_dir: the run folder (it need not exist yet).
        evaluation: lock for an evaluation rather than a training.

    Raises:
        RunError: the run is being trained by another process.
    """
    try:
        import fcntl  # noqa: F401
    except ImportError:
        yield
        return
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = run_dir.parent / f".{run_dir.name}{LOCK_SUFFIX}"
    held = [_evaluation_lock(lock, run_dir)] if evaluation else [_training_lock(lock, run_dir)]
    try:
        if evaluation:
            held.append(_queued_lock(run_dir.parent / f".{run_dir.name}{QUEUE_SUFFIX}", run_dir))
        yield
    finally:
        for handle in reversed(held):
            _release(handle)


def _locked(path: Path, mode: int):
    """``path`` opened and locked (``fcntl.flock`` ``mode``), or None where a non-blocking lock is taken.

    A lock on a file that its last holder removed meanwhile would lock nothing: it is taken again on the file
    now at ``path``.
    """
    import fcntl

    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, mode)
        except BlockingIOError:
            handle.close()
            return None
        if _is_current(handle, path):
            return handle
        handle.close()


def _is_current(handle, path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path`` (not one removed after it was opened)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _training_lock(lock: Path, run_dir: Path):
    """The run's lock held exclusively: waiting for evaluations in progress, refusing another training."""
    import fcntl

    while True:
        handle = _locked(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if handle is not None:
            return handle
        handle = _locked(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)  # taken: only evaluations share it
        if handle is None:
            raise RunError(f"Another process is training {run_dir} right now; wait for it, or use another "
                           "--run-name")
        warnings.warn(f"{run_dir.name} is being evaluated: the training starts when that ends", UserWarning,
                      stacklevel=4)
        fcntl.flock(handle, fcntl.LOCK_EX)
        if _is_current(handle, lock):
            return handle
        handle.close()


def _evaluation_lock(lock: Path, run_dir: Path):
    """The run's lock held shared; a RunError at once if a training holds it."""
    import fcntl

    handle = _locked(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    if handle is None:
        raise RunError(f"{run_dir} is being trained right now (its model, metrics and figures are replaced when that "
                       "ends): evaluate it after the training")
    return handle


def _queued_lock(queue: Path, run_dir: Path):
    """``queue`` held exclusively: waiting, with a note, for an evaluation of the same run that holds it."""
    import fcntl

    handle = _locked(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if handle is None:
        warnings.warn(f"Another process is evaluating {run_dir.name}: this evaluation starts when that ends",
                      UserWarning, stacklevel=4)
        handle = _locked(queue, fcntl.LOCK_EX)
    return handle


def _release(handle) -> None:
    """Release a lock; its file is removed first when no one else holds or shares it."""
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        Path(handle.name).unlink(missing_ok=True)  # while locked: a late opener finds its file gone and retries
    except BlockingIOError:
        pass  # shared by another evaluation, or awaited by a training: it stays
    finally:
        handle.close()


@dataclass
class Run:
    """A saved run: its folder, the loaded model and its metadata."""

    path: Path
    model: object
    metadata: dict

    @property
    def image_size(self) -> int:
        return int(self.metadata["image_size"])

    @property
    def is_person(self) -> bool:
        """Whether it is a model of the person (:func:`is_person_run`)."""
        return is_person_run(self.metadata)


def load_run(path: str | Path) -> Run:
    """Load a run folder (its model in Keras safe mode and its metadata) and check they agree.

    Args:
        path: the run folder, or its model file.

    Returns:
        The :class:`Run`.

    Raises:
        RunError: no model there, metadata missing or not a run's, a file that is not a Keras model, or a model
            that does not match its metadata.
    """
    import keras

    path = Path(path)
    model_file = path / MODEL_FILE if path.is_dir() else path
    folder = model_file.parent
    if not model_file.exists():
        raise RunError(f"No model at {model_file}: {path} is not a run folder (expected {MODEL_FILE} and "
                       f"{METADATA_FILE}, as written by `alzmri train`)")
    metadata = read_metadata(folder)
    try:
        model = keras.models.load_model(model_file, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 -- zipfile, h5py, keras all raise their own types
        raise RunError(f"{model_file} is not a Keras model file ({type(err).__name__}: {err})") from err
    if list(metadata.get("classes", [])) != list(CLASS_NAMES):
        raise RunError(f"{folder}: metadata classes {metadata.get('classes')} differ from {list(CLASS_NAMES)}")
    size = metadata["image_size"]
    expected = ((metadata["config"].get("person_slices"), size, size, 1) if is_person_run(metadata) else
                (size, size, 3))
    if tuple(model.input_shape[1:]) != expected or model.output_shape[-1] != len(CLASS_NAMES):
        raise RunError(f"{model_file}: model input {model.input_shape} / output {model.output_shape} do not "
                       f"match metadata (image size {metadata['image_size']}, {len(CLASS_NAMES)} classes)")
    return Run(folder, model, metadata)


def save_run(model, metadata: dict, history: pd.DataFrame, run_dir: Path, splits: pd.DataFrame | None = None,
             input_check=None) -> Path:
    """Save a finished run: everything is written to a hidden folder beside ``run_dir``, then moved into place.

    Args:
        model: the trained Keras model.
        metadata: what :func:`alzmri.models.training.build_metadata` records.
        history: the training history, one row per epoch.
        run_dir: the run folder; a finished run already there is replaced only once the new one is whole.
        splits: the prepared frame, for which file went to which split (``splits.csv``).
        input_check: the :class:`alzmri.models.input_check.InputCheck`, if one was built.

    Returns:
        ``run_dir``.
    """
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = run_dir.parent / f".{run_dir.name}.saving"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save(tmp / MODEL_FILE)
    (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str) + "\n")
    history.to_csv(tmp / HISTORY_FILE, index=False)
    if splits is not None:
        save_splits(splits, tmp / SPLITS_FILE)
    if input_check is not None:
        input_check.save(tmp / CHECK_FILE)
    old = run_dir.parent / f".{run_dir.name}.old"
    if run_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        run_dir.rename(old)
    tmp.rename(run_dir)
    shutil.rmtree(old, ignore_errors=True)
    return run_dir


def write_metrics(run_dir: Path, key: str, metrics: dict) -> Path:
    """Merge ``metrics`` under ``key`` into the run's metrics file (atomically).

    An unreadable metrics.json is kept beside it as ``metrics.json.unreadable`` (with a warning), never
    overwritten: nothing is lost.
    """
    path = Path(run_dir) / METRICS_FILE
    existing = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError):
            existing = None
        if not isinstance(existing, dict):
            kept = path.with_name(f"{METRICS_FILE}.unreadable")
            path.replace(kept)
            warnings.warn(f"{path} was not a metrics file (corrupt or hand-edited?): kept as {kept.name}, "
                          "a new one is written", UserWarning, stacklevel=2)
            existing = {}
    existing[key] = metrics
    return write_text_atomically(path, json.dumps(existing, indent=2) + "\n")


def run_folders(runs_dir: Path) -> list[Path]:
    """The folders of ``runs_dir`` that hold a run, finished or broken (a model or metadata), by name; unfinished
    (``.<name>.partial``), lock and other hidden entries, and folders that are no run at all, are left out."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (is_finished(p) or (p / MODEL_FILE).exists()))


def shuffled_sibling(run_dir: Path, metadata: dict | None = None) -> Path | None:
    """The shuffled-label control of a run: a finished run beside it with the same settings and data but labels
    shuffled by subject, found from the runs' metadata (whatever their names).

    Args:
        run_dir: the run folder.
        metadata: its metadata if already read.

    Returns:
        The sibling's folder, or None (the run is itself shuffled, or no such run was trained).
    """
    metadata = metadata if metadata is not None else peek_metadata(run_dir)
    config = metadata.get("config")
    if not isinstance(config, dict) or config.get("shuffle_labels"):
        return None
    wanted = {**config, "shuffle_labels": True}
    for folder in run_folders(Path(run_dir).parent):
        other = peek_metadata(folder)
        if (folder != Path(run_dir) and other.get("config") == wanted
                and other.get("data_fingerprint") == metadata.get("data_fingerprint")):
            return folder
    return None


RUNS_COLUMNS = ["run", "preset", "network", "image_size", "data", "protocol", "labels", "test_subjects",
                "balanced_accuracy", "ci_low", "ci_high", "created"]


def _number(value) -> float | None:
    """A metric read from a file that may have been edited by hand: a finite number, else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _run_row(folder: Path, meta: dict) -> list:
    """One row of :func:`runs_table`; raises TypeError, ValueError or AttributeError on values of the wrong kind."""
    config = meta.get("config")
    if not isinstance(config, dict):
        raise TypeError(f"'config' is {type(config).__name__}, not a table of settings")
    test = read_metrics(folder).get("test")
    test = test if isinstance(test, dict) else {}
    interval = test.get("ci95", {}).get("balanced_accuracy") if isinstance(test.get("ci95"), dict) else None
    low, high = interval if isinstance(interval, list) and len(interval) == 2 else (None, None)
    count = test.get("ci_resampled", {}).get("count") if isinstance(test.get("ci_resampled"), dict) else None
    return [folder.name, one_line(meta.get("profile")),
            describe_network(meta),
            meta.get("image_size"), one_line(data_name(meta)), one_line(meta.get("split")),
            one_line(meta.get("labels", "true")), _number(count), _number(test.get("balanced_accuracy")),
            _number(low), _number(high), one_line(meta.get("created"))]


def runs_table(runs_dir: str | Path) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One row per finished run in ``runs_dir``: what it is and how it scored on its own test split.

    Unfinished (``.<name>.partial``), locked, hidden and non-run folders are left out; a run whose test split
    was not scored yet has empty scores. Runs on different data or protocols are not comparable: the
    ``data`` and ``protocol`` columns say which are.

    Returns:
        The table, and ``(folder name, reason)`` for each folder that looks like a run but cannot be listed
        (broken or hand-edited metadata, a missing model file): said, not silently dropped.
    """
    rows, skipped = [], []
    for folder in run_folders(runs_dir):
        has_meta, has_model = is_finished(folder), (folder / MODEL_FILE).exists()
        meta = peek_metadata(folder)
        problem = (f"no {METADATA_FILE}" if not has_meta else f"{METADATA_FILE} is unreadable or not a run's"
                   if "config" not in meta else f"no {MODEL_FILE}" if not has_model else None)
        if problem is None:
            try:
                rows.append(_run_row(folder, meta))
                continue
            except (TypeError, ValueError, AttributeError) as err:
                problem = f"{METADATA_FILE} has values of the wrong kind ({one_line(err)})"
        skipped.append((one_line(folder.name), problem))
    return pd.DataFrame(rows, columns=RUNS_COLUMNS), skipped
