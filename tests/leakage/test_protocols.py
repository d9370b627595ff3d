"""The split protocols (:mod:`alzmri.leakage.protocols`): subject, image, official and naive splits, cv folds."""

import warnings

import pytest
from helpers import v2_without_manifest

from alzmri.data import synthetic
from alzmri.config import CLASS_NAMES, get_config
from alzmri.data.datasets import DataWarning, index_dataset
from alzmri.errors import DatasetError
from alzmri.leakage.prepared import annotate
from alzmri.leakage.protocols import available_protocols, split_frame


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


@pytest.mark.parametrize("left", [1, 2])
def test_a_class_of_one_or_two_images_is_split_without_stratifying_and_said(tmp_path, left):
    root = v2_without_manifest(tmp_path / "v2")
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
    from alzmri.leakage.protocols import subject_folds

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
    from alzmri.leakage.protocols import subject_folds

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
    from alzmri.leakage.protocols import subject_folds

    with pytest.raises(SettingsError, match=r"--folds 50 is more than the subjects of any class") as caught:
        subject_folds(medium_data.frame, 50, 0)
    assert "\n" not in str(caught.value) and "NonDemented" in str(caught.value)


def test_a_cv_fold_is_refused_for_other_protocols(medium_data):
    from alzmri.errors import SettingsError

    with pytest.raises(SettingsError, match="cv_fold 1 needs the subject split"):
        split_frame(medium_data.frame, "image", get_config("demo").replace(cv_fold=1))


def test_more_folds_than_groups_of_tied_subjects_is_one_line_naming_folds(medium_data):
    from alzmri.errors import SettingsError
    from alzmri.leakage.protocols import subject_folds

    frame = medium_data.frame.copy()
    originals = frame[frame["kind"] == "original"].groupby("subject")["relpath"].first()
    anchor = originals.iloc[0]
    frame.loc[frame["relpath"].isin(originals.iloc[1:]), "duplicate_of"] = anchor  # every subject tied to the first
    with pytest.raises(SettingsError, match=r"--folds 2 is more than the 1 groups of subjects") as caught:
        subject_folds(frame, 2, 0)
    assert "\n" not in str(caught.value)
