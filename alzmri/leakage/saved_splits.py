"""A run's own ``splits.csv``: which file went to which split, written at training and read back, checked.

Owns the file a run keeps of its split: :func:`save_splits` writes it, :func:`split_record` is what the run's
metadata records of it, :func:`read_splits` refuses a file that is not the one training wrote, and
:func:`load_splits` gives the run's data split as it was trained. Not to be confused with
:mod:`alzmri.leakage.split_file`, which reads a split made elsewhere (someone else's file list) for the audit.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import pandas as pd

from alzmri.config import CLASS_NAMES, Config
from alzmri.data.datasets import DatasetIndex, DataWarning, index_dataset, resolve_data
from alzmri.errors import SplitsFileError
from alzmri.leakage.prepared import PreparedData
from alzmri.leakage.protocols import SPLITS
from alzmri.safe_text import one_line

SPLITS_COLUMNS = ["relpath", "class_name", "kind", "original", "group", "subject", "slice_pos", "split"]


def splits_table(frame: pd.DataFrame) -> bytes:
    """The bytes of ``splits.csv`` for ``frame``: one row per image, :data:`SPLITS_COLUMNS`."""
    return frame[SPLITS_COLUMNS].to_csv(index=False, lineterminator="\n").encode()


def split_record(data: PreparedData) -> dict:
    """What a run's metadata records of its split, for :func:`load_splits` to check ``splits.csv`` against.

    Returns:
        ``split_sizes`` (images and subjects per split) and ``split_sha256``, the SHA-256 of the whole
        ``splits.csv`` (which file is in which split, with its class, copy group and subject).
    """
    return {"split_sizes": data.sizes(), "split_sha256": hashlib.sha256(splits_table(data.frame)).hexdigest()}


def save_splits(frame: pd.DataFrame, path: Path) -> Path:
    """Write which file went to which split (one row per image, :func:`splits_table`) to ``path``."""
    Path(path).write_bytes(splits_table(frame))
    return Path(path)


def read_splits(path: Path, recorded: dict) -> pd.DataFrame:
    """A run's splits file, refused unless it is the file its training wrote (as its metadata records).

    Args:
        path: the file (:func:`alzmri.models.runs.load_run_splits` passes the run's ``splits.csv``).
        recorded: the run's metadata (its ``split_sizes`` and ``split_sha256``, from :func:`split_record`).

    Returns:
        The table, one row per image, with :data:`SPLITS_COLUMNS`.

    Raises:
        SplitsFileError: the file is gone, empty, not a table of splits, or differs from what training wrote
            (images per split, then the SHA-256 of the whole file); one line that says what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise SplitsFileError(f"{path} is gone: the run's split (which file it trained and is tested on) cannot be "
                              "recomputed safely without it. Restore the file, or train the run again (--replace)")
    raw = path.read_bytes()
    table = _parse_splits(raw, path)
    _check_split_sizes(table, recorded.get("split_sizes"), path)
    if hashlib.sha256(raw).hexdigest() != recorded.get("split_sha256"):
        raise SplitsFileError(f"{path} was changed after training (same images per split, but its SHA-256 is not the "
                              "one the run's metadata recorded): restore the file, or train the run again (--replace)")
    return table


def _parse_splits(raw: bytes, path: Path) -> pd.DataFrame:
    """``raw`` read as a splits table; a SplitsFileError naming ``path`` if it is empty or not one."""
    if not raw.strip():
        raise SplitsFileError(f"{path} is empty: restore the file, or train the run again (--replace)")
    try:
        table = pd.read_csv(io.BytesIO(raw), keep_default_na=False, dtype={"subject": str, "original": str})
    except ValueError as err:  # pandas' parser errors and UnicodeDecodeError are ValueErrors
        raise SplitsFileError(f"{path} is not a table of splits ({type(err).__name__}); binary or damaged? Restore "
                              "the file, or train the run again (--replace)") from None
    missing = [c for c in SPLITS_COLUMNS if c not in table.columns]
    if missing:
        raise SplitsFileError(f"{path} is not a table of splits (no column {', '.join(missing)}): restore the file, or "
                              "train the run again (--replace)")
    return table


def _check_split_sizes(table: pd.DataFrame, sizes, path: Path) -> None:
    """Refuse a splits table whose images per split differ from ``sizes`` (the run's ``split_sizes``)."""
    recorded = {k: v.get("images") for k, v in sizes.items() if isinstance(v, dict)} if isinstance(sizes, dict) else {}
    found = table["split"].value_counts()
    wrong = [f"{split} {int(found.get(split, 0))} images (recorded {recorded.get(split, 0)})" for split in SPLITS
             if int(found.get(split, 0)) != recorded.get(split, 0)]
    if wrong:
        raise SplitsFileError(f"{path} does not match what the run's metadata recorded: {'; '.join(wrong)}. "
                              "It was edited or replaced after training: restore it, or train the run again (--replace)")


def load_splits(path: Path, recorded: dict, config: Config, progress: bool = True) -> PreparedData:
    """The data of a saved run, split as it was trained: its splits file (:func:`read_splits`), not recomputed.

    Args:
        path: the run's splits file.
        recorded: the run's metadata, which the file is checked against.
        config: the run's settings (its data, protocol, and whether its labels were shuffled).
        progress: show progress bars.

    Returns:
        The run's data with its saved split; images on disk that the file does not list are ``unused``, and rows
        naming files that are not on disk are named in a DataWarning and left out.

    Raises:
        SplitsFileError: the file is gone, unreadable, or not what the run's metadata recorded.
    """
    saved = read_splits(path, recorded)
    index = index_dataset(resolve_data(config.data, config=config, progress=progress), progress=progress)
    _warn_unmatched(saved, index, Path(path).name)
    kept = ["relpath", "original", "group", "subject", "slice_pos", "split"]
    frame = index.frame.drop(columns=["original"]).merge(saved[kept], on="relpath", how="left")
    frame = frame.fillna({"split": "unused", "subject": "", "original": "", "group": -1})
    frame["group"] = frame["group"].astype(int)
    if config.shuffle_labels:  # the labels it was trained and tested on are the saved ones
        frame["class_name"] = frame["relpath"].map(saved.set_index("relpath")["class_name"]).fillna(frame["class_name"])
        frame["label"] = frame["class_name"].map({c: i for i, c in enumerate(CLASS_NAMES)})
    return PreparedData(index, frame, config.split)


def _warn_unmatched(saved: pd.DataFrame, index: DatasetIndex, name: str) -> None:
    """Name the files ``saved`` lists that are not in the data (and count the data's images it does not list)."""
    on_disk = set(index.frame["relpath"])
    gone = saved[~saved["relpath"].isin(on_disk) & (saved["split"] != "unused")]
    if len(gone):
        named = ", ".join(f"{r} ({s})" for r, s in zip(gone["relpath"].head(5), gone["split"].head(5)))
        more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
        warnings.warn(f"{len(gone)} file(s) the run's {name} names are not in {one_line(index.root)} (deleted or moved "
                      f"since training?): {named}{more}; they are left out of their splits", DataWarning, stacklevel=3)
    added = len(on_disk - set(saved["relpath"]))
    if added:
        warnings.warn(f"{added} image(s) of {one_line(index.root)} are not in the run's {name} (added since it was "
                      "trained?): left out", DataWarning, stacklevel=3)
