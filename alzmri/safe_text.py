"""Text from outside (paths, folder, file and run names) made safe for the places alzmri writes it.

A folder name may hold a newline, a backtick, HTML or a fake Markdown heading, and a model card that pastes
it raw can be made to say anything ("CLINICALLY VALIDATED"). A terminal line may receive escape codes, and a
matplotlib title treats ``$...$`` as mathematics. Every such value goes through one of these first.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: object) -> str:
    """``text`` as one line: newlines, tabs, escape codes and other control characters become one space."""
    return CONTROL.sub(" ", str(text)).strip()


def inline_code(text: object) -> str:
    """``text`` as one line of Markdown inline code, which shows it literally (no HTML, links or emphasis).

    The fence is one backtick longer than the longest run of backticks inside, and padded with a space where
    the text starts or ends with one, as CommonMark requires, so no backtick in a name can close it early.
    """
    flat = one_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def plot_text(text: object) -> str:
    """``text`` for a matplotlib title or label: one line, ``$`` shown as a dollar rather than starting maths."""
    return one_line(text).replace("$", r"\$")
