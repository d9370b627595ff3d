"""Output folders that are checked before the work starts, and writes that a kill cannot tear.

A read-only or full folder found after an hour of training loses the hour; found at the start it costs
one line. Everything alzmri writes goes through these checks first.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from .errors import AlzmriError


class NotWritableError(AlzmriError, ValueError):
    """An output folder cannot be created or written to."""


def ensure_writable(folder: str | Path, what: str) -> Path:
    """Create ``folder`` if needed and prove it can be written to, or raise one clear error.

    Args:
        folder: the output folder.
        what: what it is and how to change it, for the message (e.g. "the runs folder ($ALZMRI_RUNS)").

    Returns:
        The folder as a Path.

    Raises:
        NotWritableError: it is a file, cannot be created, or a file cannot be written in it.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotWritableError(f"{folder} ({what}) is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"alzmri")
    except OSError as err:
        raise NotWritableError(f"{folder} ({what}) is not writable: {err.strerror or err}. Choose another "
                               "folder or free some space") from None
    return folder


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` beside ``path`` and move it into place: a kill mid-write never leaves a torn ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def is_disk_full(err: BaseException) -> bool:
    """Whether an error means the disk is full (h5py and TensorFlow say so only in the message)."""
    return getattr(err, "errno", None) == errno.ENOSPC or "No space left" in str(err)
