"""``predict --per-subject``: one answer per brain, from sub-folders or from brains recovered by similarity."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from alzmri.cli import main
from alzmri.config import CLASS_NAMES
from alzmri.models.provenance import DISCLAIMER, SYNTHETIC_WARNING


def _test_subjects(run_dir) -> dict[str, list[str]]:
    """The run's test subjects and the paths of their original slices."""
    from alzmri.models.runs import load_run

    splits = pd.read_csv(run_dir / "splits.csv", keep_default_na=False)
    root = load_run(run_dir).metadata["data"]
    test = splits[(splits["split"] == "test") & (splits["kind"] == "original")]
    return {subject: [f"{root}/{r}" for r in rows["relpath"]] for subject, rows in test.groupby("subject")}


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
    from alzmri.models.runs import read_metadata, write_metadata

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


def test_a_person_run_answers_each_sub_folder_once_from_its_stack(person_run, tmp_path):
    from alzmri.data.pipeline import collect_image_files, read_images_for_model
    from alzmri.evaluation.predict import predict_subjects_report
    from alzmri.models.runs import load_run

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
