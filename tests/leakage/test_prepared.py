"""The prepared data (:mod:`alzmri.leakage.prepared`): copies and subjects annotated, folders named like copies
checked on the pixels, identical images named, split too small to mean anything refused, the units a bootstrap
resamples, and labels shuffled per subject."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import v2_without_manifest

from alzmri.data import synthetic
from alzmri.config import CLASS_NAMES, get_config
from alzmri.data.datasets import DataWarning, index_dataset
from alzmri.errors import DatasetError
from alzmri.leakage.prepared import (PreparedData, annotate, check_held_out, independent_units, prepare_data,
                                    shuffle_labels)
from alzmri.leakage.protocols import available_protocols, split_frame


def _folder(root, subset, n=6, seed=0):
    rng = np.random.default_rng(seed)
    from PIL import Image

    for c in CLASS_NAMES:
        for i in range(n):
            path = root / subset / c / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(path)


def test_a_users_train_and_val_folders_are_not_taken_for_copies(tmp_path):
    """``mydata/train`` beside ``mydata/val``: both hold originals; nothing is dropped silently."""
    _folder(tmp_path / "d", "mydata/train", seed=1)
    _folder(tmp_path / "d", "mydata/val", seed=2)
    index = index_dataset(tmp_path / "d", cache_dir=tmp_path, progress=False)
    assert (index.frame["kind"] == "original").all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame, _, _ = annotate(index, get_config("smoke"), tmp_path, progress=False)
        split = split_frame(frame, "subject", get_config("smoke"))
    assert (split["split"] != "unused").all()


def test_a_folder_named_like_copies_that_holds_none_is_used_and_said(tmp_path):
    _folder(tmp_path / "d", "data/train", seed=1)
    _folder(tmp_path / "d", "data/val", seed=2)
    index = index_dataset(tmp_path / "d", cache_dir=tmp_path, progress=False)
    assert set(index.frame.loc[index.frame["subset"] == "data/train", "kind"]) == {"augmented"}
    with pytest.warns(DataWarning, match=r"data/train/ is named like .* used as originals"):
        frame, _, _ = annotate(index, get_config("smoke"), tmp_path, progress=False)
    assert (frame["kind"] == "original").all()


def test_copies_that_match_no_original_are_counted_not_dropped_silently(tmp_path):
    root = synthetic.generate_dataset(tmp_path / "v2", n_per_class=8, size=48, slices=4, balance="equal",
                                      progress=False)
    from PIL import Image

    (root / synthetic.MANIFEST).unlink()  # a V2 set as Kaggle ships it: copies known by their folder only
    stranger = root / "data" / "train" / "NonDemented" / "stranger.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)).save(stranger)
    index = index_dataset(root, cache_dir=tmp_path, progress=False)
    with pytest.warns(DataWarning, match=r"\d+ of the 65 augmented images in data/train/ match no original"):
        frame, _, _ = annotate(index, get_config("smoke"), tmp_path, progress=False)
    row = frame[frame["relpath"].str.endswith("stranger.jpg")].iloc[0]
    assert row["original"] == "" and row["subject"] == ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert split_frame(frame, "subject", get_config("smoke")).loc[row.name, "split"] == "unused"


def test_the_same_image_under_two_classes_is_named_and_kept_on_one_side(tmp_path):
    """5 Mild originals copied into NonDemented: the conflict is named, the levels and every split unmoved by it."""
    import shutil

    root = v2_without_manifest(tmp_path / "v2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, clean = annotate(index_dataset(root, cache_dir=tmp_path, progress=False), get_config("smoke"), tmp_path,
                               progress=False)
    mild = sorted((root / "data" / "val" / "MildDemented").glob("*.jpg"))[:5]
    for path in mild:
        shutil.copy(path, root / "data" / "val" / "NonDemented" / f"copy_{path.name}")
    index = index_dataset(root, cache_dir=tmp_path, progress=False)
    with pytest.warns(DataWarning, match=r"5 image\(s\) are identical to an image of another class") as caught:
        frame, _, recovery = annotate(index, get_config("smoke"), tmp_path, progress=False)
    message = next(str(w.message) for w in caught if "identical" in str(w.message))
    for path in mild:
        assert f"data/val/NonDemented/copy_{path.name} = data/val/MildDemented/{path.name}" in message
    assert (recovery.evidence.neighbour, recovery.evidence.different) == (clean.evidence.neighbour,
                                                                          clean.evidence.different)
    assert "5 original(s) identical to an earlier file" in recovery.describe(frame)
    pairs = [(f"data/val/NonDemented/copy_{p.name}", f"data/val/MildDemented/{p.name}") for p in mild]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for protocol in available_protocols(frame):
            split = split_frame(frame, protocol, get_config("smoke")).set_index("relpath")["split"]
            assert all(split[a] == split[b] for a, b in pairs), protocol
    subject_split = split_frame(frame, "subject", get_config("smoke"))
    used = subject_split[subject_split["split"] != "unused"]
    assert (used.groupby("subject")["split"].nunique() == 1).all()


def test_two_subjects_a_class_is_refused_in_one_line_before_training(tmp_path, capsys):
    """``synth --n-per-class 10`` with 12 slices: every class gives its 2 subjects to train and test, none to val."""
    from alzmri.cli import main

    root = synthetic.generate_dataset(tmp_path / "tiny", n_per_class=10, size=32, slices=12, progress=False)
    assert main(["train", "--profile", "smoke", "--data", str(root), "--run-name", f"tiny-{tmp_path.name}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "its val split holds 0 subject(s), 0 image(s)" in err and "MildDemented 2" in err
    assert "val one from 3" in err and "--n-per-class" in err
    assert not list(Path(get_config("smoke").runs_dir).glob(f"*tiny-{tmp_path.name}*"))


def test_a_held_out_split_of_one_subject_is_refused_and_the_smoke_data_is_not(medium_data):
    frame = medium_data.frame.copy()
    val = frame["split"] == "val"
    frame.loc[val & (frame["subject"] != frame.loc[val, "subject"].iloc[0]), "split"] = "train"
    with pytest.raises(DatasetError, match=r"too small to mean anything: its val split holds 1 subject\(s\)"):
        check_held_out(PreparedData(medium_data.index, frame, "subject"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smoke = prepare_data(get_config("smoke"), progress=False)
    check_held_out(smoke)  # 4 subjects in val and in test: small, but a split
    assert {s["subjects"] for name, s in smoke.sizes().items() if name != "train"} == {4}


def test_shuffled_labels_are_per_subject_and_keep_class_sizes(medium_data):
    frame = medium_data.frame
    shuffled = shuffle_labels(frame, seed=5)
    units, _ = independent_units(frame)
    per_unit = pd.Series(shuffled["label"].to_numpy(), index=units).groupby(level=0)
    assert (per_unit.nunique() == 1).all()  # one class per subject, copies included
    true_per_unit = pd.Series(frame["label"].to_numpy(), index=units).groupby(level=0).first()
    assert per_unit.first().value_counts().sort_index().equals(true_per_unit.value_counts().sort_index())
    assert (per_unit.first() != true_per_unit).mean() > 0.3  # and many subjects changed class
    assert (shuffled["class_name"].to_numpy() == np.asarray(CLASS_NAMES)[shuffled["label"].to_numpy()]).all()
    assert shuffle_labels(frame, seed=5)["label"].equals(shuffled["label"])  # seeded


def test_units_fall_back_to_copy_groups_then_images():
    frame = pd.DataFrame({"subject": ["s1", "s1", "", ""], "group": [0, 0, 3, -1], "relpath": list("abcd")})
    units, name = independent_units(frame)
    assert units.tolist() == ["subject:s1", "subject:s1", "group:3", "image:d"]
    assert name == "subject, copy group or image"
    assert independent_units(frame.iloc[:2])[1] == "subject"
    assert independent_units(frame.iloc[1:3])[1] == "subject or copy group"
