"""The errors alzmri raises on purpose: bad data, bad settings, runs and weights that cannot be used.

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
