"""Datasets: find or download them, then index and check every file.

Any folder-per-class tree works: class folders are found at any depth and the path above them is
kept as the image's *subset* (``data/train`` and ``data/val`` in the Kaggle V2 set,
``AugmentedAlzheimerDataset`` and ``OriginalDataset`` in V1, ``train`` and ``test`` in the source
set). Every file is opened once while indexing, so a corrupt or odd file is skipped or converted here
with a warning, never halfway through an epoch.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from alzmri.data import synthetic
from alzmri.errors import DatasetError, DatasetUnavailableError, NotWritableError
from alzmri.config import CLASS_NAMES, HF_REPO, KAGGLE_HANDLE, Config, default_cache_dir
from alzmri.files import is_url_or_stdin, atomic_path, ensure_writable, file_lock
from alzmri.progress import show_bars
from alzmri.safe_text import one_line

TF_READY_FORMATS = {"JPEG", "PNG"}
TF_READY_MODES = {"L", "RGB"}


class DataWarning(UserWarning):
    """Files were skipped or converted while indexing."""


def canonical_class(name: str) -> str | None:
    """Map any spelling of a class name (case, ``_``, ``-``, spaces) to its canonical form, else None."""
    key = re.sub(r"[\s_\-]+", "", name).lower()
    return next((c for c in CLASS_NAMES if c.lower() == key), None)


def existing_path(spec: str | Path, what: str = "", hint: str = "") -> Path:
    """An input path that exists, or a DatasetError that says why it cannot be read.

    Args:
        spec: the path as the user gave it.
        what: the start of the message, naming the input (e.g. ``"Data path "``).
        hint: added to the "does not exist" message (e.g. what else may be given).

    Returns:
        The path, ``~`` expanded.

    Raises:
        DatasetError: a URL or ``-`` (standard input), a symbolic link loop, a broken link, a missing or an
            unreadable path, each said as such.
    """
    if is_url_or_stdin(str(spec)):
        raise DatasetError(f"{what}{spec}: URLs and standard input are not read; download the file first and "
                           "pass its path")
    path = Path(spec).expanduser()
    try:
        path.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise DatasetError(f"{what}{path} cannot be reached: symbolic link loop") from None
        if err.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise DatasetError(f"{what}{path} cannot be read: {err.strerror or err}") from None
        if path.is_symlink():
            raise DatasetError(f"{what}{path} is a broken symbolic link (to {os.readlink(path)})") from None
        raise DatasetError(f"{what}{path} does not exist{hint}") from None
    return path


def is_visible(name: str) -> bool:
    """Hidden and underscore folders (``.git``, ``__MACOSX``, ``_masks``) are never data."""
    return not name.startswith((".", "_"))


def walk_visible(root: Path):
    """``os.walk`` top-down through symbolic links, each folder once (a link back up the tree is not
    followed again), hidden and ``_`` folders left out. Yields ``(folder, dirs, files)``; the caller may
    prune ``dirs`` in place, as with ``os.walk``."""
    seen = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if is_visible(d))
        yield Path(folder), dirs, files


def find_class_folders(root: Path) -> dict[str, dict[str, Path]]:
    """``{subset: {class: folder}}`` for every class folder under ``root``, at any depth."""
    found: dict[str, dict[str, Path]] = {}
    strangers: dict[str, list[str]] = {}
    for here, dirs, files in walk_visible(root):
        name = canonical_class(here.name) if here != root else None
        if name:
            subset = here.parent.relative_to(root).as_posix()
            if name in found.setdefault(subset, {}):
                raise DatasetError(f"Two folders for class {name} in {root / subset}: "
                                   f"{found[subset][name].name!r} and {here.name!r}")
            found[subset][name] = here
            dirs[:] = []  # images may sit in sub-folders of a class folder; they belong to it
            continue
        _refuse_class_files(here, files)
        if any(is_visible(f) for f in files) and here != root:
            strangers.setdefault(here.parent.relative_to(root).as_posix(), []).append(here.name)
    _check_layout(root, found, strangers)
    return found


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".7z", ".rar")


def _refuse_class_files(folder: Path, files: list[str]) -> None:
    """A file named as a class (``MildDemented`` or ``MildDemented.zip``) where class folders sit is an error
    that names it: read as nothing, it would silently drop the class from its subset."""
    for name in files:
        stem = next((name[: -len(s)] for s in ARCHIVE_SUFFIXES if name.lower().endswith(s)), name)
        if canonical_class(stem):
            raise DatasetError(f"{folder / name} is a file, not a folder of class {canonical_class(stem)}'s images "
                               "(extract it first if it is an archive)")


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

    @property
    def synthetic(self) -> bool:
        """Whether this is alzmri's synthetic set, told by its manifest (not by how the data was named)."""
        return (Path(self.root) / synthetic.MANIFEST).exists()

    def class_counts(self) -> pd.DataFrame:
        """Images per subset and class (columns in canonical class order)."""
        counts = self.frame.groupby(["subset", "class_name"]).size().unstack(fill_value=0)
        return counts.reindex(columns=list(CLASS_NAMES), fill_value=0)


def to_8bit(im: Image.Image) -> Image.Image:
    """An 8-bit grey or RGB copy of any PIL image (16-bit and float scaled, transparency on black, palette expanded).

    16-bit, 32-bit and float images are scaled from zero (or their lowest value, if negative) to their highest.

    Raises:
        ValueError: a float image holding NaN or infinite values (it has no scale to draw it by).
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("an image with pixel values that are not numbers (NaN or infinite)")
        low = min(float(arr.min(initial=0.0)), 0.0)
        span = (arr.max(initial=0.0) - low) or 1.0
        return Image.fromarray((np.clip((arr - low) / span, 0, 1) * 255).round().astype(np.uint8), "L")
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
    with atomic_path(out, suffix=".png") as tmp:  # written beside, moved in whole: a reader never sees half of it
        to_8bit(im).save(tmp, "PNG")
    return out


CHECK_DECODE_LIMIT = 1024  # px: a JPEG larger than this is checked at a reduced scale (the whole stream is still read)


def check_image(path: Path, cache_dir: Path) -> tuple[str, dict]:
    """Open one file fully: ("ok" | "converted", info) or ("skipped", {"reason": ...})."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "skipped", {"reason": "empty file (0 bytes)"}
        with Image.open(path) as im:
            info = {"bytes": size, "width": im.width, "height": im.height, "mode": im.mode, "used": str(path)}
            if im.format == "JPEG" and max(im.size) > CHECK_DECODE_LIMIT:
                im.draft(im.mode, (CHECK_DECODE_LIMIT, CHECK_DECODE_LIMIT))  # a huge JPEG, decoded reduced
            im.load()  # a full decode: catches truncated and corrupt files, not only bad headers
            if im.format in TF_READY_FORMATS and im.mode in TF_READY_MODES:
                return "ok", info
            try:
                info["used"] = str(_convert(path, im, cache_dir))
            except OSError as err:  # the file is fine: the cache is not
                raise NotWritableError(f"Cannot write a converted copy of {path} into the cache {cache_dir} "
                                       f"({err.strerror or err}): set $ALZMRI_CACHE to a writable folder") from None
            return "converted", info
    except UnidentifiedImageError:
        return "skipped", {"reason": "not an image"}
    except NotWritableError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return "skipped", {"reason": f"truncated or corrupt ({err})"}


def _kind_of_subset(subset: str, subsets: set[str]) -> str:
    """Augmented or original, from the folder name (V1: ``Augmented...``; V2: ``data/train`` beside ``data/val``).

    Only the V2 set's own ``data`` folder counts: a user's ``mydata/train`` beside ``mydata/val`` holds
    originals. The splits check the claim on the pixels (:func:`alzmri.leakage.prepared.annotate`).
    """
    low = subset.lower()
    if "augment" in low:
        return "augmented"
    parent, _, leaf = low.rpartition("/")
    is_v2_data = parent == "data" or parent.endswith("/data")
    return "augmented" if leaf == "train" and is_v2_data and f"{parent}/val" in {s.lower() for s in subsets} \
        else "original"


def index_dataset(root: str | Path, cache_dir: str | Path | None = None, workers: int = 4,
                  progress: bool = True) -> DatasetIndex:
    """Index and check every image under ``root`` (see the module docstring)."""
    from tqdm.auto import tqdm

    root = existing_path(root, "Data folder ").resolve()
    if not root.is_dir():
        raise DatasetError(f"Data folder {root} is a file, not a folder (extract it first if it is an archive)")
    cache_dir = Path(cache_dir or default_cache_dir())
    folders = find_class_folders(root)
    candidates, unusable = _files_of(folders)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(lambda c: check_image(c[2], cache_dir), candidates), total=len(candidates),
                            desc=f"checking {root.name}", unit="file", disable=not show_bars(progress)))
    rows, skipped, converted = [], list(unusable), []
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


def _files_of(folders: dict[str, dict[str, Path]]) -> tuple[list[tuple[str, str, Path]], list[dict]]:
    """The candidate image files of every class folder (symbolic links followed), and the files that are
    certainly not data (broken links, hidden and ``_`` names), so the skipped report counts them."""
    candidates, unusable = [], []
    for subset, classes in folders.items():
        for name, folder in classes.items():
            for path in sorted(_walk_files(folder)):
                if not path.exists():
                    unusable.append({"path": str(path), "reason": "broken symbolic link"})
                elif not is_visible(path.name):
                    unusable.append({"path": str(path), "reason": "hidden or '_' name: not data"})
                else:
                    candidates.append((subset, name, path))
    return candidates, unusable


def _walk_files(folder: Path):
    """Every file under ``folder`` (sub-folders too, following symbolic links, skipping hidden folders)."""
    for here, _, files in walk_visible(folder):
        yield from (here / f for f in files)


def _check_not_empty(root: Path, folders: dict, frame: pd.DataFrame) -> None:
    """An empty class folder is an error that names it: training would silently lose the class."""
    have = set(zip(frame["subset"], frame["class_name"]))
    empty = [str(folder) for subset, classes in folders.items() for name, folder in classes.items()
             if (subset, name) not in have]
    if empty:
        raise DatasetError(f"Class folder(s) with no readable images: {empty}. Add images or remove the folder.")


def _add_provenance(root: Path, frame: pd.DataFrame) -> None:
    """Fill ``kind`` (original/augmented) and ``original`` (where known, from a synthetic manifest).

    Without a manifest, ``original`` stays empty here; :func:`alzmri.leakage.prepared.annotate` matches copies to
    originals.
    """
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
        warnings.warn(f"Skipped {len(index.skipped)} unreadable file(s) under {one_line(index.root)}, e.g. "
                      f"{first['path']}: {first['reason']}", DataWarning, stacklevel=3)
    if len(index.converted):
        first = index.converted.iloc[0]
        warnings.warn(f"Converted {len(index.converted)} image(s) in odd modes to 8-bit PNG, e.g. "
                      f"{first['path']} (mode {first['mode']})", DataWarning, stacklevel=3)


# --------------------------------------------------------------------------- sources


#: Seconds a download may take before alzmri gives up on it (the Kaggle V2 set is a few hundred MB).
DOWNLOAD_TIMEOUT = 900.0


def _call_with_timeout(fn, timeout: float):
    """Run ``fn`` in a daemon thread; raise TimeoutError if it has not finished in ``timeout`` s.

    Python cannot stop a thread from outside: after a timeout the download goes on in the background
    until it ends or the process exits, and the message says so.
    """
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
        raise TimeoutError(f"no answer within {timeout:.0f} s; the download may go on in the background until "
                           "Python exits (restart the kernel or process to stop it)")
    if "error" in result:
        raise result["error"]
    return result["value"]


def download_kaggle(timeout: float = DOWNLOAD_TIMEOUT) -> Path:
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


def download_hf(cache_dir: Path, timeout: float = DOWNLOAD_TIMEOUT) -> list[Path]:
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
    """Write the images of ``Falah/Alzheimer_MRI``-style parquet files into class folders under ``out``.

    Args:
        parquet_files: parquet files with an ``image`` column (a struct with ``bytes``, or the bytes) and a
            ``label`` column (see :func:`parquet_label`); the split (``train``, ``test``) comes from each name.
        out: the folder to write ``<split>/<class>/<file>-<row>.img`` into.

    Returns:
        ``out``.

    Raises:
        DatasetError: no files, or a file that is unreadable, empty, without those columns, or with a bad label.
    """
    if not parquet_files:
        raise DatasetError("No parquet files given")
    for parquet in parquet_files:
        table = _read_parquet(parquet)
        split = _split_name(parquet)
        for row, (image, label) in enumerate(zip(table.column("image").to_pylist(), table.column("label").to_pylist())):
            data = image.get("bytes") if isinstance(image, dict) else image
            target = out / split / CLASS_NAMES[parquet_label(label, f"{parquet} row {row}")] / \
                f"{parquet.stem}-{row:05d}.img"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data or b"")  # empty bytes become a 0-byte file, skipped with a warning
    return out


def _read_parquet(parquet: Path):
    """The table of one parquet file, checked to have rows and the ``image`` and ``label`` columns."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(parquet)
    except Exception as err:  # noqa: BLE001 -- pyarrow raises several types for bad files
        with open(parquet, "rb") as handle:
            lfs = handle.read(40).startswith(b"version https://git-lfs")
        raise DatasetError(f"{parquet} is a Git LFS pointer, not the data: run `git lfs pull` in the clone" if lfs
                           else f"{parquet} is not a readable parquet file: {err}") from err
    if not {"image", "label"} <= set(table.column_names):
        raise DatasetError(f"{parquet} has columns {table.column_names}; expected 'image' and 'label'")
    if table.num_rows == 0:
        raise DatasetError(f"{parquet} has no rows: an empty parquet file holds no images")
    return table


def parquet_label(label, where: str) -> int:
    """The class id of one parquet label.

    Args:
        label: an id 0-3 as an integer, a whole float (``2.0``) or text (``"3"``), or a class name in any
            spelling (``"Mild_Demented"``).
        where: the file and row, for the message.

    Returns:
        The class id (an index into ``CLASS_NAMES``).

    Raises:
        DatasetError: anything else (another number, a fraction, an empty or unknown value).
    """
    value = label
    if isinstance(label, str):
        name = canonical_class(label.strip())
        if name:
            return CLASS_NAMES.index(name)
        try:
            value = float(label)
        except ValueError:
            value = None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
            and float(value).is_integer() and 0 <= value < len(CLASS_NAMES):
        return int(value)
    raise DatasetError(f"{where}: label {label!r} is not one of 0-{len(CLASS_NAMES) - 1} (a whole number, also as "
                       f"text) or a class name ({', '.join(CLASS_NAMES)})")


def resolve_data(spec: str, cache_dir: str | Path | None = None, config: Config | None = None,
                 progress: bool = True) -> Path:
    """Turn ``demo`` | ``kaggle`` | ``hf`` | a path into a folder-per-class root on disk."""
    cache_dir = ensure_writable(cache_dir or default_cache_dir(), "the cache folder: set $ALZMRI_CACHE to move it")
    if spec == "demo":
        config = config or Config()
        return synthetic.generate_dataset(
            cache_dir / f"synthetic-{config.synth_n_per_class}x{config.synth_size}-{config.synth_slices}sl"
                        f"-s{config.seed}",
            n_per_class=config.synth_n_per_class, size=config.synth_size, seed=config.seed,
            balance=config.synth_balance, copies=config.synth_copies, slices=config.synth_slices,
            replace_stale=True, progress=progress)
    if spec == "kaggle":
        return download_kaggle()
    if spec == "hf":
        return _parquet_root(download_hf(cache_dir), cache_dir)
    path = existing_path(spec, "Data path ", "; use 'demo', 'kaggle', 'hf' or an existing folder")
    parquets = parquet_files(path)
    return _parquet_root(parquets, cache_dir) if parquets else path


def parquet_files(path: Path) -> list[Path]:
    """The parquet files a data path names: itself, the ones in it, or those in its ``data/`` folder (the
    layout of the Hugging Face repository, as ``snapshot_download`` or a clone gives it, README.md beside).

    Args:
        path: an existing data path.

    Returns:
        The parquet files, sorted; empty when the path holds none (a folder of images).
    """
    if path.is_file():
        return [path] if path.suffix == ".parquet" else []
    for folder in (path, path / "data"):
        found = sorted(p for p in folder.glob("*.parquet") if p.is_file())
        if found:
            return found
    return []


def _parquet_root(parquets: list[Path], cache_dir: Path) -> Path:
    """Class folders extracted from parquet files, once per content: the key hashes every file's name and
    bytes, so a file re-exported with other labels (same size, even same time) is extracted again."""
    out = cache_dir / f"parquet-{_content_key(parquets)}"
    if not out.is_dir():
        with file_lock(cache_dir / f".{out.name}.lock"):  # one process extracts, the others wait and reuse it
            if not out.is_dir():
                _extract_whole(parquets, out)
    return out


def _content_key(parquets: list[Path]) -> str:
    """A short hash of the parquet files' names (their split) and contents."""
    digest = hashlib.sha256()
    for parquet in parquets:
        digest.update(f"{parquet.name}\0{parquet.stat().st_size}\0".encode())
        with open(parquet, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _extract_whole(parquets: list[Path], out: Path) -> None:
    """Extract into a hidden folder beside ``out`` and move it into place whole (the caller holds the lock),
    so no reader sees, and no kill leaves, half an extraction; a killed extraction's leftovers go first."""
    for leftover in out.parent.glob(f".{out.name}.*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        parquet_to_folders(parquets, work)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
