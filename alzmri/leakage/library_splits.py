"""The splits that common notebook code draws, reproduced file for file, so that ``alzmri audit`` can check them.

Most published work on these slices splits with one of three calls, and reports what that split gives:

* ``keras:FRACTION:SEED``: ``keras.utils.image_dataset_from_directory(folder, validation_split=FRACTION,
  subset="both", seed=SEED)``. Keras lists the class folders in sorted order (hidden ones left out), each one's
  files walked in sorted order, shuffles the whole list with ``numpy.random.RandomState(SEED)``, and takes the last
  ``int(FRACTION * n)`` files for validation.
* ``imagedatagenerator:FRACTION``: ``ImageDataGenerator(validation_split=FRACTION).flow_from_directory(folder,
  subset=...)``. No shuffle: in each class folder, the first ``int(FRACTION * n)`` files in sorted order are the
  validation subset, the rest training.
* ``sklearn:TEST_SIZE:SEED[:stratify]``: scikit-learn's ``train_test_split(files, test_size=TEST_SIZE,
  random_state=SEED, stratify=classes)`` over the files in the order ``image_dataset_from_directory(folder,
  shuffle=False)`` lists them (class folders sorted, each walked in sorted order: ``sorted(glob(...))``'s order
  where class folders hold no sub-folders).

Each spec may end with ``:FOLDER``, the folder (relative to the data) that the code was given, whose sub-folders
are the classes; by default the folder of class folders holding the most images (``data/train`` in the Kaggle V2
layout). The result is a table of ``path`` and ``split`` rows, matched to the data like a user's own split file
(:mod:`alzmri.leakage.split_file`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alzmri.errors import SettingsError

#: The file types each library reads (``image_dataset_from_directory``; ``ImageDataGenerator``).
KERAS_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
GENERATOR_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")
LIBRARIES = ("keras", "imagedatagenerator", "sklearn")
SPEC_HELP = ("keras:FRACTION:SEED, imagedatagenerator:FRACTION or sklearn:TEST_SIZE:SEED[:stratify], each "
             "optionally ending in :FOLDER (the folder the code was given, relative to the data)")


@dataclass(frozen=True)
class LibrarySplit:
    """One library's split, as ``--split`` names it.

    Attributes:
        library: one of :data:`LIBRARIES`.
        fraction: the validation (keras, imagedatagenerator) or test (sklearn) share.
        seed: the random seed (None for imagedatagenerator, which does not shuffle).
        stratify: sklearn only: stratified by class.
        folder: the folder the code was given, relative to the data ("" for the data's root; None: the default).
    """

    library: str
    fraction: float
    seed: int | None = None
    stratify: bool = False
    folder: str | None = None

    def describe(self, folder: str) -> str:
        """The call this split reproduces, in the words of the code, over ``folder``."""
        where = f"'{folder or '.'}'"
        if self.library == "keras":
            return (f"image_dataset_from_directory({where}, validation_split={self.fraction:g}, subset='both', "
                    f"seed={self.seed})")
        if self.library == "imagedatagenerator":
            return f"ImageDataGenerator(validation_split={self.fraction:g}).flow_from_directory({where})"
        stratify = ", stratify=classes" if self.stratify else ""
        return f"train_test_split(files of {where}, test_size={self.fraction:g}, random_state={self.seed}{stratify})"


def _number(text: str, kind: type, what: str, spec: str):
    """``text`` as an int or float, or a SettingsError naming ``--split``."""
    try:
        return kind(text)
    except ValueError:
        raise SettingsError(f"--split {spec}: {what} must be {'a whole number' if kind is int else 'a number'}, "
                            f"got {text!r}; expected {SPEC_HELP}") from None


def parse_split_spec(spec: str) -> LibrarySplit:
    """Read a ``--split`` value (see the module docstring).

    Args:
        spec: e.g. ``keras:0.2:123``, ``imagedatagenerator:0.2:data/train`` or ``sklearn:0.2:42:stratify``.

    Returns:
        The :class:`LibrarySplit`.

    Raises:
        SettingsError: an unknown library, a missing or malformed number, a fraction outside (0, 1); one line.
    """
    library, _, rest = spec.partition(":")
    library = library.strip().lower()
    if library not in LIBRARIES:
        raise SettingsError(f"--split {spec}: unknown library {library!r}; expected {SPEC_HELP}")
    fields = rest.split(":") if rest else []
    needed = 1 if library == "imagedatagenerator" else 2
    if len(fields) < needed:
        raise SettingsError(f"--split {spec}: too few fields; expected {SPEC_HELP}")
    fraction = _number(fields[0], float, "the fraction", spec)
    if not 0 < fraction < 1:
        raise SettingsError(f"--split {spec}: the fraction must lie strictly between 0 and 1, got {fraction:g}")
    seed = _number(fields[1], int, "the seed", spec) if needed == 2 else None
    rest_fields = fields[needed:]
    stratify = library == "sklearn" and bool(rest_fields) and rest_fields[0].lower() == "stratify"
    rest_fields = rest_fields[1:] if stratify else rest_fields
    folder = ":".join(rest_fields).strip("/") if rest_fields else None
    return LibrarySplit(library, fraction, seed, stratify, folder)


def class_folders(directory: Path, hidden: bool) -> list[str]:
    """The sub-folders a library reads as classes, in its order: sorted, hidden ones kept only if ``hidden``."""
    return [d for d in sorted(os.listdir(directory)) if (directory / d).is_dir() and (hidden or not d.startswith("."))]


def listed_files(directory: Path, class_name: str, formats: tuple[str, ...]) -> list[str]:
    """A class folder's files as both libraries list them: walked in sorted order without following links, kept when
    the lower-case name ends with one of ``formats``; each as ``<class>/<path within the class folder>``."""
    top = directory / class_name
    files = []
    for here, _, names in sorted(os.walk(top), key=lambda walked: walked[0]):
        files += [os.path.join(class_name, os.path.relpath(os.path.join(here, name), top))
                  for name in sorted(names) if name.lower().endswith(formats)]
    return files


def keras_split(directory: Path, fraction: float, seed: int) -> dict[str, list[str]]:
    """``image_dataset_from_directory(directory, validation_split=fraction, subset="both", seed=seed)``'s files.

    Returns:
        ``{"train": [...], "val": [...]}``, paths relative to ``directory`` in Keras's order.
    """
    files = [f for name in class_folders(directory, hidden=False) for f in listed_files(directory, name, KERAS_FORMATS)]
    np.random.RandomState(seed).shuffle(files)
    n_val = int(fraction * len(files))
    return {"train": files[:-n_val], "val": files[-n_val:]}  # as Keras slices: with n_val 0, train is empty


def generator_split(directory: Path, fraction: float) -> dict[str, list[str]]:
    """``ImageDataGenerator(validation_split=fraction).flow_from_directory(directory, subset=...)``'s ``filenames``.

    Returns:
        ``{"train": [...], "val": [...]}``, paths relative to ``directory``: per class the first
        ``int(fraction * n)`` files validate, the rest train.
    """
    parts: dict[str, list[str]] = {"train": [], "val": []}
    for name in class_folders(directory, hidden=True):
        files = listed_files(directory, name, GENERATOR_FORMATS)
        cut = int(fraction * len(files))
        parts["val"] += files[:cut]
        parts["train"] += files[cut:]
    return parts


def sklearn_split(directory: Path, test_size: float, seed: int, stratify: bool) -> dict[str, list[str]]:
    """``train_test_split(files, test_size=test_size, random_state=seed, stratify=classes if stratify)`` over the
    files in Keras's unshuffled order.

    Returns:
        ``{"train": [...], "test": [...]}``, paths relative to ``directory``.

    Raises:
        SettingsError: scikit-learn refuses the split (too few files, or a class too small to stratify).
    """
    from sklearn.model_selection import train_test_split

    listed = [(f, name) for name in class_folders(directory, hidden=False)
              for f in listed_files(directory, name, KERAS_FORMATS)]
    files, classes = [f for f, _ in listed], [c for _, c in listed]
    try:
        train, test = train_test_split(files, test_size=test_size, random_state=seed,
                                       stratify=classes if stratify else None)
    except ValueError as err:
        raise SettingsError(f"--split sklearn over {directory}: scikit-learn refuses it: {err}") from None
    return {"train": list(train), "test": list(test)}


def default_folder(subsets: pd.Series) -> str:
    """The folder of class folders (an index's ``subset``) holding the most images: the one such code is given."""
    counts = subsets.value_counts()
    return str(counts.index[0]) if len(counts) else ""


def draw_split(root: Path, spec: LibrarySplit, subsets: pd.Series) -> tuple[pd.DataFrame, str]:
    """The files ``spec``'s library puts in each split, over its folder of ``root``.

    Args:
        root: the data's root folder.
        spec: which split.
        subsets: the indexed images' ``subset`` column (for the default folder).

    Returns:
        ``(table, description)``: ``path`` (relative to ``root``) and ``split`` per file, and the call reproduced.

    Raises:
        SettingsError: the folder is not a folder of ``root``.
    """
    folder = default_folder(subsets) if spec.folder is None else spec.folder
    directory = Path(root) / folder
    if not directory.is_dir():
        raise SettingsError(f"--split {spec.library}: {folder!r} is not a folder of {root}; its folders of class "
                            f"folders are {sorted(subsets.unique())}")
    if spec.library == "keras":
        parts = keras_split(directory, spec.fraction, spec.seed)
    elif spec.library == "imagedatagenerator":
        parts = generator_split(directory, spec.fraction)
    else:
        parts = sklearn_split(directory, spec.fraction, spec.seed, spec.stratify)
    rows = [(Path(folder, f).as_posix(), split) for split, files in parts.items() for f in files]
    return pd.DataFrame(rows, columns=["path", "split"]), spec.describe(folder)
