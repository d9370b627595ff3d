"""Every error alzmri raises on purpose: bad data, bad settings, runs and weights that cannot be used, outputs
that cannot be written. All of them are defined here and nowhere else.

Each derives from :class:`AlzmriError` (and from the built-in class callers would expect), so the CLI
prints exactly these as one line and lets anything else, a bug or a library's own error, show its
traceback.
"""


class AlzmriError(Exception):
    """An error whose message says what to change; the CLI prints it without a traceback."""


class SettingsError(AlzmriError, ValueError):
    """A setting, option or argument is impossible or unknown; the message names it and what is allowed."""


class OutputExistsError(AlzmriError, FileExistsError):
    """An output path is taken by something alzmri will not overwrite."""


class NotWritableError(AlzmriError, ValueError):
    """An output folder cannot be created or written to."""


class WeightsError(AlzmriError, RuntimeError):
    """Backbone weights could not be had (offline ImageNet, missing or mismatched local file)."""


class RunError(AlzmriError, ValueError):
    """A saved run folder is missing, incomplete, or does not hold a Keras model."""


class DatasetError(AlzmriError, ValueError):
    """The data on disk is not a usable dataset (layout, classes, labels); the message says why."""


class ImageError(DatasetError):
    """An image file or upload that is refused before or while it is decoded: ``name`` is the file (or the upload's
    name as sent), ``reason`` why (a phrase after "is"), ``status`` the HTTP status the server answers with."""

    def __init__(self, name: str, reason: str, status: int = 422):
        super().__init__(f"{name} is {reason}")
        self.name, self.reason, self.status = name, reason, status


class DatasetUnavailableError(AlzmriError, RuntimeError):
    """A dataset could not be downloaded; the message says what is needed and how to use a local copy."""


class SplitsFileError(AlzmriError, ValueError):
    """A run's splits.csv is gone, unreadable, or not the one its training wrote."""


class SplitListError(AlzmriError, ValueError):
    """A split someone else made (``--split-file``, ``--split``) cannot be audited as given: unreadable, unknown split
    names, an empty split, an image in two splits, or a list of other data; the message names the file."""


class MissingDependencyError(AlzmriError, ImportError):
    """An optional dependency (an extra of pyproject.toml) is not installed; the message names the pip command."""


class UploadError(AlzmriError, ValueError):
    """An uploaded file or request the server refuses: ``status`` is the HTTP status, ``file`` the upload's name
    as sent (None for the request as a whole)."""

    def __init__(self, message: str, status: int = 400, file: str | None = None):
        super().__init__(message)
        self.status, self.file = status, file


class ServiceBusyError(AlzmriError, RuntimeError):
    """The server cannot answer in time: its queue is full (``status`` 503) or the request ran past its time limit
    (504); ``retry_after`` is the seconds a client should wait before trying again."""

    def __init__(self, message: str, status: int = 503, retry_after: int = 1):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after
