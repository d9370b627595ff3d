import subprocess
import sys
from pathlib import Path

import pytest

from alzmri.cli import main
from helpers import assert_drawn


def test_module_help_runs():
    out = subprocess.run([sys.executable, "-m", "alzmri", "--help"], capture_output=True, text=True, check=True)
    text = " ".join(out.stdout.split())
    assert "synth" in text and "audit" in text and "not a medical device" in text


@pytest.mark.slow
def test_synth_then_audit(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--n-per-class", "12", "--size", "64",
                 "--grid", str(tmp_path / "grid.png")]) == 0
    assert_drawn(tmp_path / "grid.png")
    assert "SYNTHETIC" in capsys.readouterr().out
    assert main(["audit", str(tmp_path / "d"), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "Leakage audit" in out and all(p in out for p in ("subject", "image", "official", "naive"))
    assert "Skipped files: 0" in out and "precision" in out and "from the synthetic manifest" in out


def test_audit_of_the_source_layout_catches_the_official_leak_and_saves_csv(tmp_path, capsys):
    import pandas as pd

    assert main(["synth", "--out", str(tmp_path / "s"), "--n-per-class", "24", "--size", "48", "--slices", "6",
                 "--layout", "source", "--balance", "equal"]) == 0
    assert main(["audit", str(tmp_path / "s"), "--profile", "smoke", "--subjects", "names",
                 "--save-csv", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr().out
    assert "from the source set's file names" in out and "similarity alone finds 16 subjects" in out
    assert "The official split puts 16 of its 16 test subjects in train" in out
    rows = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert list(rows.columns) == ["relpath", "class_name", "kind", "original", "subject", "split_subject",
                                  "split_image", "split_official", "split_naive"]
    by_subject = rows.groupby("subject")
    assert (by_subject["split_subject"].nunique() == 1).all()
    assert by_subject["split_official"].agg(lambda s: "test" in set(s) and "train" in set(s)).all()


def test_bad_data_path_is_one_clear_line(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alzmri audit: error:") and "does not exist" in err and "Traceback" not in err


def test_a_layer_that_is_not_there_is_named_with_the_choices(smoke_run, tmp_path, capsys):
    from alzmri.data.datasets import index_dataset
    from alzmri.models.runs import load_run

    image = index_dataset(load_run(smoke_run).metadata["data"], progress=False).frame["path"].iloc[0]
    assert main(["gradcam", str(smoke_run), image, "--layer", "conv9_block1_out", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'conv9_block1_out' is not a feature map" in err and "conv2_block2_out" in err
    assert main(["evaluate", str(smoke_run), "--layer", "predictions"]) == 2  # not a feature map: refused first
    assert "'predictions' is not a feature map" in capsys.readouterr().err


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch, capsys):
    import pytest

    import alzmri.data.synthetic

    assert main(["synth", "--out", str(tmp_path / "d"), "--size", "8"]) == 2  # alzmri's own error: one line
    assert "--size must be a whole number from 32 to 1,024" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise ValueError("a bug, or a library's own error")

    monkeypatch.setattr(alzmri.data.synthetic, "generate_dataset", broken)
    with pytest.raises(ValueError, match="a bug"):  # not swallowed into one line: the traceback is what helps here
        main(["synth", "--out", str(tmp_path / "d")])


def test_audit_reports_skipped_files(tmp_path, capsys):
    main(["synth", "--out", str(tmp_path / "d"), "--n-per-class", "12", "--size", "48", "--balance", "equal"])
    (tmp_path / "d" / "data" / "val" / "NonDemented" / "zero.jpg").write_bytes(b"")
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "d"), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "Skipped files: 1" in out and "zero.jpg: empty file" in out


def test_evaluate_prints_intervals_and_writes_figures(smoke_run, tmp_path, capsys):
    assert main(["evaluate", str(smoke_run), "--figures", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "ci95_low" in out and "balanced_accuracy" in out
    assert "Grad-CAM faithfulness" in out and "deletion: Grad-CAM" in out and "model randomisation" in out
    assert "by true class" in out
    assert "per subject: " in out and "each answered by soft voting of its slices; intervals resample the subjects" in out
    assert "any dementia (Mild, Moderate or VeryMild) vs NonDemented" in out
    assert "cut-offs chosen on the val split" in out
    assert "not a medical device" in out and (tmp_path / "figs" / "confusion_matrix.png").exists()
    assert_drawn(tmp_path / "figs" / "confusion_matrix_subjects.png")


def test_predict_table_json_and_wrong_inputs(smoke_run, tmp_path, capsys):
    import json

    from alzmri.models.runs import load_run
    from alzmri.data.datasets import index_dataset

    data_root = load_run(smoke_run).metadata["data"]
    some = index_dataset(data_root, progress=False).frame["path"].head(3).tolist()
    assert main(["predict", str(smoke_run), *some]) == 0
    out = capsys.readouterr().out
    assert "prediction" in out and "not a diagnosis" in out
    assert main(["predict", str(smoke_run), some[0], "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert abs(sum(parsed["predictions"][0]["probabilities"].values()) - 1) < 1e-4  # one row shape with the API
    (tmp_path / "notes.jpg").write_text("not really a jpeg")
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(smoke_run), some[0], str(tmp_path / "notes.jpg")]) == 1  # the rest is predicted
    captured = capsys.readouterr()
    assert some[0] in captured.out and "notes.jpg" not in captured.out
    assert "1 file(s) could not be read" in captured.err and "notes.jpg is not an image" in captured.err
    cases = [([str(tmp_path / "empty")], "No images"),
             ([str(tmp_path / "missing.png")], "does not exist")]
    for images, message in cases:
        assert main(["predict", str(smoke_run), *images]) == 2
        assert message in capsys.readouterr().err
    assert main(["predict", str(tmp_path), some[0]]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_gradcam_writes_overlays(smoke_run, tmp_path, capsys):
    from alzmri.models.runs import load_run
    from alzmri.data.datasets import index_dataset

    data_root = load_run(smoke_run).metadata["data"]
    some = index_dataset(data_root, progress=False).frame["path"].head(2).tolist()
    assert main(["gradcam", str(smoke_run), *some, "--out", str(tmp_path / "cams")]) == 0
    assert len(list((tmp_path / "cams").glob("*_gradcam.png"))) == 2


def test_demo_tells_the_whole_story_and_ends_with_the_lesson(smoke_run, tmp_path, monkeypatch, capsys):
    import json
    import re

    monkeypatch.chdir(tmp_path)  # the demo must write nothing under the working folder
    # runs in the shared smoke run's folder: the demo finds that run finished and reuses it
    monkeypatch.setenv("ALZMRI_RUNS", str(smoke_run.parent))
    assert main(["demo", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert f"Reusing the finished run {smoke_run}" in out
    assert all(f"[{i}/6]" in out for i in range(1, 7))
    assert "shuffled labels [95% CI]" in out and "Intervals resample test subjects" in out
    assert all(re.search(rf"^ *{p} ", out, re.M) for p in ("subject", "image", "official", "naive"))
    run_dir = Path(re.search(r"^Run: (\S+)  \(model card", out, re.M).group(1))
    assert_drawn(run_dir / "figures" / "compare_probe.png")  # beside the run, not over the README's figures
    assert not (tmp_path / "figures").exists()
    ending = out[out.rindex("=" * 100):]  # the demo ends with its headline, where its files are, what next
    assert "Model vs thumbnail baseline" in ending and "Next:" in ending and f"predict {run_dir}" in ending
    test = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert test["ci_resampled"]["unit"] == "subject" and test["leakage"]["leaked"]["images"] == 0
    card = (run_dir / "MODEL_CARD.md").read_text()  # the demo's run says what it is
    assert "Synthetic data" in card and "Split protocol: `subject`" in card
    assert f"| balanced_accuracy | {test['balanced_accuracy']:.3f} |" in card
    assert main(["runs"]) == 0 and run_dir.name in capsys.readouterr().out  # and `runs` lists it


def test_help_lists_cv_with_every_model():
    from alzmri.cli import build_parser

    help_text = " ".join(build_parser().format_help().split())
    assert "cv" in help_text and "every subject tested once" in help_text
    with pytest.raises(SystemExit):
        main(["cv", "demo", "--model", "forest"])  # argparse names the choices: probe, thumbnail, atrophy, cnn


def test_train_model_person_trains_a_run_of_the_model_of_the_person(person_run, monkeypatch, capsys):
    from alzmri.models import training

    given = []
    monkeypatch.setattr(training, "train", lambda config, **_: given.append(config) or person_run)
    assert main(["train", "--model", "person", "--profile", "smoke"]) == 0
    assert given[0].model == "person" and given[0].profile == "smoke"
    out = capsys.readouterr().out
    assert f"Run saved to {person_run}" in out and "network model of the person" in out


def test_a_person_run_refuses_predict_and_gradcam_per_slice_in_one_line(person_run, tmp_path, capsys):
    from alzmri.data.datasets import index_dataset
    from alzmri.models.runs import load_run

    image = index_dataset(load_run(person_run).metadata["data"], progress=False).frame["path"].iloc[0]
    for command in (["predict", str(person_run), image], ["gradcam", str(person_run), image, "--out", str(tmp_path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"{person_run.name} is a model of the person" in err and "--per-subject FOLDER" in err
    assert not list(tmp_path.glob("*.png"))  # no overlay was written
