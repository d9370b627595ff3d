"""The demo's numbers for the docs: run ``python -m alzmri demo`` from a fresh cache and keep what it measured.

Usage: python benchmarks/demo.py [--profile demo] [--keep DIR] [--out docs/results] [--figures docs/figures/demo]

Runs :func:`alzmri.demo.run_demo` with generated data and runs in a temporary folder (nothing cached, as on a
fresh clone), writes its summary to ``docs/results/demo.json`` (the file every demo number in README.md and
docs/ quotes; ``python benchmarks/docs_numbers.py`` rewrites the quotes from it) and copies the run's figures
to ``docs/figures/demo/``, where the docs show them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from results import ROOT, add_out_option, publish_figure, write_results


def save_sample_grid(config, path: Path) -> None:
    """A grid of the demo's synthetic originals, one row per class, as the docs show it."""
    from alzmri.reporting import plots
    from alzmri.data.datasets import index_dataset, resolve_data

    frame = index_dataset(resolve_data(config.data, config=config), progress=False).frame
    originals = frame[frame["kind"] == "original"]
    plots.save_figure(plots.sample_grid(originals, title="SYNTHETIC demo slices (alzmri.data.synthetic), one row per "
                                                         "class"), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", help="preset (default demo)")
    parser.add_argument("--keep", help="an empty folder to keep the generated data (cache/) and the run (runs/) in, "
                                       "for later benchmarks (default: a temporary one, deleted afterwards)")
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures" / "demo"),
                        help="folder the run's figures are copied to (default docs/figures/demo)")
    add_out_option(parser)
    args = parser.parse_args()
    start = time.perf_counter()  # wall clock as a user sees it: TensorFlow's import and the data generation included
    with tempfile.TemporaryDirectory(prefix="alzmri-demo-") as scratch:
        home = Path(args.keep or scratch)
        os.environ["ALZMRI_CACHE"] = str(home / "cache")  # read each time a config is made
        os.environ["ALZMRI_RUNS"] = str(home / "runs")
        from alzmri.config import get_config
        from alzmri.demo import run_demo
        from alzmri.tfenv import quiet_tensorflow

        quiet_tensorflow()
        summary = run_demo(get_config(args.profile))
        figures = Path(os.environ["ALZMRI_RUNS"]) / summary["run"] / "figures"
        target = Path(args.figures)
        target.mkdir(parents=True, exist_ok=True)
        for png in sorted(figures.glob("*.png")):
            publish_figure(png, target / png.name)
        save_sample_grid(get_config(args.profile), Path(scratch) / "synthetic_grid.png")
        publish_figure(Path(scratch) / "synthetic_grid.png", target / "synthetic_grid.png")
    measured = {k: v for k, v in summary.items() if k not in ("machine", "date", "command")}
    measured["wall_seconds"] = round(time.perf_counter() - start, 1)
    write_results("demo" if args.profile == "demo" else f"demo_{args.profile}", measured, args.out)


if __name__ == "__main__":
    main()
