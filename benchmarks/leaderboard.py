"""The leaderboard of docs/results.md, written from every real cross-validation results file (docs/results/real_cv_*.json).

Each variant that benchmarks/cv.py measured is one row, best any-dementia AUC per subject first: four classes,
three classes (Mild and Moderate merged) and any dementia, per slice and per subject, with 95 % intervals over
subjects; the paired difference against the reference named by the file's ``against`` block (model minus reference,
per subject: balanced accuracy with its paired-bootstrap interval, AUC with DeLong's interval and p); its seconds.
Every number is quoted (``<!--file:key-->``), so benchmarks/docs_numbers.py and tests/test_docs.py keep it true.

The CNN's operating point (benchmarks/operating_point.py, ``real_operating_point.json``) is a second table: every
variant tried on the search fold's validation brains, with its seconds, the rule and the choice; the chosen variant's
cross-validation is a row of the leaderboard like any other.

Usage: python benchmarks/leaderboard.py [--out docs/results] [--page docs/results.md]

Rewrites the table between the page's ``<!-- leaderboard start -->`` and ``<!-- leaderboard end -->`` lines, and the
operating point's between ``<!-- operating point start -->`` and ``<!-- operating point end -->`` where the page
has them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from results import ROOT

START, END = "<!-- leaderboard start -->", "<!-- leaderboard end -->"
OPERATING_START, OPERATING_END = "<!-- operating point start -->", "<!-- operating point end -->"
OPERATING_POINT = "real_operating_point"
HEADER = ("| variant | 4-class bal. acc. per slice | per subject | 3-class per slice | per subject | any-dementia AUC "
          "per slice | per subject | per subject minus the reference: bal. acc. · AUC · DeLong p | seconds |\n"
          "|---|---|---|---|---|---|---|---|---|")


def quoted(name: str, key: str, digits: int = 3) -> str:
    """A value quoted from ``real_cv_<name>``: the comment only, the number is filled in by docs_numbers."""
    return f"0.{'0' * digits}<!--{name}:{key}-->"


def with_interval(name: str, key: str, ci_key: str) -> str:
    """``value [low, high]`` of one metric, each quoted."""
    return f"{quoted(name, key)} [{quoted(name, ci_key + '.0', 2)}, {quoted(name, ci_key + '.1', 2)}]"


def paired_cell(name: str, summary: dict) -> str:
    """The paired differences per subject against the file's reference, or a dash."""
    if "against" not in summary:
        return "–"
    key = "against.subject_level"
    return (f"vs `{summary['against']['model']}`: {with_interval(name, key + '.balanced_accuracy_difference', key + '.ci')}"
            f" · {with_interval(name, key + '.auc_any_dementia_difference', key + '.ci_auc')} · "
            f"p {quoted(name, key + '.delong_p', 2)}")


def row(path: Path, summary: dict) -> str:
    """One variant's row."""
    name = path.stem
    variant = name.removeprefix("real_cv_")
    cells = [f"`{variant}`"]
    for level in ("slice_level", "subject_level"):
        cells.append(with_interval(name, f"{level}.balanced_accuracy", f"{level}.ci"))
    for level in ("slice_level", "subject_level"):
        cells.append(with_interval(name, f"three_class.{level}.balanced_accuracy", f"three_class.{level}.ci")
                     if "three_class" in summary else "–")
    for level in ("slice_level", "subject_level"):
        cells.append(with_interval(name, f"{level}.auc_any_dementia", f"{level}.ci_auc_any_dementia"))
    cells += [paired_cell(name, summary), f"0<!--{name}:seconds|int-->"]
    return "| " + " | ".join(cells) + " |"


def provenance(paths: list[Path]) -> str:
    """The line under the table naming each row's machine and date (quoted)."""
    return "Measured on: " + "; ".join(f"`{p.stem.removeprefix('real_cv_')}` (machine<!--{p.stem}:machine-->, "
                                       f"2000-01-01<!--{p.stem}:date-->)" for p in paths) + "."


def table(out: Path) -> str:
    """The markdown table of every real_cv_*.json in ``out``, best per-subject any-dementia AUC first, and the line
    naming their machines and dates."""
    found = [(p, json.loads(p.read_text())) for p in sorted(out.glob("real_cv_*.json"))]
    found.sort(key=lambda item: -item[1]["subject_level"]["auc_any_dementia"])
    return "\n".join([HEADER, *(row(p, s) for p, s in found), "", provenance([p for p, _ in found])])


OPERATING_HEADER = ("| variant | what it changes from the preset | validation brains, per subject: 4-class bal. "
                    "acc. | any-dementia AUC | per slice: 4-class bal. acc. · AUC | CPU seconds (search fold) | "
                    "wall-clock seconds | estimated CPU seconds of its cross-validation |\n"
                    "|---|---|---|---|---|---|---|---|")


def operating_row(index: int, variant: dict) -> str:
    """One variant of the operating point: its validation scores and seconds, quoted from the results file."""
    name, key = OPERATING_POINT, f"variants.{index}"
    subject, slices = f"{key}.validation.subject_level", f"{key}.validation.slice_level"
    cells = [f"`{variant['name']}`<!--{name}:{key}.name-->", variant["description"],
             quoted(name, f"{subject}.balanced_accuracy"),
             with_interval(name, f"{subject}.auc_any_dementia", f"{subject}.ci_auc_any_dementia"),
             f"{quoted(name, f'{slices}.balanced_accuracy')} · {quoted(name, f'{slices}.auc_any_dementia')}",
             f"0<!--{name}:{key}.cpu_seconds|int-->", f"0<!--{name}:{key}.seconds|int-->",
             f"0<!--{name}:{key}.estimated_cv_cpu_seconds|int-->"]
    return "| " + " | ".join(cells) + " |"


def operating_table(out: Path) -> str | None:
    """The operating point's table and the lines under it (the search, the rule, the choice), or None without its
    results file."""
    path = out / f"{OPERATING_POINT}.json"
    if not path.exists():
        return None
    record, name = json.loads(path.read_text()), OPERATING_POINT
    search = (f"Search: fold 1<!--{name}:fold|int--> of 5<!--{name}:folds|int--> of the cross-validation's subject "
              f"folds; trained on its 0<!--{name}:search.train_subjects|int--> training brains, scored on its "
              f"0<!--{name}:search.val_subjects|int--> validation brains (0<!--{name}:search.val_images|int--> "
              f"slices), its test brains never read; 0<!--{name}:search.cpu_seconds|int--> CPU seconds in all. ")
    choice = (f"Rule, fixed before the search: ({record['rule']}<!--{name}:rule-->). Budget "
              f"0<!--{name}:budget_cpu_seconds|int--> CPU seconds, left after the search "
              f"0<!--{name}:budget_left_cpu_seconds|int-->. "
              f"Chosen: `{record['chosen']}`<!--{name}:chosen--> "
              f"({record['chosen_because']}<!--{name}:chosen_because-->); its cross-validation: "
              f"`{record['cv']}`<!--{name}:cv-->.")
    measured = f"Measured on (machine<!--{name}:machine-->, 2000-01-01<!--{name}:date-->)."
    rows = [operating_row(i, v) for i, v in enumerate(record["variants"])]
    return "\n".join([OPERATING_HEADER, *rows, "", search + measured, "", choice])


def rewrite(text: str, start: str, end: str, table: str) -> str:
    """``text`` with what lies between its ``start`` and ``end`` lines replaced by ``table``."""
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n{table}\n{end}{after}"


def main() -> None:
    """Rewrite the leaderboard table between its markers in docs/results.md from every real_cv_*.json, and the
    operating point's table from its results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results", help="the results files' folder")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "results.md", help="the page holding the table")
    args = parser.parse_args()
    text = args.page.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{args.page} has no '{START}' ... '{END}' lines to write the leaderboard between")
    text = rewrite(text, START, END, table(args.out))
    operating = operating_table(args.out)
    if operating is not None and OPERATING_START in text and OPERATING_END in text:
        text = rewrite(text, OPERATING_START, OPERATING_END, operating)
    args.page.write_text(text)
    print(f"leaderboard: {args.page} (run benchmarks/docs_numbers.py to fill in the values)")


if __name__ == "__main__":
    main()
