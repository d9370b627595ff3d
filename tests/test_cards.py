"""Model cards and the runs table: written from what was measured, refreshed by evaluate, honest about leaks."""

import json
import shutil

import pytest
import yaml

from alzmri.cards import model_card, runs_table
from alzmri.cli import main


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_a_card_is_written_with_the_run_and_refreshed_by_evaluate(smoke_evaluation):
    card = smoke_evaluation.card_before  # as `train` wrote it: no test results yet
    assert "## Intended uses" in card and "## Out-of-scope uses" in card and "Not a medical device" in card
    assert "Synthetic data" in card and "`subject` (no brain in two splits" in card
    if not smoke_evaluation.scored_before:  # the run as `train` left it (unless another test evaluated it first)
        assert "Not scored on the test split yet" in card and _front_matter(card)["model-index"][0]["results"] == []
    evaluation, card = smoke_evaluation.evaluation, smoke_evaluation.card_after
    header = _front_matter(card)
    assert header["license"] == "mit" and "synthetic-data" in header["tags"]
    results = {m["type"]: m["value"] for m in header["model-index"][0]["results"][0]["metrics"]}
    saved = smoke_evaluation.saved
    assert results["balanced_accuracy"] == pytest.approx(saved["balanced_accuracy"], abs=1e-4)
    low, high = saved["ci95"]["balanced_accuracy"]
    assert f"| balanced_accuracy | {saved['balanced_accuracy']:.3f} | {low:.3f}-{high:.3f} |" in card
    subjects = evaluation.frame.groupby("class_name")["subject"].nunique()
    for name, count in subjects.items():
        assert f"| {int(saved['per_class'][name]['support'])} | {count} |" in card
    if (subjects <= 2).any():  # the smoke set has one or two test brains per class: said plainly
        assert "**Few brains:**" in card
    assert "Grad-CAM faithfulness" in card and "Warning: leaky protocol" not in card


def test_a_leaky_run_carries_the_warning_at_the_top(smoke_run, tmp_path):
    leaky = tmp_path / "naive-run"
    shutil.copytree(smoke_run, leaky)
    metadata = json.loads((leaky / "metadata.json").read_text())
    (leaky / "metadata.json").write_text(json.dumps({**metadata, "split": "naive"}))
    card = model_card(leaky)
    top = card.split("## Model details")[0]
    assert "Warning: leaky protocol (naive)" in top and "measure memorisation" in top
    assert "LEAKY" in card


def test_runs_lists_finished_runs_and_skips_unfinished_ones(smoke_run, tmp_path, capsys):
    shutil.copytree(smoke_run, tmp_path / "finished")
    (tmp_path / ".half.partial").mkdir()
    (tmp_path / ".half.partial" / "config.json").write_text("{}")
    (tmp_path / ".half.lock").write_text("")
    (tmp_path / "not-a-run").mkdir()
    table = runs_table(tmp_path)
    assert table["run"].tolist() == ["finished"]
    row = table.iloc[0]
    assert row["protocol"] == "subject" and row["preset"] == "smoke" and "conv3" in row["backbone"]
    assert main(["runs", "--dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert [r["run"] for r in listed] == ["finished"]
    assert main(["runs", "--dir", str(tmp_path / "empty")]) == 0 and "No finished runs" in capsys.readouterr().out
