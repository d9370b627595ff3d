"""The leakage audit: which protocols put a test brain in training, on alzmri's own splits and on a split made
elsewhere (the split Keras draws, and a CSV of a random slice split made with scikit-learn outside alzmri)."""

import json
import os

import pandas as pd
import pytest

from alzmri.cli import main
from alzmri.data import synthetic
from alzmri.config import get_config
from alzmri.leakage.audit import audit


def test_audit_shows_which_protocols_leak_subjects(medium_data):
    table, per_image = audit(medium_data, get_config("demo"))
    table = table.set_index(["protocol", "pair"])
    for pair in ("train→val", "train→test"):
        assert table.loc[("subject", pair), ["copy_in_train", "subject_in_train"]].tolist() == [0, 0]
    # copies kept together, but other slices of the same brains on both sides
    assert table.loc[("image", "train→test"), "copy_in_train"] == 0
    assert table.loc[("image", "train→test"), "subject_in_train"] > 0.5 * table.loc[("image", "train→test"), "images"]
    naive = table.loc[("naive", "train→test")]
    assert naive["copy_in_train"] > 0.5 * naive["images"] and naive["subjects_in_train"] == naive["subjects"]
    assert set(per_image.filter(like="split_").columns) == {"split_subject", "split_image", "split_official",
                                                            "split_naive"}


def test_audit_of_a_class_with_a_single_image(tmp_path):
    """Tiny data used to crash the audit inside scikit-learn; now every protocol is counted."""
    import warnings

    from alzmri.data.datasets import index_dataset
    from alzmri.leakage.prepared import PreparedData, annotate

    root = synthetic.generate_dataset(tmp_path / "v2", n_per_class=16, size=48, slices=4, balance="equal",
                                      progress=False)
    for folder in (root / "data" / "val" / "ModerateDemented", root / "data" / "train" / "ModerateDemented"):
        for path in sorted(folder.glob("*.jpg"))[1:]:
            path.unlink()
    config = get_config("smoke")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = index_dataset(root, cache_dir=tmp_path, progress=False)
        frame, features, recovery = annotate(index, config, tmp_path, progress=False)
    table, _ = audit(PreparedData(index, frame, "subject", features, recovery), config)
    assert set(table["protocol"]) == {"subject", "image", "official", "naive"}


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
