"""A split made elsewhere, read from a file list and matched to the data (alzmri.leakage.split_file); each kind of
bad list is one line that counts what is wrong."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alzmri.data import synthetic
from alzmri.data.datasets import index_dataset
from alzmri.errors import SplitListError
from alzmri.leakage.similarity import compute_features
from alzmri.leakage.split_file import match_by_path, match_split, read_split_file

RELPATHS = pd.Series(["data/train/Mild/a.jpg", "data/val/Mild/a.jpg", "data/val/Non/b.jpg", "data/val/Non/c.jpg",
                      "data/val/Very/d.jpg", "data/val/Very/e.jpg"])


def _match(rows: list[tuple[str, str]], name: str = "list.csv") -> object:
    table = pd.DataFrame(rows, columns=["path", "split"]).assign(base=".")
    return match_split(table, RELPATHS, None, 0.88, name, "DATA")


def _refused(rows: list[tuple[str, str]], said: str) -> str:
    with pytest.raises(SplitListError, match=said) as err:
        _match(rows)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_paths_match_by_their_end_then_by_file_name():
    paths = ["/kaggle/input/x/data/val/Non/b.jpg", r"C:\Users\me\data\val\Non\c.jpg", "Very/d.jpg",
             "elsewhere/deep/e.jpg", "Mild/a.jpg", "nothing.jpg"]
    rows, how = match_by_path(paths, RELPATHS.tolist())
    assert rows.tolist() == [2, 3, 4, 5, -1, -1]
    assert how.tolist() == ["path", "path", "path", "name", "ambiguous", ""]


def test_csv_and_text_lists_are_read_with_any_spelling_of_the_split_names(tmp_path):
    (tmp_path / "s.csv").write_text("File,Split\nx/a.jpg,Training\nx/b.jpg,VALID\n")
    assert read_split_file([str(tmp_path / "s.csv")])[["path", "split"]].values.tolist() == [["x/a.jpg", "train"],
                                                                                           ["x/b.jpg", "val"]]
    (tmp_path / "a.txt").write_text("# made by hand\nx/a.jpg\n\nx/c.jpg\n")
    (tmp_path / "b.txt").write_text("x/b.jpg\n")
    table = read_split_file([f"train={tmp_path / 'a.txt'}", f"testing={tmp_path / 'b.txt'}"])
    assert table["split"].tolist() == ["train", "train", "test"] and table["base"].iloc[0] == str(tmp_path)


def test_rows_not_in_the_data_and_repeated_rows_are_counted_not_guessed():
    listed = _match([("data/train/Mild/a.jpg", "train"), ("Non/b.jpg", "train"), ("Non/b.jpg", "train"),
                     ("Very/d.jpg", "test"), ("Very/e.jpg", "test"), ("gone.jpg", "test"), ("Mild/a.jpg", "test")])
    assert listed.split.tolist() == ["train", "unused", "train", "unused", "test", "test"]
    assert listed.rows == 7 and listed.matched == {"path": 5, "name": 0, "content": 0}
    notes = " | ".join(listed.notes)
    assert "1 of 7 listed file(s) are not among the images of DATA (e.g. gone.jpg)" in notes
    assert "1 listed file(s) could be any of several images" in notes and "Mild/a.jpg" in notes
    assert "1 row(s) name an image listed before (e.g. Non/b.jpg): counted once" in notes


def test_an_image_in_two_splits_is_refused_and_counted():
    message = _refused([("Non/b.jpg", "train"), ("Non/c.jpg", "train"), ("Non/b.jpg", "test"), ("Very/d.jpg", "test")],
                       "1 image")
    assert "listed in two splits (e.g. Non/b.jpg (train/test))" in message


def test_an_empty_split_is_refused(tmp_path):
    _refused([("Non/b.jpg", "train"), ("Non/c.jpg", "train"), ("Very/d.jpg", "train"), ("gone.jpg", "test")],
             "its test split matches no image")
    _refused([("Non/b.jpg", "train"), ("Non/c.jpg", "train")], "needs a train split and a val or test split")
    (tmp_path / "a.txt").write_text("x.jpg\n")
    (tmp_path / "b.txt").write_text("# nothing\n\n")
    with pytest.raises(SplitListError, match="lists no file, so the test split would be empty"):
        read_split_file([f"train={tmp_path / 'a.txt'}", f"test={tmp_path / 'b.txt'}"])


def test_unknown_split_names_are_refused_with_their_counts(tmp_path):
    (tmp_path / "s.csv").write_text("path,split\na,train\nb,holdout\nc,holdout\nd,dev\n")
    with pytest.raises(SplitListError, match=r"unknown split name\(s\) 'holdout' \(2 row\(s\)\), 'dev' \(1 row\(s\)\)"):
        read_split_file([str(tmp_path / "s.csv")])


def test_a_list_of_other_data_is_refused():
    _refused([("other/x1.png", "train"), ("other/x2.png", "train"), ("Non/b.jpg", "test")],
             "only 1 of its 3 rows match an image of DATA .*a list of other data")


@pytest.mark.parametrize("content, said", [("name,fold\na,1\n", "needs a path column"), ("", "needs a path column"),
                                           (b"\xff\xfe\x00\x01" * 50, "is not a CSV table")])
def test_a_csv_that_is_no_split_list_is_one_line(tmp_path, content, said):
    path = tmp_path / "s.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SplitListError, match=said) as err:
        read_split_file([str(path)])
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_renamed_and_re_encoded_copies_match_by_content(tmp_path):
    root = synthetic.generate_dataset(tmp_path / "d", n_per_class=4, size=48, slices=2, copies=0.0, balance="equal",
                                      seed=5, progress=False)
    frame = index_dataset(root, cache_dir=tmp_path, progress=False).frame
    features = compute_features(frame["path"].tolist(), progress=False)
    elsewhere = tmp_path / "theirs"
    elsewhere.mkdir()
    rows = []
    for i, row in enumerate([0, 5, 9, 14]):  # renamed, resized and re-encoded as PNG on another machine
        Image.open(frame["path"][row]).convert("RGB").resize((60, 60)).save(elsewhere / f"scan{i}.png")
        rows.append((f"scan{i}.png", "train" if i < 2 else "test"))
    table = pd.DataFrame(rows, columns=["path", "split"]).assign(base=str(elsewhere))
    listed = match_split(table, frame["relpath"], features, 0.88, "theirs.csv", "DATA")
    assert listed.matched == {"path": 0, "name": 0, "content": 4}
    assert np.flatnonzero(listed.split != "unused").tolist() == [0, 5, 9, 14]
    assert listed.split[[0, 5, 9, 14]].tolist() == ["train", "train", "test", "test"]


def test_one_split_given_twice_under_two_spellings_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("x/1.jpg\n")
    (tmp_path / "b.txt").write_text("x/2.jpg\n")
    with pytest.raises(SplitListError, match=r"\['train'\] more than once"):
        read_split_file([f"train={tmp_path / 'a.txt'}", f"Training={tmp_path / 'b.txt'}"])
