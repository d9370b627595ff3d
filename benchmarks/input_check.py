"""The input check on slices a run never saw: how many real slices does a synthetic run flag, and how many of its own?

Usage: python benchmarks/input_check.py --run RUN --data DIR [--out docs/results]

RUN is a finished run (for the docs: the demo run, which ``python benchmarks/demo.py --keep DIR`` keeps in
``DIR/runs/``); DIR is a folder of slices it was not trained on (for the docs: the real source set, which is not in this repository).
Scores every image under DIR and the run's own validation and test slices (from its splits.csv), and writes
``docs/results/real_input_check.json``: how many of each are flagged, and the spread of their scores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from results import add_out_option, write_results


def flagged(run, paths: list[Path]) -> dict:
    """How many of ``paths`` the run's input check flags, and the spread of their scores."""
    from alzmri.evaluation.predict import predict_report

    report = predict_report(run, paths)
    scores = report.scores.score
    return {"images": int(len(scores)), "flagged": int((~report.scores.in_distribution).sum()),
            "share_flagged": round(float((~report.scores.in_distribution).mean()), 4),
            "score_quantiles": {q: round(float(np.quantile(scores, float(q))), 3) for q in ("0.01", "0.5", "0.99")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished run folder")
    parser.add_argument("--data", required=True, help="a folder of slices the run was not trained on")
    add_out_option(parser)
    args = parser.parse_args()
    from alzmri.models.runs import load_run
    from alzmri.data.pipeline import collect_image_files
    from alzmri.tfenv import quiet_tensorflow

    quiet_tensorflow()
    run = load_run(args.run)
    own = run.metadata.get("data")
    splits = pd.read_csv(run.path / "splits.csv", keep_default_na=False)
    measured = {"run": run.path.name, "threshold": round(float(run.metadata["input_check"]["threshold"]), 4),
                "other_data": {"name": Path(args.data).name, **flagged(run, collect_image_files([args.data]))}}
    for split in ("val", "test"):
        paths = [Path(own) / rel for rel in splits.loc[splits["split"] == split, "relpath"]]
        measured[f"own_{split}"] = flagged(run, paths)
    for key, values in measured.items():
        print(f"{key}: {values}")
    write_results("real_input_check", measured, args.out)


if __name__ == "__main__":
    main()
