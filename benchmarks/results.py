"""Where benchmark results go: one JSON file per script, which the docs quote instead of typed-in numbers.

Every file starts with the ``machine`` it ran on, the ``date``, the ``command`` that reproduces it and the
``load_average`` of the machine as it finished, then the measured values. Repeated timings are ``{"median", "min", "max", "rounds"}``; a ratio with a goal adds
``"goal"`` (e.g. ``">= 10"``) and ``"met"`` (its median against the goal). Files are written atomically, into
``docs/results/`` unless ``--out`` names another folder.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
GOALS = {">=": lambda value, goal: value >= goal, "<=": lambda value, goal: value <= goal}


def writable_folder(folder: str) -> Path:
    """An output folder, created and proved writable before the work starts, not after it."""
    from alzmri.files import ensure_writable
    from alzmri.errors import NotWritableError

    try:
        return ensure_writable(folder, "the output folder")
    except NotWritableError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_out_option(parser: argparse.ArgumentParser) -> None:
    """``--out FOLDER`` for the results file (default docs/results/), checked when the arguments are parsed."""
    parser.add_argument("--out", type=writable_folder, default=str(RESULTS),
                        help="folder for the results JSON (default docs/results/)")


def command() -> str:
    """The command line that reproduces this run, the script's path relative to the repository where it is in it."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def summary(values: list[float], digits: int = 4) -> dict:
    """Repeated measurements: median, min, max and every round, rounded."""
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "rounds": [round(v, digits) for v in values]}


def against_goal(values: list[float], op: str, goal: float, digits: int = 4) -> dict:
    """Per-round ratios summarised, with the goal and whether the median meets it."""
    return {**summary(values, digits), "goal": f"{op} {goal:g}", "met": GOALS[op](statistics.median(values), goal)}


def _plain(value):
    """numpy scalars and arrays as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _load_average() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages when the results are written: other work running beside a
    benchmark slows what it times (ratios less so), and the file should say how busy the machine was."""
    import os

    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def write_results(name: str, values: dict, out: Path = RESULTS) -> Path:
    """Write ``{machine, date, command, **values}`` to ``out/<name>.json`` atomically; print and return its path."""
    from alzmri.files import write_text_atomically
    from alzmri.timing import machine

    folder = writable_folder(out)
    record = {"machine": machine(), "date": date.today().isoformat(), "command": command(),
              "load_average": _load_average(), **values}
    path = write_text_atomically(folder / f"{name}.json", json.dumps(record, indent=2, default=_plain) + "\n")
    print(f"results: {path}")
    return path


def publish_figure(source: Path, target: Path) -> Path:
    """Copy a figure into the docs as a 256-colour PNG: these plots need no more colours, and the repository keeps
    them small (a Grad-CAM gallery drops from about 0.5 MB to about a quarter of that)."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    print(f"figure: {target}")
    return target
