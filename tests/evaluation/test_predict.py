"""Predictions that say what they are (the run, the data it learnt from, its test score, the input check), and
``predict --per-subject``: one answer per brain, from sub-folders or from brains recovered by similarity."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alzmri.cli import main
from alzmri.config import CLASS_NAMES
from alzmri.models.provenance import DISCLAIMER, SYNTHETIC_WARNING, describe_run
from alzmri.models.runs import CHECK_FILE, load_run, read_metadata, write_metadata


def _test_rows(run_dir) -> tuple[pd.DataFrame, str]:
    """The run's test rows of its ``splits.csv``, and the data folder their paths are relative to."""
    splits = pd.read_csv(run_dir / "splits.csv", keep_default_na=False)
    return splits[splits["split"] == "test"], load_run(run_dir).metadata["data"]


def _test_files(run_dir, n: int = 3) -> list[str]:
    rows, root = _test_rows(run_dir)
    return [f"{root}/{rel}" for rel in rows["relpath"].head(n)]


def _test_subjects(run_dir) -> dict[str, list[str]]:
    """The run's test subjects and the paths of their original slices."""
    rows, root = _test_rows(run_dir)
    originals = rows[rows["kind"] == "original"]
    return {subject: [f"{root}/{r}" for r in part["relpath"]] for subject, part in originals.groupby("subject")}


def _unlike_files(folder, size: int = 64) -> list[str]:
    """Two slices nothing like the synthetic training data: noise and a checkerboard."""
    folder.mkdir(exist_ok=True)
    noise = np.random.default_rng(0).integers(0, 256, (size, size), dtype=np.uint8)
    checker = ((np.indices((size, size)).sum(axis=0) // 4) % 2 * 255).astype(np.uint8)
    paths = [folder / "noise.png", folder / "checker.png"]
    for path, array in zip(paths, (noise, checker)):
        Image.fromarray(array).save(path)
    return [str(p) for p in paths]


def _copy_run(run_dir, target, keep_metrics: bool = False):
    """A copy of a run folder (without its metrics.json unless kept), to change without touching the shared run."""
    shutil.copytree(run_dir, target, ignore=None if keep_metrics else shutil.ignore_patterns("metrics.json"))
    return target


def test_predict_json_names_the_run_its_data_and_warns(smoke_run, tmp_path, capsys):
    run = _copy_run(smoke_run, tmp_path / "run")
    metadata = json.loads((run / "metadata.json").read_text())
    assert main(["predict", str(run), *_test_files(run), *_unlike_files(tmp_path / "odd"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["run"] == "run" and answer["run_path"] == str(run)
    assert answer["data"]["synthetic"] is True and answer["data"]["fingerprint"] == metadata["data_fingerprint"]
    assert answer["test"] == {"evaluated": False, "note": f"test split not evaluated yet: run `python -m alzmri "
                                                          f"evaluate {run}`"}
    assert answer["warnings"][0] == SYNTHETIC_WARNING and "mean nothing for real scans" in SYNTHETIC_WARNING
    flags = [p["in_distribution"] for p in answer["predictions"]]
    assert all(isinstance(f, bool) for f in flags) and flags[-2:] == [False, False] and all(flags[:3])
    assert all(isinstance(p["input_score"], float) for p in answer["predictions"])
    check = answer["input_check"]
    assert check["stored"] and check["flagged"] == 2 and check["images"] == 5
    assert check["summary"].startswith("2 of 5 slices look unlike this run's training data (score above the threshold")
    assert check["summary"] in answer["warnings"]


def test_predict_text_says_it_in_one_line_each(smoke_run, tmp_path, capsys):
    run = str(smoke_run)
    assert main(["predict", run, *_unlike_files(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Run {smoke_run.name}, trained on SYNTHETIC data (alzmri.data.synthetic demo set)")
    assert "in_distribution" in lines[1] and "input_score" in lines[1]
    assert sum(SYNTHETIC_WARNING in line for line in lines) == 1
    assert any(line.startswith("WARNING 2 of 2 slices look unlike this run's training data") for line in lines)
    assert "not a diagnosis" in lines[-1]


def test_the_test_score_is_quoted_once_evaluated(smoke_evaluation, smoke_run, capsys):
    saved = smoke_evaluation.saved
    low, high = saved["ci95"]["balanced_accuracy"]
    expected = f"test balanced accuracy {saved['balanced_accuracy']:.3f} [{low:.3f}, {high:.3f}]"
    assert main(["predict", str(smoke_run), *_test_files(smoke_run, 1), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert expected in answer["summary"] and answer["test"]["evaluated"] is True
    assert answer["test"]["balanced_accuracy"] == pytest.approx(saved["balanced_accuracy"])


def test_a_run_without_a_stored_check_says_so(smoke_run, tmp_path, capsys):
    run = _copy_run(smoke_run, tmp_path / "old-run")
    (run / CHECK_FILE).unlink()
    assert main(["predict", str(run), *_test_files(run, 2), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [p["in_distribution"] for p in answer["predictions"]] == [None, None]
    assert answer["input_check"]["stored"] is False
    assert any("no input check stored in this run" in w for w in answer["warnings"])
    assert main(["predict", str(run), *_test_files(run, 2)]) == 0
    out = capsys.readouterr().out
    assert "WARNING Input check: no input check stored in this run" in out and "in_distribution" not in out


def test_gradcam_titles_and_output_name_the_run_and_the_synthetic_data(smoke_run, tmp_path, monkeypatch, capsys):
    from alzmri.reporting import plots

    titles, labels = [], []
    drawn = plots.gradcam_gallery

    def recording(images, heatmaps, column_titles, title=""):
        titles.append(title)
        labels.extend(column_titles)
        return drawn(images, heatmaps, column_titles, title=title)

    monkeypatch.setattr(plots, "gradcam_gallery", recording)
    files = _test_files(smoke_run, 1) + _unlike_files(tmp_path / "odd")[:1]
    assert main(["gradcam", str(smoke_run), *files, "--out", str(tmp_path / "cams"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(titles) == 2 and all(smoke_run.name in t and "SYNTHETIC" in t for t in titles)
    assert all("mean nothing for real scans" in t for t in titles)
    assert "UNLIKE its training data" not in labels[0] and "UNLIKE its training data" in labels[1]
    assert answer["warnings"][0] == SYNTHETIC_WARNING and answer["run"] == smoke_run.name
    assert [p["in_distribution"] for p in answer["predictions"]] == [True, False]
    assert all((tmp_path / "cams" / p["overlay"].split("/")[-1]).exists() for p in answer["predictions"])
    assert main(["gradcam", str(smoke_run), *files, "--out", str(tmp_path / "cams")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Run {smoke_run.name}, trained on SYNTHETIC data") and "(unlike its training data)" in out
    assert f"WARNING {SYNTHETIC_WARNING}" in out


@pytest.mark.parametrize("metadata, name, warnings", [
    ({"config": {"data": "kaggle"}, "synthetic": False, "data_fingerprint": "abc123", "split": "subject"},
     "uraninjo/augmented-alzheimer-mri-dataset-v2", []),
    ({"config": {"data": "/data/my_slices"}, "synthetic": False, "data_fingerprint": "f00", "split": "naive",
      "labels": "shuffled by subject (memorisation check)"}, "my_slices", ["SHUFFLED LABELS", "LEAKY SPLIT"]),
    ({"config": {"data": "demo"}, "synthetic": True, "data_fingerprint": "d", "split": "subject"},
     "alzmri.data.synthetic demo set", ["SYNTHETIC"]),
])
def test_provenance_names_the_data_and_warns(tmp_path, metadata, name, warnings):
    run = describe_run(tmp_path, metadata)
    assert run.data["name"] == name and run.run == tmp_path.name
    assert run.data["synthetic"] == (warnings == ["SYNTHETIC"])
    assert (f"fingerprint {metadata['data_fingerprint']}" in run.text) != run.data["synthetic"]
    assert [w.split(":")[0] for w in run.warnings] == warnings
    assert all(w in run.figure_title("Grad-CAM") for w in warnings)
    assert "test split not evaluated yet" in run.text


def test_a_2_5_d_run_refuses_single_images_by_name():
    from pathlib import Path
    from types import SimpleNamespace

    from alzmri.errors import SettingsError
    from alzmri.evaluation.predict import predict_checked, predict_images

    run = SimpleNamespace(metadata={"config": {"neighbour_slices": True}}, path=Path("runs/stacked-run"))
    for predict in (predict_images, predict_checked):
        with pytest.raises(SettingsError, match="stacked-run was trained on 2.5-D input"):
            predict(run, np.zeros((1, 32, 32, 3)))


def _copy(files: list[str], folder, prefix: str = "") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return [shutil.copy(f, folder / f"{prefix}{i:02d}.png") for i, f in enumerate(files)]


def test_one_answer_per_sub_folder_with_the_slices_behind_it(smoke_run, tmp_path, capsys):
    subjects = _test_subjects(smoke_run)
    first, second, third = list(subjects)[:3]
    brains = tmp_path / "brains"
    _copy(subjects[first], brains / "anna")
    _copy(subjects[second][:2], brains / "ben")
    _copy(subjects[third][:1], brains)  # directly in the folder given: that folder's own subject
    assert main(["predict", str(smoke_run), str(brains), "--per-subject", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    rows = {row["subject"]: row for row in answer["subjects"]}
    assert set(rows) == {str(brains / "anna"), str(brains / "ben"), str(brains)}
    assert [rows[str(brains / n)]["slices"] for n in ("anna", "ben")] == [len(subjects[first]), 2]
    slices = pd.DataFrame(answer["predictions"])
    assert len(slices) == len(subjects[first]) + 3
    assert {"file", "subject", "predicted", "probabilities", "p_any_dementia", "in_distribution"} <= set(slices)
    slices = slices.join(pd.DataFrame(list(slices["probabilities"])))
    for name, row in rows.items():
        mean = slices.loc[slices["subject"] == name, list(CLASS_NAMES)].mean()  # soft voting, by hand
        assert [row["probabilities"][c] for c in CLASS_NAMES] == pytest.approx(mean.tolist(), abs=1e-5)
        assert row["predicted"] == mean.idxmax() and row["slices"] == (slices["subject"] == name).sum()
        assert row["p_any_dementia"] == pytest.approx(1 - row["probabilities"]["NonDemented"], abs=1e-5)
        assert row["flagged"] == (~slices.loc[slices["subject"] == name, "in_distribution"]).sum()
    assert answer["voting"].startswith("soft") and "sub-folder" in answer["subjects_from"]
    assert answer["run"] == smoke_run.name and answer["warnings"][0] == SYNTHETIC_WARNING
    assert answer["note"] == DISCLAIMER and answer["input_check"]["stored"]
    assert main(["predict", str(smoke_run), str(brains), "--per-subject"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Run {smoke_run.name}, trained on SYNTHETIC data")
    assert lines[1].startswith("One answer per subject (the mean of its slices' probabilities)")
    assert "p_any_dementia" in lines[2] and sum(str(brains / "anna") in line for line in lines) == 1
    assert "not a diagnosis" in lines[-1]


def test_brains_pooled_in_one_folder_are_recovered_by_similarity(smoke_run, tmp_path, capsys):
    from alzmri.leakage.subjects import adjusted_rand

    subjects = _test_subjects(smoke_run)
    pooled = tmp_path / "pooled"
    chosen = list(subjects)[:2]
    files, truth = [], []
    for k, name in enumerate(chosen):
        files += _copy(subjects[name], pooled, prefix=f"scan{k}_")
        truth += [name] * len(subjects[name])
    assert main(["predict", str(smoke_run), str(pooled), "--per-subject", "--subjects", "similarity", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    found = pd.DataFrame(answer["predictions"]).set_index("file").loc[[str(f) for f in files], "subject"]
    assert adjusted_rand(np.array(truth), found.to_numpy()) == pytest.approx(1.0)
    assert sorted(row["slices"] for row in answer["subjects"]) == sorted(len(subjects[n]) for n in chosen)
    assert "recovered by image similarity" in answer["subjects_from"]
    assert "run's training data" in answer["subjects_from"]


def test_similarity_without_the_runs_data_is_one_line(smoke_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    metadata = read_metadata(run)
    write_metadata(run, {**metadata, "config": {**metadata["config"], "data": str(tmp_path / "gone")}})
    some = next(iter(_test_subjects(smoke_run).values()))[:2]
    assert main(["predict", str(run), *some, "--per-subject", "--subjects", "similarity"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alzmri predict: error: ") and len(err.strip().splitlines()) == 1, err
    assert "take their linking level from the run's training data" in err and "gone does not exist" in err
    assert "a folder of its own" in err
def test_a_person_run_refuses_single_images_naming_what_to_use_instead():
    from pathlib import Path
    from types import SimpleNamespace

    from alzmri.errors import SettingsError
    from alzmri.evaluation.predict import predict_checked, predict_images

    run = SimpleNamespace(metadata={"config": {"model": "person"}}, path=Path("runs/whole-brains"))
    for predict in (predict_images, predict_checked):
        with pytest.raises(SettingsError, match=r"whole-brains is a model of the person.*--per-subject FOLDER"):
            predict(run, np.zeros((1, 32, 32, 3)))


def test_a_person_run_answers_each_sub_folder_once_from_its_stack(person_run, tmp_path):
    from alzmri.data.pipeline import collect_image_files, read_images_for_model
    from alzmri.evaluation.predict import predict_subjects_report

    subjects = _test_subjects(person_run)
    first, second = list(subjects)[:2]
    brains = tmp_path / "brains"
    folders = {str(brains / "anna"): _copy(subjects[first], brains / "anna"),
               str(brains / "ben"): _copy(subjects[second][:2], brains / "ben")}
    run = load_run(person_run)
    report = predict_subjects_report(run, [str(brains)], collect_image_files([str(brains)]))
    assert "One answer per subject (the model of the person)" in report.as_text()
    answer = report.as_dict()  # what --json prints
    rows = {row["subject"]: row for row in answer["subjects"]}
    assert set(rows) == set(folders) and rows[str(brains / "ben")]["slices"] == 2
    assert "model of the person" in answer["voting"] and not answer["input_check"]["stored"]
    picks = [[files[i] for i in np.round(np.linspace(0, len(files) - 1, 4)).astype(int)]  # 4 evenly spaced slices
             for files in map(sorted, folders.values())]  # of the stack in file-name order (ben's 2 repeat)
    stacks = read_images_for_model(sum(picks, []), run.image_size)[..., :1].reshape(2, 4, *run.model.input_shape[2:])
    for name, expected in zip(folders, run.model.predict(stacks, verbose=0)):
        assert [rows[name]["probabilities"][c] for c in CLASS_NAMES] == pytest.approx(expected.tolist(), abs=1e-5)
        for row in answer["predictions"]:  # every slice carries its subject's answer
            if row["subject"] == name:
                assert row["probabilities"] == pytest.approx(rows[name]["probabilities"], abs=1e-6)
