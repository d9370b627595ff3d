"""What a prediction comes from: the run, the data it learnt from, and how well it did on its test split.

Every answer alzmri gives about an image (``predict``, ``gradcam``, and later the HTTP API) carries this,
built once by :func:`describe_run` from the run's own metadata and metrics, so that an
answer can never be read without knowing which model gave it, what it was trained on and how far to trust
it. A run trained on synthetic data says so in one line on every output: its answers mean nothing for
real scans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alzmri.models.runs import data_name, is_synthetic, peek_metadata, read_metrics

#: The one line every answer of a synthetic run carries.
SYNTHETIC_WARNING = ("SYNTHETIC: this run learnt from alzmri's generated demo slices; its answers mean nothing "
                     "for real scans.")
SHUFFLED_WARNING = ("SHUFFLED LABELS: this run was trained on labels shuffled by subject (a memorisation check); "
                    "its answers are not predictions.")
LEAKY_PROTOCOLS = ("image", "official", "naive")


#: Said under every prediction, card and report.
DISCLAIMER = "alzmri is a teaching and research tool, not a medical device: its output is not a diagnosis."


@dataclass
class Provenance:
    """A run's identity for the outputs that use it.

    Attributes:
        run: the run's folder name.
        path: the run folder.
        data: what it learnt from: ``name``, ``synthetic``, ``fingerprint``, ``path``, ``split`` protocol.
        test: its test-split balanced accuracy with the 95 % interval, or ``{"evaluated": False, ...}``.
        warnings: one line each, to be shown with every answer (synthetic data, shuffled labels, leaky split).
    """

    run: str
    path: Path
    data: dict
    test: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The run, its data and its test score in one line."""
        data = self.data
        learnt = (f"SYNTHETIC data ({data['name']})" if data["synthetic"]
                  else f"{data['name']} (fingerprint {str(data['fingerprint'])[:12]})")
        return f"Run {self.run}, trained on {learnt}, {data['split']} split; {self.test_text}"

    @property
    def test_text(self) -> str:
        """``test balanced accuracy 0.767 [0.550, 0.892] over 13 subjects``, or how to get it."""
        test = self.test
        if not test["evaluated"]:
            return test["note"]
        low, high = test["ci95"]
        over = f" over {test['units']} {test['unit']}s" if test.get("units") else ""
        return f"test balanced accuracy {test['balanced_accuracy']:.3f} [{low:.3f}, {high:.3f}]{over}"

    def figure_title(self, what: str) -> str:
        """A short, line-broken figure title: ``what``, the run, its data and test score, the warnings."""
        data = "trained on SYNTHETIC data" if self.data["synthetic"] else f"trained on {self.data['name']}"
        score = self.test_text if self.test["evaluated"] else "test split not evaluated yet"
        lines = [what, f"run {self.run}, {data}", score]
        if self.data["synthetic"]:
            lines.append("SYNTHETIC: its answers mean nothing for real scans")
        lines += [w.split(":")[0] for w in self.warnings if w != SYNTHETIC_WARNING]  # SHUFFLED LABELS, LEAKY SPLIT
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """For JSON: ``run``, ``run_path``, ``data``, ``test``, ``summary`` (the one line) and ``warnings``."""
        return {"run": self.run, "run_path": str(self.path), "data": dict(self.data), "test": dict(self.test),
                "summary": self.text, "warnings": list(self.warnings)}


def test_score(metrics: dict, run_path: Path) -> dict:
    """The run's own test balanced accuracy with its interval (``metrics.json`` ``test``), or how to get it."""
    test = metrics.get("test")
    try:
        low, high = (float(v) for v in test["ci95"]["balanced_accuracy"])
        units = test.get("ci_resampled", {})
        return {"evaluated": True, "balanced_accuracy": float(test["balanced_accuracy"]), "ci95": [low, high],
                "units": units.get("count"), "unit": units.get("unit", "subject"), "images": test.get("images")}
    except (TypeError, KeyError, ValueError):
        return {"evaluated": False, "note": f"test split not evaluated yet: run `python -m alzmri evaluate {run_path}`"}


def run_warnings(metadata: dict) -> list[str]:
    """One line per reason an answer of this run must not be taken at face value."""
    lines = [SYNTHETIC_WARNING] if is_synthetic(metadata) else []
    if metadata.get("labels", "true") != "true":
        lines.append(SHUFFLED_WARNING)
    if metadata.get("split") in LEAKY_PROTOCOLS:
        lines.append(f"LEAKY SPLIT: this run was tested with the {metadata['split']} protocol, which puts slices of "
                     "its test brains in training; its test score overstates how it does on new people.")
    return lines


def describe_run(run_dir: str | Path, metadata: dict | None = None) -> Provenance:
    """The provenance of a run folder, from its metadata and metrics (:mod:`alzmri.models.runs`).

    Args:
        run_dir: the run folder.
        metadata: its metadata when already loaded (e.g. ``Run.metadata``); read from the folder otherwise.

    Returns:
        The run's :class:`Provenance`; a run that was never evaluated says how to evaluate it.
    """
    path = Path(run_dir)
    metadata = metadata if metadata is not None else peek_metadata(path)
    data = {"name": data_name(metadata), "synthetic": is_synthetic(metadata),
            "fingerprint": metadata.get("data_fingerprint"), "path": metadata.get("data"),
            "split": metadata.get("split", "?")}
    return Provenance(run=path.name, path=path, data=data, test=test_score(read_metrics(path), path),
                      warnings=run_warnings(metadata))
