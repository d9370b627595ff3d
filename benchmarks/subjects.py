"""Subject recovery on real slices, with and without their file names, and the leak of the official split.

Usage: python benchmarks/subjects.py --data ../shared/data/tourist55 --truth ../shared/data/tourist55/subjects.csv

``--data`` is the source set ("Alzheimer's Dataset (4 class of images)") in its own train/test layout;
``--truth`` a CSV with ``file`` (path relative to --data) and ``subject`` columns. Three measurements:

1. subjects from the file names against the truth (share of identical ids, adjusted Rand index);
2. the names taken away, as the Kaggle V2 set and the Hugging Face parquet store the slices: every file
   renamed, pooled into one folder per class, resized to 180 x 180 RGB JPEG; subjects from similarity
   alone against the truth (adjusted Rand index);
3. the audit of every protocol: test subjects that the official split also has in train, and those of the
   subject split.

Writes docs/results/real_subjects.json (or into --out). Nothing is written inside --data; the renamed copy
lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image
from results import add_out_option, write_results

RESIZED = 180  # the Kaggle V2 set stores its slices at about 180 x 180, three channels


def _stripped_copy(data: Path, truth: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Write every slice renamed, pooled by class and resized to RGB JPEG; return (relpath, subject)."""
    shuffled = truth.sample(frac=1, random_state=0).reset_index(drop=True)  # names say nothing of the order

    def one(row) -> str:
        rel = f"{row.class_name}/slice_{row.Index:05d}.jpg"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(data / row.file) as im:
            im.convert("RGB").resize((RESIZED, RESIZED), Image.Resampling.BICUBIC).save(out / rel, "JPEG", quality=90)
        return rel

    with ThreadPoolExecutor(4) as pool:
        relpaths = list(pool.map(one, shuffled.itertuples()))
    return pd.DataFrame({"relpath": relpaths, "subject": shuffled["subject"]})


def _recover(root: Path, method: str, cache: Path):
    """Index, annotate and return (frame, recovery, seconds)."""
    from alzmri.config import get_config
    from alzmri.data.datasets import index_dataset
    from alzmri.leakage.prepared import annotate

    start = time.perf_counter()
    config = get_config("full", data=str(root), subjects=method)
    index = index_dataset(root, cache_dir=cache, progress=False)
    frame, features, recovery = annotate(index, config, cache, progress=False)
    return index, frame, features, recovery, config, time.perf_counter() - start


def _score(frame: pd.DataFrame, truth: pd.Series) -> tuple[float, float]:
    """Share of identical ids and adjusted Rand index of the recovered subjects against the truth."""
    from alzmri.leakage.subjects import adjusted_rand

    expected = frame["relpath"].map(truth)
    if expected.isna().any():
        raise SystemExit(f"{expected.isna().sum()} indexed files are not in the truth CSV")
    return float((frame["subject"] == expected).mean()), adjusted_rand(expected.to_numpy(), frame["subject"].to_numpy())


def _by_protocol(table: pd.DataFrame) -> dict:
    """The audit table as ``{protocol: {"val"|"test": {images, subject_in_train, subjects_in_train, ...}}}``."""
    audit: dict = {}
    for row in table.round(4).to_dict("records"):
        protocol, held_out = row.pop("protocol"), row.pop("pair").split("→")[-1]
        audit.setdefault(protocol, {})[held_out] = row
    return audit


def _evidence(recovery) -> dict:
    """How subjects were found and the similarity levels behind them."""
    e = recovery.evidence
    return {"method": recovery.method, "neighbour_at_least": round(float(e.neighbour), 4),
            "different_classes_at_most": round(float(e.different), 4), "linked_from": round(float(e.threshold), 4),
            "notes": list(recovery.notes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the source set in its own layout")
    parser.add_argument("--truth", required=True, type=Path, help="CSV with file and subject columns")
    add_out_option(parser)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from alzmri.leakage.prepared import PreparedData
    from alzmri.leakage.audit import audit

    truth = pd.read_csv(args.truth)
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        index, frame, features, recovery, config, seconds = _recover(args.data, "names", cache)
        same, ari = _score(frame, truth.set_index("file")["subject"])
        print(f"1. From the file names: {frame['subject'].nunique()} subjects, {same:.1%} of ids identical to the "
              f"truth, adjusted Rand index {ari:.3f} ({seconds:.0f} s)")
        print("   " + recovery.describe(frame).replace("\n", "\n   "))

        stripped = _stripped_copy(args.data, truth, Path(scratch) / "stripped")
        _, frame2, _, recovery2, _, seconds2 = _recover(Path(scratch) / "stripped", "similarity", cache)
        _, ari2 = _score(frame2, stripped.set_index("relpath")["subject"])
        print(f"2. Names taken away (renamed, pooled per class, {RESIZED}x{RESIZED} RGB JPEG): similarity finds "
              f"{frame2['subject'].nunique()} subjects, adjusted Rand index {ari2:.3f} ({seconds2:.0f} s)")
        print("   " + recovery2.describe(frame2).replace("\n", "\n   "))

        table, _ = audit(PreparedData(index, frame, config.split, features, recovery), config)
        print("3. Audit (subjects from the names):")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        official = table[(table["protocol"] == "official") & (table["pair"] == "train→test")].iloc[0]
        subject = table[(table["protocol"] == "subject") & (table["pair"] == "train→test")].iloc[0]
        print(f"\nofficial split: {official['subjects_in_train']} of {official['subjects']} test subjects in train; "
              f"subject split: {subject['subjects_in_train']} of {subject['subjects']}")
    write_results("real_subjects", {
        "data": str(args.data), "fingerprint": index.fingerprint, "images": len(frame),
        "from_names": {"subjects": int(frame["subject"].nunique()), "identical_ids": round(same, 4),
                       "adjusted_rand": round(ari, 4), "seconds": round(seconds), **_evidence(recovery)},
        "names_removed": {"resized_to": RESIZED, "subjects": int(frame2["subject"].nunique()),
                          "adjusted_rand": round(ari2, 4), "seconds": round(seconds2), **_evidence(recovery2)},
        "audit": _by_protocol(table)}, args.out)


if __name__ == "__main__":
    main()
