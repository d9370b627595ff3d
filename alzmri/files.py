"""Output folders that are checked before the work starts, and writes that a kill cannot tear.

A read-only or full folder found after an hour of training loses the hour; found at the start it costs
one line. Everything alzmri writes goes through these checks first.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from alzmri.errors import NotWritableError


def is_url_or_stdin(spec: str) -> bool:
    """Whether an input names a URL (``https://...``) or standard input (``-``): neither is read as a file."""
    return spec == "-" or "://" in spec


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


@contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """A fresh temporary path beside ``path``; when the ``with`` block ends without an error, it replaces ``path``.

    The temporary name is unique per call (two processes writing the same file never share one, so neither
    tears the other's write), hidden, and in the same folder (so the final rename is atomic). On an error the
    temporary file is removed and ``path`` is left as it was. A symbolic link is written through: its target is
    replaced and the link stays. Only a regular file is ever replaced: a device, a pipe or a socket (``--json
    /dev/full`` run as root) is refused before anything is written.

    Args:
        path: the file to write.
        suffix: an ending the writer needs on the temporary name (``numpy.savez`` adds ``.npz`` otherwise).

    Yields:
        The temporary path to write to.

    Raises:
        NotWritableError: ``path`` (or the link's target) exists and is not a regular file.
    """
    path = regular_target(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))  # mkstemp makes files private (0600); give it what a plain write would
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def regular_target(path: str | Path) -> Path:
    """The file a write to ``path`` should replace: ``path`` itself, or the file its symbolic links lead to.

    Raises:
        NotWritableError: it exists and is not a regular file (a folder, device, pipe or socket).
    """
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # none yet (or its folder is not one: said when it is written)
        return target
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise NotWritableError(f"{path} is {kind}, not a regular file: alzmri writes its outputs only to regular "
                               "files (give a file path)")
    return target


def _mode_for(path: Path) -> int:
    """The permissions ``path`` has, or for a new file what ``open()`` would give it under this umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def file_lock(path: str | Path):
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block, waiting for other holders.

    ``fcntl.flock``: the operating system releases it when its holder dies, even by SIGKILL, so a crash never
    leaves a stale lock behind.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` beside ``path`` and move it into place: a kill mid-write never leaves a torn ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def is_disk_full(err: BaseException) -> bool:
    """Whether an error means the disk is full (h5py and TensorFlow say so only in the message)."""
    return getattr(err, "errno", None) == errno.ENOSPC or "No space left" in str(err)
