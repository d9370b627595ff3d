"""A split someone else made, read from their file list and matched to the indexed data.

The list is a CSV with a path column (``path``, ``file``, ``filepath``, ``filepaths`` or ``filename``) and a
``split`` column, or one text file of paths per split (``train=a.txt test=b.txt``, one path a line). Each row is
matched to an image of the data by its relative path (the data's relative path is the end of the listed one, or
the listed one, of two parts or more, the end of the data's: a list made on another copy, or relative to a
folder of the data), then by its file name alone, then, where the listed file can be read here, by its content
(a renamed or re-encoded copy of the image): its slice feature at least :data:`SAME_IMAGE_LEVEL` like the image's
and its copy descriptor above the duplicate threshold (:mod:`alzmri.leakage.similarity`).

What cannot be used is said, one line each: rows that match nothing or several images (counted, named, left
out), rows naming an image again (counted, kept once); and refused with a :class:`SplitListError` naming the file:
an unreadable or empty list, split names other than train / val / test (and their spellings), a split with no
image, an image in two splits, or a list of which most rows match nothing (another dataset).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.config import default_cache_dir
from alzmri.data.datasets import check_image
from alzmri.errors import SplitListError
from alzmri.leakage.similarity import Features, best_match, compute_features
from alzmri.leakage.protocols import OFFICIAL_NAMES
from alzmri.leakage.subjects import named_files
from alzmri.safe_text import one_line

PATH_COLUMNS = ("path", "file", "filepath", "filepaths", "filename")
SAME_IMAGE_LEVEL = 0.99  # slice-feature correlation of an image and its re-encoded copy (neighbours stay below)
MIN_MATCHED_SHARE = 0.5  # below this share of rows matched, the list is of other data
SHOWN = 3  # examples named in a one-line note


def named(items: list[str]) -> str:
    """Up to :data:`SHOWN` items, each on one line, then how many more (:func:`~alzmri.leakage.subjects.named_files`)."""
    return named_files([one_line(i) for i in items[:SHOWN]] + items[SHOWN:], SHOWN)


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV list's ``path`` and ``split`` columns (names as written), or a SplitListError naming ``path``."""
    try:
        raw = path.read_bytes()
        table = pd.read_csv(io.BytesIO(raw), keep_default_na=False, dtype=str) if raw.strip() else pd.DataFrame()
    except OSError as err:
        raise SplitListError(f"--split-file {path} cannot be read: {err.strerror or err}") from None
    except ValueError as err:  # pandas' parser errors and UnicodeDecodeError are ValueErrors
        raise SplitListError(f"--split-file {path} is not a CSV table ({type(err).__name__}); binary or damaged?") \
            from None
    columns = {str(c).strip().lower(): c for c in table.columns}
    path_column = next((columns[c] for c in PATH_COLUMNS if c in columns), None)
    if table.empty or path_column is None or "split" not in columns:
        raise SplitListError(f"--split-file {path} needs a path column ({', '.join(PATH_COLUMNS)}) and a split column "
                             f"with a row per file; it has {len(table)} row(s), columns {list(table.columns)}")
    return pd.DataFrame({"path": table[path_column].str.strip(), "split": table[columns["split"]].str.strip()})


def _read_text(spec: str) -> pd.DataFrame:
    """A ``NAME=FILE`` list: FILE's paths (one a line, blank and ``#`` lines skipped), all in split NAME."""
    name, _, file = spec.partition("=")
    try:
        lines = Path(file).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SplitListError(f"--split-file {spec}: {file} cannot be read as text ({type(err).__name__})") from None
    paths = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not paths:
        raise SplitListError(f"--split-file {spec}: {file} lists no file, so the {name} split would be empty")
    return pd.DataFrame({"path": paths, "split": name.strip()})


def read_split_file(specs: list[str]) -> pd.DataFrame:
    """Read a user's split list (see the module docstring).

    Args:
        specs: one CSV file, or ``NAME=FILE`` text lists (one per split).

    Returns:
        ``path`` (as listed), ``split`` (train, val or test) and ``base`` (the list's folder, for relative paths).

    Raises:
        SplitListError: an unreadable or empty list, a CSV without its columns, CSV and text lists mixed, a split
            named twice, or unknown split names (one line naming the file).
    """
    texts = [s for s in specs if "=" in s]
    if texts and len(texts) != len(specs) or not texts and len(specs) != 1:
        raise SplitListError(f"--split-file takes one CSV file or NAME=FILE text lists, one per split; got {specs}")
    if texts:
        names = [OFFICIAL_NAMES.get(s.partition("=")[0].strip().lower(), s) for s in texts]  # training is train
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SplitListError(f"--split-file names the split(s) {twice} more than once: give one list per split")
        table = pd.concat([_read_text(s).assign(base=str(Path(s.partition('=')[2]).parent)) for s in texts])
    else:
        table = _read_csv(Path(specs[0])).assign(base=str(Path(specs[0]).parent))
    return canonical_splits(table.reset_index(drop=True), " ".join(specs))


def canonical_splits(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """``table`` with every split name as train, val or test (any case; training, valid, testing ... accepted).

    Raises:
        SplitListError: names that are none of these, counted and listed.
    """
    canonical = table["split"].str.lower().map(OFFICIAL_NAMES)
    unknown = table.loc[canonical.isna(), "split"].value_counts()
    if len(unknown):
        listed = ", ".join(f"{name!r} ({n} row(s))" for name, n in unknown.items())
        raise SplitListError(f"{where}: unknown split name(s) {listed}; use train, val or test (training, valid, "
                             "validation, testing are read as those)")
    return table.assign(split=canonical)


def _path_parts(path: str) -> list[str]:
    """A listed path's components, whatever its separators (a drive letter, ``.`` and empty parts left out)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return parts[1:] if parts and parts[0].endswith(":") else parts


def _suffix_index(relpaths: list[str]) -> dict[str, list[int]]:
    """Every trailing run of path parts of the data's files, to the rows that end with it."""
    index: dict[str, list[int]] = {}
    for row, relpath in enumerate(relpaths):
        parts = relpath.split("/")
        for k in range(1, len(parts) + 1):
            index.setdefault("/".join(parts[-k:]), []).append(row)
    return index


def match_by_path(paths: list[str], relpaths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each listed path's row of the data, by the longest trailing run of path parts they share.

    Returns:
        ``(rows, how)``: the row (-1 for none) and how it matched: ``path`` (one path is the end of the other),
        ``name`` (a shorter ending, the file name at least), ``ambiguous`` (several images end alike) or ``""``.
    """
    index = _suffix_index(relpaths)
    depth = [len(r.split("/")) for r in relpaths]
    rows, how = np.full(len(paths), -1), np.full(len(paths), "", dtype=object)
    for i, path in enumerate(paths):
        parts = _path_parts(path)
        for k in range(len(parts), 0, -1):
            found = index.get("/".join(parts[-k:]))
            if found is None:
                continue
            if len(found) > 1:
                how[i] = "ambiguous"
            else:
                rows[i] = found[0]
                how[i] = "path" if k == len(parts) or k == depth[found[0]] else "name"
            break
    return rows, how


def _local_image(path: str, base: str) -> Path | None:
    """The listed file, as an image that can be decoded here (as listed, or relative to its list's folder), or None.

    An odd-mode image is read through its converted copy (:func:`alzmri.data.datasets.check_image`).
    """
    for candidate in (Path(path).expanduser(), Path(base) / path):
        if candidate.is_file():
            status, info = check_image(candidate, default_cache_dir())
            return None if status == "skipped" else Path(info["used"])
    return None


def match_by_content(files: list[Path], features: Features, duplicate_threshold: float) -> np.ndarray:
    """Each file's row of the data whose image it is (renamed or re-encoded), -1 where none is alike enough."""
    if not files:
        return np.zeros(0, int)
    listed = compute_features([str(f) for f in files], progress=False)
    rows, level = best_match(listed.slice, features.slice, flips=False)
    copy = np.einsum("ij,ij->i", listed.copy, features.copy[np.maximum(rows, 0)])
    return np.where((level >= SAME_IMAGE_LEVEL) & (copy >= duplicate_threshold), rows, -1)


@dataclass
class ListedSplit:
    """A user's split matched to the data (:func:`match_split`).

    Attributes:
        name: what it is (the list's file, or the call reproduced).
        split: per image of the data, in its order: ``train``, ``val``, ``test`` or ``unused`` (not listed).
        rows: the rows of the list.
        matched: rows matched, by how (``path``, ``name``, ``content``).
        notes: one line per thing left out or counted once, with its count and examples.
        description: what the split is, in words (the file, or the library call it reproduces).
    """

    name: str
    split: np.ndarray
    rows: int
    matched: dict[str, int]
    notes: list[str] = field(default_factory=list)
    description: str = ""

    def files(self, relpaths: pd.Series) -> dict[str, list[str]]:
        """Each split's files (relative paths), in the data's order."""
        return {s: relpaths[self.split == s].tolist() for s in ("train", "val", "test") if (self.split == s).any()}


def _match_rows(table: pd.DataFrame, relpaths: list[str], features: Features | None,
                duplicate_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every row's data row and how it matched: by path or name, then by content where it can be read here."""
    rows, how = match_by_path(table["path"].tolist(), relpaths)
    todo = [i for i in np.flatnonzero(rows < 0) if features is not None]
    local = [(i, _local_image(table["path"].iat[i], table["base"].iat[i])) for i in todo]
    local = [(i, f) for i, f in local if f is not None]
    found = match_by_content([f for _, f in local], features, duplicate_threshold) if local else []
    for (i, _), row in zip(local, found):
        if row >= 0:
            rows[i], how[i] = row, "content"
    return rows, how


def _unmatched_notes(table: pd.DataFrame, rows: np.ndarray, how: np.ndarray, where: str) -> list[str]:
    """One line for the rows that match nothing, one for those that could be several images."""
    notes = []
    missing = table["path"][(rows < 0) & (how != "ambiguous")].tolist()
    if missing:
        notes.append(f"{len(missing)} of {len(table)} listed file(s) are not among the images of {where} "
                     f"(e.g. {named(missing)}): left out")
    ambiguous = table["path"][(rows < 0) & (how == "ambiguous")].tolist()
    if ambiguous:
        notes.append(f"{len(ambiguous)} listed file(s) could be any of several images of {where}, the same name in "
                     f"several folders (e.g. {named(ambiguous)}): left out; list paths with their folders")
    return notes


def _check_matched(table: pd.DataFrame, rows: np.ndarray, name: str, where: str) -> None:
    """Refuse a list most of whose rows match nothing, and one image listed in two splits."""
    if (rows >= 0).mean() < MIN_MATCHED_SHARE:
        raise SplitListError(f"{name}: only {int((rows >= 0).sum())} of its {len(rows)} rows match an image of "
                             f"{where} (e.g. {named(table['path'][rows < 0].tolist())} do not): a list of other "
                             "data? Give the data the list was made on")
    used = pd.DataFrame({"row": rows, "split": table["split"], "path": table["path"]})[rows >= 0]
    splits_per_image = used.groupby("row")["split"].nunique()
    twice = splits_per_image.index[splits_per_image > 1]
    if len(twice):
        example = used[used["row"].isin(twice)].groupby("row").agg(lambda s: "/".join(dict.fromkeys(s)))
        shown = [f"{p} ({s})" for p, s in zip(example["path"], example["split"])]
        raise SplitListError(f"{name}: {len(twice)} image(s) are listed in two splits (e.g. {named(shown)}); an "
                             "image in train and test is the plainest leak: fix the list, each image in one split")


def match_split(table: pd.DataFrame, relpaths: pd.Series, features: Features | None, duplicate_threshold: float,
                name: str, where: str) -> ListedSplit:
    """Match a split list to the data (see the module docstring) and check it.

    Args:
        table: ``path``, ``split`` and ``base`` per row (:func:`read_split_file`, or a drawn split).
        relpaths: the data's relative paths, in its order.
        features: the data's image features, row for row (None: no match by content).
        duplicate_threshold: copy-descriptor correlation from which two images are copies.
        name: what the list is, in messages.
        where: the data, in messages.

    Returns:
        The :class:`ListedSplit`.

    Raises:
        SplitListError: most rows match nothing, an image in two splits, a split without a matched image, or no
            train split or no held-out split.
    """
    rows, how = _match_rows(table, relpaths.tolist(), features, duplicate_threshold)
    _check_matched(table, rows, name, where)
    notes = _unmatched_notes(table, rows, how, where)
    kept = pd.DataFrame({"row": rows, "split": table["split"], "path": table["path"]})[rows >= 0]
    again = kept[kept["row"].duplicated()]
    if len(again):
        notes.append(f"{len(again)} row(s) name an image listed before (e.g. {named(again['path'].tolist())}): "
                     "counted once")
    split = np.full(len(relpaths), "unused", dtype=object)
    split[kept["row"].to_numpy()] = kept["split"].to_numpy()
    _check_parts(table, split, name)
    counts = pd.Series(how[rows >= 0]).value_counts()
    return ListedSplit(name, split, len(table), {k: int(counts.get(k, 0)) for k in ("path", "name", "content")},
                       notes)


def _check_parts(table: pd.DataFrame, split: np.ndarray, name: str) -> None:
    """Every split the list names holds a matched image, and there is a train split and a held-out one."""
    empty = [s for s in dict.fromkeys(table["split"]) if not (split == s).any()]
    if empty:
        raise SplitListError(f"{name}: its {'/'.join(empty)} split matches no image of the data: it would be empty")
    present = set(split) - {"unused"}
    if "train" not in present or not present & {"val", "test"}:
        raise SplitListError(f"{name}: it needs a train split and a val or test split to audit; it has "
                             f"{sorted(present)}")
