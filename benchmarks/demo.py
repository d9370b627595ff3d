"""The demo's numbers for the docs: run ``python -m alzmri demo`` from a fresh cache and keep what it measured.

Usage: python benchmarks/demo.py [--profile demo] [--out docs/results] [--figures docs/figures/demo]

Runs :func:`alzmri.demo.run_demo` with generated data and runs in a temporary folder (nothing cached, as on a
fresh clone), writes its summary to ``docs/results/demo.json`` (the file every demo number in README.md and
docs/ quotes; ``python benchmarks/docs_numbers.py`` rewrites the quotes from it) and copies the run's figures
to ``docs/figures/demo/``, where the docs show them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from results import ROOT, add_out_option, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", help="preset (default demo)")
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures" / "demo"),
                        help="folder the run's figures are copied to (default docs/figures/demo)")
    add_out_option(parser)
    args = parser.parse_args()
    start = time.perf_counter()  # wall clock as a user sees it: TensorFlow's import and the data generation included
    with tempfile.TemporaryDirectory(prefix="alzmri-demo-") as scratch:
        os.environ["ALZMRI_CACHE"] = str(Path(scratch) / "cache")  # read each time a config is made
        os.environ["ALZMRI_RUNS"] = str(Path(scratch) / "runs")
        from alzmri.config import get_config
        from alzmri.demo import run_demo
        from alzmri.tfenv import quiet_tensorflow

        quiet_tensorflow()
        summary = run_demo(get_config(args.profile))
        figures = Path(scratch) / "runs" / summary["run"] / "figures"
        target = Path(args.figures)
        target.mkdir(parents=True, exist_ok=True)
        for png in sorted(figures.glob("*.png")):
            shutil.copy2(png, target / png.name)
        print(f"figures: {target}")
    measured = {k: v for k, v in summary.items() if k not in ("machine", "date", "command")}
    measured["wall_seconds"] = round(time.perf_counter() - start, 1)
    write_results("demo" if args.profile == "demo" else f"demo_{args.profile}", measured, args.out)


if __name__ == "__main__":
    main()
