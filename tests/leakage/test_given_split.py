"""``alzmri audit`` and ``compare`` on a split made elsewhere: the split Keras draws, and a CSV of a random slice
split made with scikit-learn outside alzmri, both on the synthetic set."""

import json
import os

import pandas as pd
import pytest

from alzmri.cli import main


@pytest.fixture(scope="module")
def slice_split_csv(small_root, tmp_path_factory):
    """A random slice-level split of the originals, made as a paper's code would: absolute paths, stratified."""
    from sklearn.model_selection import train_test_split

    files = sorted(str(p) for p in (small_root / "data" / "val").glob("*/*.jpg"))
    train, test = train_test_split(files, test_size=0.25, random_state=0, stratify=[f.split(os.sep)[-2] for f in files])
    path = tmp_path_factory.mktemp("paper") / "paper_split.csv"
    pd.DataFrame({"file": train + test, "split": ["train"] * len(train) + ["test"] * len(test)}).to_csv(path, index=False)
    return path


def test_audit_of_the_keras_split_names_the_files_keras_selects_and_their_brains(small_root, tmp_path, capsys):
    import keras

    assert main(["audit", str(small_root), "--profile", "smoke", "--split", "keras:0.2:123",
                 "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "image_dataset_from_directory('data/train', validation_split=0.2, subset='both', seed=123)" in out
    assert "Verdict, train→val:" in out
    folder = small_root / "data" / "train"
    train, val = keras.utils.image_dataset_from_directory(str(folder), validation_split=0.2, subset="both", seed=123,
                                                          image_size=(8, 8), verbose=False)
    written = json.loads((tmp_path / "a.json").read_text())
    as_listed = lambda paths: sorted(f"data/train/{os.path.relpath(p, folder)}" for p in paths)  # noqa: E731
    assert written["files"]["val"] == as_listed(val.file_paths)
    assert written["files"]["train"] == as_listed(train.file_paths)
    pair = written["pairs"]["train→val"]
    assert pair["test_images"] == len(val.file_paths)
    assert 0 < pair["test_subjects_in_train"] <= pair["test_subjects"]
    assert 0 < pair["test_images_with_copy_in_train"] <= pair["test_images_leaked"] <= pair["test_images"]


def test_audit_of_a_slice_split_file_reports_its_shared_brains(slice_split_csv, small_root, tmp_path, capsys):
    assert main(["audit", str(small_root), "--profile", "smoke", "--split-file", str(slice_split_csv),
                 "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    rows = len(pd.read_csv(slice_split_csv))
    assert f"{rows} row(s), matched {rows} by path" in out
    pair = json.loads((tmp_path / "a.json").read_text())["pairs"]["train→test"]
    assert pair["test_subjects_in_train"] == pair["test_subjects"] > 0  # a random slice split parts every brain
    assert pair["test_images_with_copy_in_train"] == 0 and pair["leaked_share"] == 1.0
    assert f"{pair['test_subjects']} of its {pair['test_subjects']} test subjects are also in train" in out


def test_compare_scores_the_split_file_beside_the_subject_split(slice_split_csv, small_root, tmp_path, capsys):
    assert main(["compare", str(small_root), "--profile", "smoke", "--split-file", str(slice_split_csv),
                 "--figures", str(tmp_path), "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "shuffled labels" in out and "its test split is the one scored" in out
    table = json.loads((tmp_path / "c.json").read_text())
    assert list(table) == ["paper_split.csv", "subject"]
    theirs, ours = table["paper_split.csv"], table["subject"]
    assert theirs["test_subjects_in_train"] == theirs["test_subjects"] and ours["test_subjects_in_train"] == 0
    assert theirs["ci_shuffled"][0] > theirs["chance_shuffled"]  # the probe recognises brains on their split


def test_bad_split_options_are_one_line(small_root, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("path,split\na.jpg,train\nb.jpg,holdout\n")
    for args, said in ((["--split-file", str(tmp_path / "bad.csv")], "unknown split name(s) 'holdout'"),
                       (["--split", "keras:2:1"], "strictly between 0 and 1"),
                       (["--json", str(tmp_path / "x.json")], "give --split-file or --split"),
                       (["--split", "keras:0.2:1", "--save-csv", str(tmp_path / "x.csv")], "use --json")):
        assert main(["audit", str(small_root), "--profile", "smoke", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("alzmri audit: error:") and said in err and len(err.strip().splitlines()) == 1
    assert main(["compare", str(small_root), "--profile", "smoke", "--split", "keras:0.2:1", "--model", "cnn"]) == 2
    assert "use probe, thumbnail, atrophy or person" in capsys.readouterr().err
