"""How long each numbered notebook takes, top to bottom, for a profile: the times docs/teaching.md quotes.

Usage: python benchmarks/notebooks.py [--profile demo] [--out docs/results]
       python benchmarks/notebooks.py --estimate colab      # a GPU profile, estimated (no GPU here)

Runs 01 to 04 in order in fresh Jupyter kernels (nbclient), as a student would on a laptop the first time: data,
caches and runs in an empty temporary folder, so 01 generates and indexes the data, 02 trains the run and 03 and 04
reuse it. Records each notebook's seconds, its first cell's (the setup) and its slowest cell's, from the timings
nbclient keeps per cell. Writes ``docs/results/notebooks_<profile>.json``.

``--estimate`` writes what ``alzmri.notebook``'s time estimates say instead, for a profile made for hardware that is
not here (the ``colab`` preset's T4), marked ``"estimated": true``, until someone measures it there.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from results import ROOT, add_out_option, write_results

NOTEBOOKS = ("01_eda", "02_training", "03_gradcam", "04_evaluation")
#: Brains in train, validation and test of the real set's subject split (200 brains x 32 slices; see the colab
#: preset in alzmri/config.py), for the estimate.
SPLIT_BRAINS = (141, 29, 30)
SLICES = 32


def cell_seconds(cell) -> float:
    """A run cell's seconds, from the execution timestamps nbclient records in its metadata."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) -
            datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def run_notebook(name: str) -> dict:
    """Execute one notebook from the repository root; its seconds in all, of its setup cell and of its slowest."""
    book = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(book, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    code = [c for c in book.cells if c.cell_type == "code"]
    seconds = [cell_seconds(c) for c in code]
    slowest = max(range(len(code)), key=seconds.__getitem__)
    return {"seconds": round(time.perf_counter() - start, 1), "setup_cell_seconds": round(seconds[0], 1),
            "slowest_cell_seconds": round(seconds[slowest], 1),
            "slowest_cell": code[slowest].source.splitlines()[0][:80]}


def estimate(profile: str) -> dict:
    """Each notebook's minutes as alzmri.notebook estimates them for ``profile`` on the real set's subject split.

    01: preparing the data (a few minutes, taken as five); 02: the lesson's two stages (one pass over train and val
    each, at the forward and training speeds) and the run; 03 and 04: the evaluation (04 adds the probe's lesson,
    seconds). Installing alzmri and the download are in 01's first cell and not counted.
    """
    from alzmri.config import get_config
    from alzmri.notebook import evaluation_seconds, speed_for, training_seconds

    config = get_config(profile)
    n_train, n_val, n_test = (brains * SLICES for brains in SPLIT_BRAINS)
    speed = speed_for(config)
    lesson = config.lesson_epochs * (n_train / speed.forward + n_train / speed.train + 2 * n_val / speed.forward)
    seconds = {"01_eda": 300.0, "02_training": lesson + training_seconds(config, n_train, n_val),
               "03_gradcam": evaluation_seconds(config, n_test), "04_evaluation": evaluation_seconds(config, n_test)}
    return {"estimated": True, "hardware": speed.hardware, "basis": speed.basis,
            "notebooks": {name: {"minutes": round(s / 60)} for name, s in seconds.items()},
            "total_minutes": round(sum(seconds.values()) / 60)}


def main() -> None:
    """Time the notebooks under a profile (or estimate a GPU profile's), and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo", help="preset the notebooks run (default demo)")
    parser.add_argument("--estimate", action="store_true", help="write the profile's estimated times instead")
    add_out_option(parser)
    args = parser.parse_args()
    if args.estimate:
        write_results(f"notebooks_{args.profile}", {"profile": args.profile, **estimate(args.profile)}, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="alzmri-notebooks-") as scratch:
        os.environ.update(ALZMRI_PROFILE=args.profile, ALZMRI_CACHE=str(Path(scratch) / "cache"),
                          ALZMRI_RUNS=str(Path(scratch) / "runs"))  # the kernels inherit them
        times = {}
        for name in NOTEBOOKS:
            times[name] = run_notebook(name)
            print(name, times[name], flush=True)
    write_results(f"notebooks_{args.profile}", {"profile": args.profile, "notebooks": times,
                                                "total_seconds": round(sum(t["seconds"] for t in times.values()), 1)},
                  args.out)


if __name__ == "__main__":
    main()
