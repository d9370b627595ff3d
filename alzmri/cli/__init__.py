"""Command line: ``python -m alzmri <command>``. Each command parses its options, runs the work (an evaluation, a
comparison, cross-validation, Grad-CAM: package functions) and hands the results to :mod:`alzmri.reporting`, which
draws and prints them; the commands live by group in :mod:`alzmri.cli.data` (synth, audit,
compare, cv), :mod:`alzmri.cli.runs` (train, demo, evaluate, runs), :mod:`alzmri.cli.images` (predict, gradcam) and
:mod:`alzmri.cli.serve` (serve).

May import anything in the package; nothing in the package imports it.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from alzmri import __version__
from alzmri.cli import data, images, runs, serve
from alzmri.errors import AlzmriError
from alzmri.files import is_disk_full
from alzmri.models.provenance import DISCLAIMER
from alzmri.tfenv import quiet_tensorflow

#: Each command's parser, in the order ``--help`` lists them.
COMMANDS = (data.add_synth, data.add_audit, runs.add_train, runs.add_demo, data.add_compare, data.add_cv, runs.add_runs,
            runs.add_evaluate, images.add_predict, images.add_gradcam, serve.add_serve)
PACKAGE = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="alzmri", description=f"Alzheimer's MRI transfer learning. {DISCLAIMER}")
    parser.add_argument("--version", action="version", version=f"alzmri {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """alzmri's own warnings (notes about the data, the cache, a card) as one line; others as Python shows them."""
    if str(Path(filename).resolve()).startswith(str(PACKAGE)):
        return f"alzmri: note: {message}\n"
    return _python_formatwarning(message, category, filename, lineno, line)


_python_formatwarning = warnings.formatwarning


def main(argv: list[str] | None = None) -> int:
    """Run one command; alzmri's own errors (bad data, settings, runs) print one clear line and exit with status 2."""
    args = build_parser().parse_args(argv)
    pd.set_option("display.width", 160)
    quiet_tensorflow()  # before any module loads TensorFlow: no CUDA noise on a CPU machine
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except AlzmriError as err:  # the project's own errors; anything else is a bug and keeps its traceback
        print(f"alzmri {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if not is_disk_full(err):
            raise
        print(f"alzmri {args.command}: error: the disk is full ({err}). Free some space and run the same command "
              "again: an unfinished run resumes, and finished runs were not touched", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
