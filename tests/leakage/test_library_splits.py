"""The splits notebook code draws (alzmri.leakage.library_splits), checked against Keras and scikit-learn themselves.

The folder is tiny and its files empty: listing and splitting never decode an image, in the libraries or here.
"""

import os

import pytest

from alzmri.errors import SettingsError
from alzmri.leakage.library_splits import (LibrarySplit, draw_split, generator_split, keras_split, parse_split_spec,
                                           sklearn_split)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Four class folders of uneven sizes, with what the libraries treat differently: upper-case and odd extensions,
    a nested folder, a hidden folder (a class for ImageDataGenerator, not for Keras) and a non-image file."""
    root = tmp_path_factory.mktemp("lib") / "data" / "train"
    sizes = {"MildDemented": 7, "ModerateDemented": 3, "NonDemented": 11, "VeryMildDemented": 9}
    for name, n in sizes.items():
        (root / name / "deeper").mkdir(parents=True)
        for i in range(n):
            (root / name / f"img{i:02d}.{'JPG' if i % 4 == 0 else 'png'}").touch()
        (root / name / "deeper" / "late.jpeg").touch()
        (root / name / "slice.tif").touch()
        (root / name / "notes.txt").touch()
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").touch()
    return root


def _relative(paths, root):
    return [os.path.relpath(p, root) for p in paths]


@pytest.mark.parametrize("fraction, seed", [(0.2, 123), (0.35, 7)])
def test_keras_split_is_the_one_image_dataset_from_directory_draws(folder, fraction, seed):
    import keras

    train, val = keras.utils.image_dataset_from_directory(str(folder), validation_split=fraction, subset="both",
                                                          seed=seed, image_size=(8, 8), verbose=False)
    drawn = keras_split(folder, fraction, seed)
    assert drawn["val"] == _relative(val.file_paths, folder)
    assert drawn["train"] == _relative(train.file_paths, folder)


def test_generator_split_is_the_one_image_data_generator_draws(folder, capsys):
    import tensorflow as tf

    generator = tf.keras.preprocessing.image.ImageDataGenerator(validation_split=0.3)
    drawn = generator_split(folder, 0.3)
    for subset, part in (("validation", "val"), ("training", "train")):
        listed = generator.flow_from_directory(str(folder), target_size=(8, 8), subset=subset).filenames
        assert drawn[part] == listed
    assert any(f.startswith(".hidden") for f in drawn["train"]) and any(f.endswith(".tif") for f in drawn["train"])


@pytest.mark.parametrize("stratify", [True, False])
def test_sklearn_split_is_train_test_split_over_the_files_keras_lists(folder, stratify):
    import keras
    from sklearn.model_selection import train_test_split

    listed = keras.utils.image_dataset_from_directory(str(folder), shuffle=False, image_size=(8, 8), verbose=False)
    files = _relative(listed.file_paths, folder)
    classes = [f.split("/")[0] for f in files]
    train, test = train_test_split(files, test_size=0.25, random_state=42, stratify=classes if stratify else None)
    assert sklearn_split(folder, 0.25, 42, stratify) == {"train": train, "test": test}


def test_specs_are_read_with_their_folder_and_bad_ones_named():
    assert parse_split_spec("keras:0.2:123") == LibrarySplit("keras", 0.2, 123)
    assert parse_split_spec("ImageDataGenerator:0.1:data/train") == LibrarySplit("imagedatagenerator", 0.1,
                                                                                 folder="data/train")
    assert parse_split_spec("sklearn:0.3:5:stratify:x") == LibrarySplit("sklearn", 0.3, 5, True, "x")
    for bad, said in (("torch:0.2:1", "unknown library"), ("keras:0.2", "too few"), ("keras:1.5:3", "between 0 and 1"),
                      ("keras:0.2:abc", "a whole number"), ("sklearn:x:1", "a number")):
        with pytest.raises(SettingsError, match=said) as err:
            parse_split_spec(bad)
        assert "\n" not in str(err.value)


def test_drawn_split_is_relative_to_the_data_and_over_the_largest_folder(folder):
    import pandas as pd

    root = folder.parent.parent
    subsets = pd.Series(["data/train"] * 3 + ["data/val"])
    table, described = draw_split(root, parse_split_spec("keras:0.2:123"), subsets)
    assert "image_dataset_from_directory('data/train'" in described
    assert set(table["split"]) == {"train", "val"} and table["path"].str.startswith("data/train/").all()
    with pytest.raises(SettingsError, match="'data/test' is not a folder"):
        draw_split(root, parse_split_spec("keras:0.2:1:data/test"), subsets)
