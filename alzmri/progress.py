"""Progress bars that fit where they are shown: a terminal, a notebook, or a log file.

A bar redrawn with carriage returns and colour codes is useful in a terminal and in a notebook (tqdm.auto
draws a widget there), but written to a file it becomes one long line of escape codes. So bars are shown
only where someone watches them live; Keras' training then logs one plain line per epoch instead.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """Whether this runs in a Jupyter or Colab kernel (an IPython shell with a kernel), not merely beside one."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def watched() -> bool:
    """Whether output is watched live: standard error is a terminal, or this runs in a notebook."""
    stream = sys.stderr
    return in_notebook() or bool(getattr(stream, "isatty", None) and stream.isatty())


def show_bars(progress: bool) -> bool:
    """Whether to draw tqdm bars: asked for and watched live."""
    return progress and watched()


def keras_verbose(progress: bool, per_epoch: bool = False) -> int:
    """Keras' ``verbose`` for ``fit`` (``per_epoch``) or ``predict``: a live bar where watched, else one line
    per epoch for training and nothing for prediction."""
    if not progress:
        return 0
    return 1 if watched() else (2 if per_epoch else 0)
