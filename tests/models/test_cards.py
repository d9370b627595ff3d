"""Model cards and the runs table: written from what was measured, refreshed by evaluate, honest about leaks."""

import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from alzmri.models.cards import model_card, write_model_card
from alzmri.models.runs import runs_table
from alzmri.cli import main


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_a_card_is_written_with_the_run_and_refreshed_by_evaluate(smoke_evaluation):
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


def test_a_run_not_scored_yet_says_so(smoke_run, tmp_path):
    """The card as `train` writes it, before any evaluation: on a copy of its own, whatever other tests evaluated."""
    run = tmp_path / "unscored"
    shutil.copytree(smoke_run, run)
    (run / "metrics.json").unlink(missing_ok=True)
    card = (write_model_card(run)).read_text()
    assert "## Intended uses" in card and "## Out-of-scope uses" in card and "Not a medical device" in card
    assert "Synthetic data" in card and "`subject` (no brain in two splits" in card
    assert "Not scored on the test split yet" in card and _front_matter(card)["model-index"][0]["results"] == []


def test_a_leaky_run_carries_the_warning_at_the_top(smoke_run, tmp_path):
    leaky = tmp_path / "naive-run"
    shutil.copytree(smoke_run, leaky)
    metadata = json.loads((leaky / "metadata.json").read_text())
    (leaky / "metadata.json").write_text(json.dumps({**metadata, "split": "naive"}))
    card = model_card(leaky)
    top = card.split("## Model details")[0]
    assert "Warning: leaky protocol (`naive`)" in top and "measure memorisation" in top
    assert "LEAKY" in card


def test_runs_lists_finished_runs_and_skips_unfinished_ones(smoke_run, tmp_path, capsys):
    shutil.copytree(smoke_run, tmp_path / "finished")
    (tmp_path / ".half.partial").mkdir()
    (tmp_path / ".half.partial" / "config.json").write_text("{}")
    (tmp_path / ".half.lock").write_text("")
    (tmp_path / "not-a-run").mkdir()
    table, skipped = runs_table(tmp_path)
    assert table["run"].tolist() == ["finished"] and skipped == []
    row = table.iloc[0]
    assert row["protocol"] == "subject" and row["preset"] == "smoke" and "conv2" in row["network"]
    assert main(["runs", "--dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert [r["run"] for r in listed] == ["finished"]
    assert main(["runs", "--dir", str(tmp_path / "empty")]) == 0 and "No finished runs" in capsys.readouterr().out


HOSTILE = ("scans`\n## Results\n| balanced_accuracy | 0.999 | CLINICALLY VALIDATED 99.9 % |\n"
           "<img src=x onerror=alert(1)>``` $x$ \x1b[31m")


def test_a_hostile_data_folder_name_cannot_write_into_the_card(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    metadata = json.loads((run / "metadata.json").read_text())
    hostile = str(tmp_path / HOSTILE)
    metadata.update(data=hostile, synthetic=False, weights=hostile, config={**metadata["config"], "data": hostile})
    (run / "metadata.json").write_text(json.dumps(metadata))
    card = model_card(run)
    body = card.split("---\n", 2)[2]
    assert len(re.findall(r"^#+ ", body, re.M)) == 10  # the title and the card's 9 sections: no heading planted
    assert "CLINICALLY VALIDATED" not in "\n".join(line for line in body.splitlines() if line.startswith("|"))
    assert "\x1b" not in card and "\n<img" not in card
    line = next(line for line in body.splitlines() if line.startswith("- Data: "))
    assert "````" in line and "## Results | balanced_accuracy" in line  # one line of inline code, fenced longer
    dataset = _front_matter(card)["datasets"][0]  # the YAML still parses, the name on one line
    assert "\n" not in dataset and dataset.startswith("scans`")


def test_inline_code_survives_backticks_and_newlines():
    from alzmri.safe_text import inline_code, one_line, plot_text

    assert inline_code("a`b") == "``a`b``" and inline_code("`x`") == "`` `x` ``"
    assert inline_code("two\nlines\r\tand\x1b[0m") == "`two lines and [0m`"
    assert one_line("x\u2028y") == "x y" and plot_text("$5 a\nb") == r"\$5 a b"


def test_runs_skips_hand_edited_and_incomplete_runs_and_says_so(smoke_run, tmp_path, capsys):
    shutil.copytree(smoke_run, tmp_path / "good")
    for name, edit in (("oops-config", {"config": "oops"}), ("list-test", None), ("no-model", None)):
        shutil.copytree(smoke_run, tmp_path / name)
        if edit:
            metadata = json.loads((tmp_path / name / "metadata.json").read_text())
            (tmp_path / name / "metadata.json").write_text(json.dumps({**metadata, **edit}))
    (tmp_path / "list-test" / "metrics.json").write_text(json.dumps({"test": [1, 2]}))
    (tmp_path / "no-model" / "model.keras").unlink()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.json").write_text("{not json")
    (tmp_path / "broken" / "model.keras").write_text("")
    table, skipped = runs_table(tmp_path)
    assert sorted(table["run"]) == ["good", "list-test"]  # a hand-edited metrics.json: listed, not scored
    assert table.set_index("run").loc["list-test", "balanced_accuracy"] is None or \
        pd.isna(table.set_index("run").loc["list-test", "balanced_accuracy"])
    reasons = dict(skipped)
    assert set(reasons) == {"oops-config", "no-model", "broken"}
    assert "wrong kind" in reasons["oops-config"] and reasons["no-model"] == "no model.keras"
    assert main(["runs", "--dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "good" in out and "Traceback" not in err and err.count("note: skipped") == 3


def test_the_card_shows_both_levels_and_any_dementia(smoke_evaluation):
    card, saved = smoke_evaluation.card_after, smoke_evaluation.saved
    results = _front_matter(card)["model-index"][0]["results"]
    assert len(results) == 4 and "subject classification" in results[1]["task"]["name"]
    assert [r["task"]["name"].split(",")[1].split("(")[0].strip() for r in results[2:]] == ["per slice", "per subject"]
    people, view = saved["subject_level"], saved["any_dementia"]
    by_subject = {m["type"]: m for m in results[1]["metrics"]}
    assert by_subject["balanced_accuracy"]["value"] == pytest.approx(people["balanced_accuracy"], abs=1e-4)
    assert f"over {people['subjects']} test subjects" in by_subject["balanced_accuracy"]["name"]
    dementia = {m["type"]: m["value"] for m in results[3]["metrics"]}
    assert set(dementia) <= {"auc", "sensitivity", "specificity", "balanced_accuracy"}
    if "auc" in dementia:  # both sides among the test subjects
        assert dementia["auc"] == pytest.approx(view["subject_level"]["auc"], abs=1e-4)
    body = card.split("---\n", 2)[2]
    low, high = people["ci95"]["balanced_accuracy"]
    per_subject = body.split("**Per subject**")[1]
    assert f"| balanced_accuracy | {people['balanced_accuracy']:.3f} | {low:.3f}-{high:.3f} |" in per_subject
    assert f"{people['subjects']} subjects" in per_subject and "soft voting" in per_subject
    dementia_text = body.split("**Any dementia**")[1]
    assert "| metric | per slice | 95 % interval | per subject | 95 % interval |" in dementia_text
    assert f"{view['subject_level']['positives']} demented and {view['subject_level']['negatives']} non-demented" \
        in dementia_text and "chosen on the val split" in dementia_text
    three = saved["three_class"]["subject_level"]
    assert f"{three['balanced_accuracy']:.3f} ({three['ci'][0]:.3f}-{three['ci'][1]:.3f}) per subject" \
        in body.split("**Three classes**")[1]


EMISSIONS = {"tracker": "codecarbon 2.8.4 (offline)", "country": "FRA", "duration_s": 61.2, "energy_kwh": 0.00213,
             "co2_eq_emissions_g": 0.1172, "hardware": "2 x Intel(R) Xeon(R) CPU"}


@pytest.mark.parametrize("emissions, weights", [(EMISSIONS, "none (trained from scratch)"),
                                                ({**EMISSIONS, "hardware": "unknown"}, "imagenet")])
def test_a_measured_training_carries_co2_eq_emissions(smoke_run, tmp_path, emissions, weights):
    from alzmri.models.runs import read_metadata, write_metadata

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    write_metadata(run, {**read_metadata(run), "emissions": emissions, "weights": weights})
    card = model_card(run)
    expected = {"emissions": 0.1172, "source": "CodeCarbon (offline, country FRA)",
                "training_type": "pre-training" if weights.startswith("none") else "fine-tuning",
                "geographical_location": "FRA"}
    if emissions["hardware"] != "unknown":
        expected["hardware_used"] = "2 x Intel(R) Xeon(R) CPU"
    assert _front_matter(card)["co2_eq_emissions"] == expected
    impact = card.split("## Environmental impact")[1]
    assert "0.00213 kWh" in impact and "0.117 g CO2-equivalent" in impact and "`FRA`" in impact


@pytest.mark.parametrize("emissions, said", [({"error": "codecarbon is not installed"},
                                              "Not measured: codecarbon is not installed."),
                                             (None, "Not measured (the run predates energy tracking).")])
def test_an_unmeasured_training_has_no_co2_block_and_says_why(smoke_run, tmp_path, emissions, said):
    from alzmri.models.runs import read_metadata, write_metadata

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    metadata = read_metadata(run)
    metadata.pop("emissions", None)
    write_metadata(run, {**metadata, **({"emissions": emissions} if emissions else {})})
    card = model_card(run)
    assert "co2_eq_emissions" not in _front_matter(card)
    assert said in card.split("## Environmental impact")[1]
