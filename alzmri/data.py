"""Datasets: find or download them, index and check every file, split them honestly, feed tf.data.

Any folder-per-class tree works: class folders are found at any depth and the path above them is
kept as the image's *subset* (``data/train`` and ``data/val`` in the Kaggle V2 set,
``AugmentedAlzheimerDataset`` and ``OriginalDataset`` in V1, ``train`` and ``test`` in the source
set). Every file is opened once while indexing, so a corrupt or odd file is skipped or converted here
with a warning, never halfway through an epoch.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from . import leakage, synthetic
from .config import CLASS_NAMES, HF_REPO, KAGGLE_HANDLE, Config, default_cache_dir

TF_READY_FORMATS = {"JPEG", "PNG"}
TF_READY_MODES = {"L", "RGB"}
SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """The data on disk is not a usable dataset (layout, classes, labels); the message says why."""


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be downloaded; the message says what is needed and how to use a local copy."""


class DataWarning(UserWarning):
    """Files were skipped or converted while indexing."""


def canonical_class(name: str) -> str | None:
    """Map any spelling of a class name (case, ``_``, ``-``, spaces) to its canonical form, else None."""
    key = re.sub(r"[\s_\-]+", "", name).lower()
    return next((c for c in CLASS_NAMES if c.lower() == key), None)


def _visible(name: str) -> bool:
    """Hidden and underscore folders (``.git``, ``__MACOSX``, ``_masks``) are never data."""
    return not name.startswith((".", "_"))


def find_class_folders(root: Path) -> dict[str, dict[str, Path]]:
    """``{subset: {class: folder}}`` for every class folder under ``root``, at any depth."""
    found: dict[str, dict[str, Path]] = {}
    strangers: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        here = Path(folder)
        name = canonical_class(here.name) if here != root else None
        if name:
            subset = here.parent.relative_to(root).as_posix()
            if name in found.setdefault(subset, {}):
                raise DatasetError(f"Two folders for class {name} in {root / subset}: "
                                   f"{found[subset][name].name!r} and {here.name!r}")
            found[subset][name] = here
            dirs[:] = []  # images may sit in sub-folders of a class folder; they belong to it
        elif any(_visible(f) for f in files) and here != root:
            strangers.setdefault(here.parent.relative_to(root).as_posix(), []).append(here.name)
    _check_layout(root, found, strangers)
    return found


def _check_layout(root: Path, found: dict, strangers: dict) -> None:
    """Raise a DatasetError that lists what was found when the classes are unknown or missing."""
    expected = ", ".join(CLASS_NAMES)
    if not found:
        listing = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:20] if root.is_dir() else []
        raise DatasetError(f"No class folders found under {root}. Expected folders named {expected} "
                           f"(any case, '_' or '-' allowed) at any depth; found: {listing or 'nothing'}")
    for subset in found:
        if strangers.get(subset):
            raise DatasetError(f"Unknown class folder(s) {sorted(strangers[subset])} in {root / subset}; "
                               f"expected only {expected}")
    present = {c for classes in found.values() for c in classes}
    missing = [c for c in CLASS_NAMES if c not in present]
    if missing:
        raise DatasetError(f"Class(es) {missing} missing under {root}; found {sorted(present)} "
                           f"in subset(s) {sorted(found)}")


@dataclass
class DatasetIndex:
    """Every usable image of a dataset (``frame``) and the files that were skipped or converted."""

    root: Path
    frame: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))
    converted: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "mode", "used"]))

    @property
    def fingerprint(self) -> str:
        """A short hash of the file list, sizes and labels: which data a run was trained on."""
        h = hashlib.sha1()
        for rel, size, label in sorted(zip(self.frame["relpath"], self.frame["bytes"], self.frame["label"])):
            h.update(f"{rel}\t{size}\t{label}\n".encode())
        return h.hexdigest()[:16]

    def class_counts(self) -> pd.DataFrame:
        """Images per subset and class (columns in canonical class order)."""
        counts = self.frame.groupby(["subset", "class_name"]).size().unstack(fill_value=0)
        return counts.reindex(columns=list(CLASS_NAMES), fill_value=0)


def to_8bit(im: Image.Image) -> Image.Image:
    """An 8-bit grey or RGB copy of any PIL image (16-bit scaled, transparency on black, palette expanded)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() or 1.0
        return Image.fromarray((np.clip(arr / top, 0, 1) * 255).round().astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size)
        out.paste(rgba, mask=rgba.getchannel("A"))  # transparent areas become the black background
        return out
    if im.mode in TF_READY_MODES:
        return im
    return im.convert("RGB" if im.mode in ("P", "CMYK", "YCbCr", "HSV", "LAB") else "L")


def _convert(path: Path, im: Image.Image, cache_dir: Path) -> Path:
    """Write an odd-mode image (16-bit, RGBA, palette, TIFF ...) as an 8-bit PNG that tf.data decodes."""
    out = cache_dir / "converted" / f"{hashlib.sha1(str(path).encode()).hexdigest()[:20]}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    to_8bit(im).save(out, "PNG")
    return out


def check_image(path: Path, cache_dir: Path) -> tuple[str, dict]:
    """Open one file fully: ("ok" | "converted", info) or ("skipped", {"reason": ...})."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "skipped", {"reason": "empty file (0 bytes)"}
        with Image.open(path) as im:
            im.load()  # a full decode: catches truncated and corrupt files, not only bad headers
            info = {"bytes": size, "width": im.width, "height": im.height, "mode": im.mode, "used": str(path)}
            if im.format in TF_READY_FORMATS and im.mode in TF_READY_MODES:
                return "ok", info
            info["used"] = str(_convert(path, im, cache_dir))
            return "converted", info
    except UnidentifiedImageError:
        return "skipped", {"reason": "not an image"}
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return "skipped", {"reason": f"truncated or corrupt ({err})"}


def _kind_of_subset(subset: str, subsets: set[str]) -> str:
    """Augmented or original, from the folder name (V1: ``Augmented...``; V2: ``train`` beside ``val``)."""
    low = subset.lower()
    if "augment" in low:
        return "augmented"
    parent, _, leaf = low.rpartition("/")
    if leaf == "train" and (f"{parent}/val" if parent else "val") in {s.lower() for s in subsets} and "data" in low:
        return "augmented"
    return "original"


def index_dataset(root: str | Path, cache_dir: str | Path | None = None, workers: int = 4,
                  progress: bool = True) -> DatasetIndex:
    """Index and check every image under ``root`` (see the module docstring)."""
    from tqdm.auto import tqdm

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"Data folder {root} does not exist or is not a folder")
    cache_dir = Path(cache_dir or default_cache_dir())
    folders = find_class_folders(root)
    candidates = [(subset, name, p) for subset, classes in folders.items() for name, folder in classes.items()
                  for p in sorted(folder.rglob("*")) if p.is_file() and _visible(p.name)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(lambda c: check_image(c[2], cache_dir), candidates), total=len(candidates),
                            desc=f"checking {root.name}", unit="file", disable=not progress))
    rows, skipped, converted = [], [], []
    for (subset, name, path), (status, info) in zip(candidates, results):
        if status == "skipped":
            skipped.append({"path": str(path), "reason": info["reason"]})
            continue
        if status == "converted":
            converted.append({"path": str(path), "mode": info["mode"], "used": info["used"]})
        rows.append({"path": info["used"], "relpath": path.relative_to(root).as_posix(), "subset": subset,
                     "class_name": name, "label": CLASS_NAMES.index(name), **{k: info[k] for k in
                     ("bytes", "width", "height", "mode")}})
    frame = pd.DataFrame(rows, columns=["path", "relpath", "subset", "class_name", "label", "bytes", "width",
                                        "height", "mode"])
    _check_not_empty(root, folders, frame)
    _add_provenance(root, frame)
    index = DatasetIndex(root, frame.reset_index(drop=True), pd.DataFrame(skipped, columns=["path", "reason"]),
                         pd.DataFrame(converted, columns=["path", "mode", "used"]))
    _warn_about_files(index)
    return index


def _check_not_empty(root: Path, folders: dict, frame: pd.DataFrame) -> None:
    """An empty class folder is an error that names it: training would silently lose the class."""
    have = set(zip(frame["subset"], frame["class_name"]))
    empty = [str(folder) for subset, classes in folders.items() for name, folder in classes.items()
             if (subset, name) not in have]
    if empty:
        raise DatasetError(f"Class folder(s) with no readable images: {empty}. Add images or remove the folder.")


def _add_provenance(root: Path, frame: pd.DataFrame) -> None:
    """Fill ``kind`` (original/augmented) and ``original`` (where known, from a synthetic manifest)."""
    manifest = synthetic.read_manifest(root)
    if manifest is not None:
        by_path = manifest.set_index("path")
        frame["kind"] = frame["relpath"].map(by_path["kind"]).fillna("original")
        frame["original"] = frame["relpath"].map(by_path["original"]).fillna("")
    else:
        subsets = set(frame["subset"])
        frame["kind"] = frame["subset"].map(lambda s: _kind_of_subset(s, subsets))
        frame["original"] = ""


def _warn_about_files(index: DatasetIndex) -> None:
    """One warning per kind of problem, with a count and an example file."""
    if len(index.skipped):
        first = index.skipped.iloc[0]
        warnings.warn(f"Skipped {len(index.skipped)} unreadable file(s) under {index.root}, e.g. "
                      f"{first['path']}: {first['reason']}", DataWarning, stacklevel=3)
    if len(index.converted):
        first = index.converted.iloc[0]
        warnings.warn(f"Converted {len(index.converted)} image(s) in odd modes to 8-bit PNG, e.g. "
                      f"{first['path']} (mode {first['mode']})", DataWarning, stacklevel=3)


# --------------------------------------------------------------------------- sources


def _call_with_timeout(fn, timeout: float):
    """Run ``fn`` in a daemon thread; raise TimeoutError if it has not finished in ``timeout`` s."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as err:  # noqa: BLE001 -- re-raised in the caller's thread
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:.0f} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def download_kaggle(timeout: float = 120.0) -> Path:
    """Download (or reuse from ``KAGGLEHUB_CACHE``) the Kaggle V2 dataset and return its folder."""
    try:
        import kagglehub

        return Path(_call_with_timeout(lambda: kagglehub.dataset_download(KAGGLE_HANDLE), timeout))
    except Exception as err:  # noqa: BLE001 -- every failure gets the same actionable message
        raise DatasetUnavailableError(
            f"Could not download the Kaggle dataset {KAGGLE_HANDLE!r} ({type(err).__name__}: {err}). "
            "This needs internet access and Kaggle credentials (kagglehub.login(), KAGGLE_USERNAME/KAGGLE_KEY, "
            "or ~/.kaggle/kaggle.json). Already have a copy? Pass its folder instead: "
            "--data /path/to/augmented-alzheimer-mri-dataset-v2 (or data='...' in get_config)."
        ) from err


def download_hf(cache_dir: Path, timeout: float = 120.0) -> list[Path]:
    """Download the Hugging Face ``Falah/Alzheimer_MRI`` parquet files (needs ``huggingface_hub``)."""
    try:
        from huggingface_hub import snapshot_download

        folder = _call_with_timeout(lambda: snapshot_download(
            HF_REPO, repo_type="dataset", allow_patterns=["*.parquet"], cache_dir=str(cache_dir / "hf")), timeout)
        return sorted(Path(folder).rglob("*.parquet"))
    except Exception as err:  # noqa: BLE001
        raise DatasetUnavailableError(
            f"Could not download {HF_REPO!r} from Hugging Face ({type(err).__name__}: {err}). This needs "
            "internet access and `pip install huggingface_hub`. Have the parquet files? Pass them instead: "
            "--data /path/to/folder_with_parquet_files"
        ) from err


def _split_name(parquet: Path) -> str:
    """``train`` or ``test`` from a parquet file name such as ``train-00000-of-00001.parquet``."""
    stem = parquet.stem.lower()
    return next((s for s in ("train", "test", "val") if s in stem), parquet.stem)


def parquet_to_folders(parquet_files: list[Path], out: Path) -> Path:
    """Write the images of ``Falah/Alzheimer_MRI``-style parquet files into class folders under ``out``."""
    import pyarrow.parquet as pq

    if not parquet_files:
        raise DatasetError("No parquet files given")
    for parquet in parquet_files:
        try:
            table = pq.read_table(parquet)
        except Exception as err:  # noqa: BLE001 -- pyarrow raises several types for bad files
            raise DatasetError(f"{parquet} is not a readable parquet file: {err}") from err
        if not {"image", "label"} <= set(table.column_names):
            raise DatasetError(f"{parquet} has columns {table.column_names}; expected 'image' and 'label'")
        split = _split_name(parquet)
        for row, (image, label) in enumerate(zip(table.column("image").to_pylist(), table.column("label").to_pylist())):
            if label not in range(len(CLASS_NAMES)):
                raise DatasetError(f"{parquet} row {row}: label {label!r} is not one of 0-{len(CLASS_NAMES) - 1}")
            data = image.get("bytes") if isinstance(image, dict) else image
            target = out / split / CLASS_NAMES[label] / f"{parquet.stem}-{row:05d}.img"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data or b"")  # empty bytes become a 0-byte file, skipped with a warning
    return out


def resolve_data(spec: str, cache_dir: str | Path | None = None, config: Config | None = None,
                 progress: bool = True) -> Path:
    """Turn ``demo`` | ``kaggle`` | ``hf`` | a path into a folder-per-class root on disk."""
    cache_dir = Path(cache_dir or default_cache_dir())
    if spec == "demo":
        config = config or Config()
        return synthetic.generate_dataset(
            cache_dir / f"synthetic-{config.synth_n_per_class}x{config.synth_size}-s{config.seed}",
            n_per_class=config.synth_n_per_class, size=config.synth_size, seed=config.seed,
            balance=config.synth_balance, copies=config.synth_copies, replace_stale=True, progress=progress)
    if spec == "kaggle":
        return download_kaggle()
    if spec == "hf":
        return _parquet_root(download_hf(cache_dir), cache_dir)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DatasetError(f"Data path {path} does not exist; use 'demo', 'kaggle', 'hf' or an existing folder")
    parquets = [path] if path.suffix == ".parquet" else sorted(path.glob("*.parquet")) if path.is_dir() else []
    return _parquet_root(parquets, cache_dir) if parquets else path


def _parquet_root(parquets: list[Path], cache_dir: Path) -> Path:
    """Class folders extracted from parquet files, once per set of files."""
    key = hashlib.sha1("".join(f"{p.resolve()}:{p.stat().st_size}" for p in parquets).encode()).hexdigest()[:12]
    out = cache_dir / f"parquet-{key}"
    if not (out / ".complete").exists():
        parquet_to_folders(parquets, out)
        (out / ".complete").write_text("ok\n")
    return out


# --------------------------------------------------------------------------- splits


def descriptors(index: DatasetIndex, cache_dir: str | Path | None = None, progress: bool = True) -> np.ndarray:
    """Near-duplicate descriptors of every indexed image (cached per dataset fingerprint)."""
    return leakage.cached_descriptors(index.frame["path"].tolist(), Path(cache_dir or default_cache_dir()),
                                      index.fingerprint, progress=progress)


def _stratified_group_fold(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of one stratified fold holding about ``fraction`` of the rows, groups kept whole."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / fraction))
    if len(np.unique(groups)) < n_splits:
        raise DatasetError(f"Only {len(np.unique(groups))} independent image groups: too few to hold out "
                           f"{fraction:.0%}. Use more data or a smaller val/test fraction.")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" warnings: we check below
        _, held = next(folds.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return mask


def grouped_split(frame: pd.DataFrame, desc: np.ndarray, config: Config) -> pd.DataFrame:
    """Stratified train/val/test over originals; near-duplicate groups never straddle splits."""
    frame = frame.copy()
    is_orig = (frame["kind"] == "original").to_numpy()
    orig = np.flatnonzero(is_orig)
    groups = np.full(len(frame), -1)
    groups[orig] = leakage.group_near_duplicates(desc[orig], config.duplicate_threshold)
    aug = np.flatnonzero(~is_orig)
    match, score = leakage.best_match(desc[aug], desc[orig])
    groups[aug] = np.where(score >= config.duplicate_threshold, groups[orig][match], -1)
    frame["group"] = groups

    labels, seed = frame["label"].to_numpy()[orig], config.seed
    test = _stratified_group_fold(labels, groups[orig], config.test_fraction, seed)
    rest = np.flatnonzero(~test)
    val_share = config.val_fraction / (1 - config.test_fraction)
    val = np.zeros(len(orig), bool)
    val[rest] = _stratified_group_fold(labels[rest], groups[orig][rest], val_share, seed + 1)
    split = np.full(len(frame), "unused", dtype=object)
    split[orig] = np.where(test, "test", np.where(val, "val", "train"))
    train_groups = set(groups[orig][~test & ~val])
    if config.use_augmented:
        split[aug] = ["train" if g in train_groups else "unused" for g in groups[aug]]
    frame["split"] = split
    _warn_missing_classes(frame)
    return frame


def naive_split(frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The common mistake, kept for comparison: a random split of the augmented images."""
    from sklearn.model_selection import train_test_split

    frame = frame.copy()
    pool = np.flatnonzero((frame["kind"] == "augmented").to_numpy())
    if len(pool) == 0:
        pool = np.arange(len(frame))
    labels = frame["label"].to_numpy()
    rest, test = train_test_split(pool, test_size=config.test_fraction, stratify=labels[pool],
                                  random_state=config.seed)
    val_share = config.val_fraction / (1 - config.test_fraction)
    train, val = train_test_split(rest, test_size=val_share, stratify=labels[rest], random_state=config.seed)
    split = np.full(len(frame), "unused", dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    frame["split"] = split
    frame["group"] = -1
    _warn_missing_classes(frame)
    return frame


def split_index(index: DatasetIndex, config: Config, desc: np.ndarray | None = None,
                cache_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """The index with a ``split`` column (train/val/test/unused) by ``config.split``."""
    if config.split == "naive":
        return naive_split(index.frame, config)
    if config.split != "grouped":
        raise ValueError(f"split must be 'grouped' or 'naive', got {config.split!r}")
    if desc is None:
        desc = descriptors(index, cache_dir, progress=progress)
    return grouped_split(index.frame, desc, config)


def audit_splits(index: DatasetIndex, config: Config, cache_dir: str | Path | None = None,
                 progress: bool = True) -> pd.DataFrame:
    """The leakage audit of the grouped and the naive split side by side, on one set of descriptors."""
    desc = descriptors(index, cache_dir, progress=progress)
    tables = []
    for protocol in ("grouped", "naive"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            frame = split_index(index, config.replace(split=protocol), desc=desc)
        tables.append(leakage.audit(frame, desc, config.duplicate_threshold).assign(split=protocol))
    table = pd.concat(tables, ignore_index=True)
    return table[["split", "pair", "images", "leaked", "leaked_fraction", "max_similarity"]]


def _warn_missing_classes(frame: pd.DataFrame) -> None:
    """A split without some class is allowed (tiny data) but must not pass unnoticed."""
    for split in SPLITS:
        present = set(frame.loc[frame["split"] == split, "class_name"])
        missing = [c for c in CLASS_NAMES if c not in present]
        if missing:
            warnings.warn(f"The {split} split has no images of {missing}", DataWarning, stacklevel=3)


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced class weights (scikit-learn's formula) for the classes present in ``labels``."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)}


# --------------------------------------------------------------------------- tf.data


def resize_for_model(image, image_size: int):
    """Resize an RGB image tensor the one way training and prediction share; uint8 out."""
    import tensorflow as tf

    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def load_image(path, image_size: int):
    """Read, decode (grayscale → RGB) and resize one image; raw 0–255 uint8 (the model preprocesses)."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return resize_for_model(image, image_size)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def collect_image_files(inputs: list[str]) -> list[Path]:
    """Image files named directly or found in folders; a missing path or an image-less folder is an error."""
    files = []
    for item in map(Path, inputs):
        if not item.exists():
            raise DatasetError(f"{item} does not exist")
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and _visible(p.name))
            if not found:
                raise DatasetError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {item}")
            files += found
        else:
            files.append(item)
    return files


def decode_image_file(path: Path) -> np.ndarray:
    """One image file as uint8 RGB (H, W, 3), fully decoded and checked; clear errors otherwise."""
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is an empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(to_8bit(im).convert("RGB"))
    except UnidentifiedImageError as err:
        raise DatasetError(f"{path} is not an image") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise DatasetError(f"{path} is unreadable (truncated or corrupt: {err})") from err


def read_images_for_model(paths: list[Path], image_size: int) -> np.ndarray:
    """Image files as the model takes them: float32 (n, size, size, 3), raw 0–255.

    Files are decoded in parallel and resized in one batched call per original size (the same
    resize as training), which keeps prediction on files close to the speed of the model itself.
    """
    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(pool.map(decode_image_file, map(Path, paths)))
    out = np.zeros((len(decoded), image_size, image_size, 3), np.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, array in enumerate(decoded):
        by_shape.setdefault(array.shape, []).append(i)
    for members in by_shape.values():
        out[members] = resize_for_model(np.stack([decoded[i] for i in members]), image_size).numpy()
    return out


def images_only(images, labels):
    """Drop the labels from a (images, labels) dataset element, for ``model.predict``."""
    return images


def augmentation_layers(seed: int):
    """On-the-fly, train-only augmentation with Keras preprocessing layers (raw 0–255 input)."""
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(0.08, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=seed),
        keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed),
    ], name="augmentation")


def make_tf_dataset(frame: pd.DataFrame, image_size: int, batch_size: int, training: bool = False,
                    augment: bool = True, seed: int = 0, cache: str | bool = True):
    """A batched ``tf.data`` pipeline of (float32 0–255 images, int labels) for ``frame``'s rows."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    layers = augmentation_layers(seed) if training and augment else None

    def decode(path, label):
        return load_image(path, image_size), label

    def to_float(images, labels):
        images = tf.cast(images, tf.float32)
        return (layers(images, training=True) if layers is not None else images), labels

    ds = tf.data.Dataset.from_tensor_slices((frame["path"].to_numpy(str), frame["label"].to_numpy(np.int32)))
    ds = ds.map(decode, num_parallel_calls=autotune)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")  # uint8: a quarter of the float32 memory
    if training:
        ds = ds.shuffle(len(frame), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(to_float, num_parallel_calls=autotune)
    return ds.prefetch(autotune)
