"""A run's own ``splits.csv`` (:mod:`alzmri.leakage.saved_splits`): written, read back as trained, and refused
when it is not the file training wrote. (Through ``alzmri evaluate`` on a trained run: tests/evaluation.)"""

import warnings

import pandas as pd
import pytest

from alzmri.config import get_config
from alzmri.data.datasets import DataWarning
from alzmri.errors import SplitsFileError
from alzmri.leakage.prepared import PreparedData
from alzmri.leakage.saved_splits import SPLITS_COLUMNS, load_splits, read_splits, save_splits, split_record


@pytest.fixture
def saved(medium_data, tmp_path):
    """The medium set's subject split written as a run's ``splits.csv``, and what its metadata records."""
    return save_splits(medium_data.frame, tmp_path / "splits.csv"), split_record(medium_data)


def test_a_saved_split_loads_back_as_it_was_made(medium_data, saved):
    path, recorded = saved
    table = read_splits(path, recorded)
    assert list(table.columns) == SPLITS_COLUMNS and len(table) == len(medium_data.frame)
    config = get_config("demo", data=str(medium_data.root))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # every file listed is on disk, every file on disk listed
        loaded = load_splits(path, recorded, config, progress=False)
    assert loaded.sizes() == medium_data.sizes() == recorded["split_sizes"]
    mine, theirs = (d.frame.set_index("relpath").sort_index() for d in (loaded, medium_data))
    for column in ("split", "subject", "group", "original"):
        assert mine[column].equals(theirs[column].astype(mine[column].dtype)), column


def _train_row_marked_test(raw: bytes) -> bytes:
    lines = raw.decode().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.endswith(",train\n"))
    lines[at] = lines[at][: -len("train\n")] + "test\n"
    return "".join(lines).encode()


def _a_train_and_a_test_row_swapped(raw: bytes) -> bytes:
    lines = raw.decode().splitlines(keepends=True)
    train = next(i for i, line in enumerate(lines) if line.endswith(",train\n"))
    test = next(i for i, line in enumerate(lines) if line.endswith(",test\n"))
    lines[train], lines[test] = (lines[train][: -len("train\n")] + "test\n",
                                 lines[test][: -len("test\n")] + "train\n")
    return "".join(lines).encode()


@pytest.mark.parametrize("tamper, message", [
    (_train_row_marked_test, r"does not match what the run's metadata recorded: train \d+ images \(recorded \d+\)"),
    (_a_train_and_a_test_row_swapped, r"was changed after training \(same images per split"),
    (lambda raw: b"", r"is empty"),
    (lambda raw: bytes(range(256)) * 40, r"is not a table of splits"),
    (lambda raw: b"relpath,split\na.jpg,test\n", r"is not a table of splits \(no column class_name, kind"),
], ids=["train-row-marked-test", "rows-swapped", "empty", "binary", "other-table"])
def test_a_file_that_is_not_the_one_training_wrote_is_refused_in_one_line(saved, tamper, message):
    path, recorded = saved
    path.write_bytes(tamper(path.read_bytes()))
    with pytest.raises(SplitsFileError, match=message) as caught:
        read_splits(path, recorded)
    assert "\n" not in str(caught.value) and "--replace" in str(caught.value)


def test_a_missing_file_is_refused_not_recomputed(saved):
    path, recorded = saved
    path.unlink()
    with pytest.raises(SplitsFileError, match=r"splits.csv is gone: .* cannot be recomputed safely without it"):
        read_splits(path, recorded)


def test_listed_files_that_are_gone_are_named_and_left_out(medium_data, tmp_path):
    frame = medium_data.frame
    ghost = frame[frame["split"] == "test"].iloc[:1].assign(relpath="NonDemented/gone.jpg")
    data = PreparedData(medium_data.index, pd.concat([frame, ghost], ignore_index=True), "subject")
    path = save_splits(data.frame, tmp_path / "splits.csv")
    config = get_config("demo", data=str(medium_data.root))
    with pytest.warns(DataWarning, match=r"1 file\(s\) the run's splits.csv names are not in .* NonDemented/gone.jpg "
                                         r"\(test\)"):
        loaded = load_splits(path, split_record(data), config, progress=False)
    assert "NonDemented/gone.jpg" not in set(loaded.frame["relpath"])
    assert loaded.sizes() == medium_data.sizes()
