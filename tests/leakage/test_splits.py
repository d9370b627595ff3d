import warnings
from pathlib import Path

import numpy as np
import pytest

from alzmri.data import synthetic
from alzmri.config import CLASS_NAMES, get_config
from alzmri.data.datasets import DataWarning, index_dataset
from alzmri.errors import DatasetError
from alzmri.leakage.splits import annotate, available_protocols, split_frame


def test_subject_split_keeps_every_brain_on_one_side(medium_data):
    frame = medium_data.frame
    used = frame[frame["split"] != "unused"]
    assert (used.groupby("subject")["split"].nunique() == 1).all()
    originals = frame[frame["kind"] == "original"]
    assert set(originals["split"]) == {"train", "val", "test"}
    assert set(originals.loc[originals["split"] == "test", "class_name"]) == set(CLASS_NAMES)
    copies = frame[frame["kind"] == "augmented"]
    assert set(copies["split"]) <= {"train", "unused"}
    held_out = set(originals.loc[originals["split"] != "train", "relpath"])
    assert not set(copies.loc[copies["split"] == "train", "original"]) & held_out  # by the manifest's truth
    subjects = originals.groupby("split")["subject"].nunique() / originals["subject"].nunique()
    assert abs(subjects["test"] - 0.15) < 0.06 and abs(subjects["val"] - 0.15) < 0.06


def test_splits_are_reproducible_and_seeded(medium_data):
    config = get_config("demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for protocol in ("subject", "image", "naive"):
            a = split_frame(medium_data.frame, protocol, config)["split"]
            b = split_frame(medium_data.frame, protocol, config)["split"]
            c = split_frame(medium_data.frame, protocol, config.replace(seed=1))["split"]
            assert a.equals(b) and not a.equals(c), protocol


def test_image_split_keeps_copy_groups_whole(medium_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = split_frame(medium_data.frame, "image", get_config("demo"))
    originals = frame[frame["kind"] == "original"]
    assert originals.groupby("group")["split"].nunique().max() == 1
    train_groups = set(originals.loc[originals["split"] == "train", "group"])
    copies = frame[(frame["kind"] == "augmented") & (frame["split"] == "train")]
    assert set(copies["group"]) <= train_groups


def test_naive_split_uses_the_augmented_folder(medium_data):
    frame = split_frame(medium_data.frame, "naive", get_config("demo"))
    used = frame[frame["split"] != "unused"]
    assert (used["kind"] == "augmented").all() and set(used["split"]) == {"train", "val", "test"}


def test_official_split_of_the_v2_layout_tests_on_the_originals(medium_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = split_frame(medium_data.frame, "official", get_config("demo"))
    assert set(frame.loc[frame["split"] == "test", "subset"]) == {"data/val"}
    assert set(frame.loc[frame["split"].isin(["train", "val"]), "subset"]) == {"data/train"}


def test_official_split_needs_the_datasets_own_folders(tmp_path):
    root = synthetic.generate_dataset(tmp_path / "v1", n_per_class=8, size=48, layout="v1", slices=4,
                                      progress=False)
    index = index_dataset(root, cache_dir=tmp_path, progress=False)
    frame, _, _ = annotate(index, get_config("smoke"), tmp_path, progress=False)
    assert "official" not in available_protocols(frame)
    with pytest.raises(DatasetError, match="no train/test folders of its own"):
        split_frame(frame, "official", get_config("smoke"))
    with pytest.raises(ValueError, match="split must be one of"):
        split_frame(frame, "grouped", get_config("smoke"))


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


def _v2_without_manifest(root, n_per_class=16, slices=4, size=48):
    """A small V2 set as Kaggle ships it: no manifest, so subjects come from similarity."""
    root = synthetic.generate_dataset(root, n_per_class=n_per_class, size=size, slices=slices, balance="equal",
                                      progress=False)
    (root / synthetic.MANIFEST).unlink()
    return root


def test_the_same_image_under_two_classes_is_named_and_kept_on_one_side(tmp_path):
    """5 Mild originals copied into NonDemented: the conflict is named, the levels and every split unmoved by it."""
    import shutil

    root = _v2_without_manifest(tmp_path / "v2")
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


def test_duplicates_move_whole_subjects_to_the_side_of_the_first(medium_data):
    """A planted duplicate across a train and a test subject pulls the later subject to the first one's side."""
    frame = split_frame(medium_data.frame, "subject", get_config("demo"))
    originals = frame[frame["kind"] == "original"]
    first = originals[originals["split"] == "train"].iloc[0]
    later = originals[(originals["split"] == "test") & (originals["relpath"] > first["relpath"])].iloc[0]
    planted = medium_data.frame.copy()
    planted.loc[planted["relpath"] == later["relpath"], "duplicate_of"] = first["relpath"]
    again = split_frame(planted, "subject", get_config("demo"))
    moved = again["subject"] == later["subject"]
    assert set(again.loc[moved & (again["kind"] == "original"), "split"]) == {"train"}
    unchanged = ~moved & (again["kind"] == "original")
    assert again.loc[unchanged, "split"].equals(frame.loc[unchanged, "split"])


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
    from alzmri.leakage.splits import PreparedData, check_held_out, prepare_data

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


@pytest.mark.parametrize("left", [1, 2])
def test_a_class_of_one_or_two_images_is_split_without_stratifying_and_said(tmp_path, left):
    root = _v2_without_manifest(tmp_path / "v2")
    for folder in (root / "data" / "val" / "ModerateDemented", root / "data" / "train" / "ModerateDemented"):
        for path in sorted(folder.glob("*.jpg"))[left:]:
            path.unlink()
    index = index_dataset(root, cache_dir=tmp_path, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame, _, _ = annotate(index, get_config("smoke"), tmp_path, progress=False)
    with pytest.warns(DataWarning, match=rf"Too few images per class to stratify the naive split's val "
                                         rf"\(.*ModerateDemented [0-{left}],"):
        split = split_frame(frame, "naive", get_config("smoke"))
    assert {"train", "val", "test"} <= set(split["split"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert {"train", "val", "test"} <= set(split_frame(frame, "official", get_config("smoke"))["split"])


def _fold_splits(frame, folds: int) -> list:
    """The subject split of every cross-validation fold of ``frame``."""
    config = get_config("demo").replace(cv_folds=folds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return [split_frame(frame, "subject", config.replace(cv_fold=k)) for k in range(1, folds + 1)]


def test_cv_folds_test_every_subject_once_and_copies_follow_their_originals(medium_data):
    from alzmri.leakage.splits import subject_folds

    frame = medium_data.frame
    splits = _fold_splits(frame, 4)
    originals = frame["kind"] == "original"
    tested = [set(s.loc[s["split"] == "test", "subject"]) for s in splits]
    assert sum(len(t) for t in tested) == len(set().union(*tested)) == frame.loc[originals, "subject"].nunique()
    folds = subject_folds(frame, 4, get_config("demo").seed)
    for k, split in enumerate(splits, start=1):
        assert tested[k - 1] == {s for s, fold in folds.items() if fold == k}
        used = split[split["split"] != "unused"]
        assert (used.groupby("subject")["split"].nunique() == 1).all()  # no subject in two parts of a fold
        assert set(split.loc[originals, "split"]) == {"train", "val", "test"}
        copies = split[split["kind"] == "augmented"]
        assert set(copies["split"]) <= {"train", "unused"}
        trained = set(split.loc[originals & (split["split"] == "train"), "relpath"])
        assert set(copies.loc[copies["split"] == "train", "original"]) <= trained  # by the manifest's truth
    per_fold = frame[originals].drop_duplicates("subject").assign(fold=lambda t: t["subject"].map(folds))
    counts = per_fold.groupby(["class_name", "fold"]).size().unstack(fill_value=0)
    assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all()  # stratified by class over subjects


def test_cv_folds_keep_subjects_that_share_an_identical_image_together(medium_data):
    from alzmri.leakage.splits import subject_folds

    frame = medium_data.frame.copy()
    folds = subject_folds(frame, 4, 0)
    first, later = [frame.loc[(frame["subject"] == s) & (frame["kind"] == "original"), "relpath"].iloc[0]
                    for s in (next(s for s in folds if folds[s] == 1), next(s for s in folds if folds[s] == 2))]
    frame.loc[frame["relpath"] == later, "duplicate_of"] = first
    planted = subject_folds(frame, 4, 0)
    subject_of = frame.set_index("relpath")["subject"]
    assert planted[subject_of[first]] == planted[subject_of[later]]
    assert sorted(planted) == sorted(folds)


def test_more_folds_than_subjects_per_class_is_one_line_naming_folds(medium_data):
    from alzmri.errors import SettingsError
    from alzmri.leakage.splits import subject_folds

    with pytest.raises(SettingsError, match=r"--folds 50 is more than the subjects of any class") as caught:
        subject_folds(medium_data.frame, 50, 0)
    assert "\n" not in str(caught.value) and "NonDemented" in str(caught.value)


def test_a_cv_fold_is_refused_for_other_protocols(medium_data):
    from alzmri.errors import SettingsError

    with pytest.raises(SettingsError, match="cv_fold 1 needs the subject split"):
        split_frame(medium_data.frame, "image", get_config("demo").replace(cv_fold=1))


def test_more_folds_than_groups_of_tied_subjects_is_one_line_naming_folds(medium_data):
    from alzmri.errors import SettingsError
    from alzmri.leakage.splits import subject_folds

    frame = medium_data.frame.copy()
    originals = frame[frame["kind"] == "original"].groupby("subject")["relpath"].first()
    anchor = originals.iloc[0]
    frame.loc[frame["relpath"].isin(originals.iloc[1:]), "duplicate_of"] = anchor  # every subject tied to the first
    with pytest.raises(SettingsError, match=r"--folds 2 is more than the 1 groups of subjects") as caught:
        subject_folds(frame, 2, 0)
    assert "\n" not in str(caught.value)
