"""The run folder has one owner (alzmri.models.runs): file names, metadata, metrics, siblings, its split read back,
old runs refused."""

import json
import warnings
from pathlib import Path

import pytest

from alzmri.config import get_config
from alzmri.data.datasets import DataWarning
from alzmri.errors import RunError
from alzmri.leakage.saved_splits import save_splits, split_record
from alzmri.models import runs
from alzmri.models.runs import load_run_splits

PACKAGE = Path(runs.__file__).resolve().parents[1]


def test_the_metadata_file_is_named_in_one_module():
    naming = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "metadata.json" in p.read_text())
    assert naming == ["models/runs.py"]


def _fake_run(folder: Path, config: dict, fingerprint: str = "abc") -> Path:
    folder.mkdir(parents=True)
    runs.write_metadata(folder, {"config": config, "data_fingerprint": fingerprint, "classes": [], "image_size": 8})
    return folder


def test_the_shuffled_sibling_is_found_from_metadata_whatever_its_name(tmp_path):
    config = get_config("smoke").to_dict()
    run = _fake_run(tmp_path / "mine", config)
    _fake_run(tmp_path / "other-data", {**config, "shuffle_labels": True}, fingerprint="zzz")
    _fake_run(tmp_path / "other-seed", {**config, "shuffle_labels": True, "seed": 7})
    control = _fake_run(tmp_path / "any-name-at-all", {**config, "shuffle_labels": True})
    assert runs.shuffled_sibling(run) == control
    assert runs.shuffled_sibling(control) is None  # a shuffled run has no shuffled control of its own


def test_a_run_saved_by_another_version_is_refused_with_what_to_do(tmp_path):
    config = get_config("smoke").to_dict()
    config.pop("seed")
    run = _fake_run(tmp_path / "old", config)
    with pytest.raises(RunError, match=r"another version of alzmri \(missing \['seed'\].*--replace"):
        runs.saved_config(run)


def test_metrics_are_merged_by_key_and_a_broken_file_is_kept(tmp_path):
    runs.write_metrics(tmp_path, "test", {"a": 1})
    runs.write_metrics(tmp_path, "val", {"b": 2})
    assert runs.read_metrics(tmp_path) == {"test": {"a": 1}, "val": {"b": 2}}
    (tmp_path / runs.METRICS_FILE).write_text("[1, 2")
    with pytest.warns(UserWarning, match="unreadable"):
        runs.write_metrics(tmp_path, "test", {"a": 3})
    assert runs.read_metrics(tmp_path) == {"test": {"a": 3}}
    assert (tmp_path / f"{runs.METRICS_FILE}.unreadable").read_text() == "[1, 2"


def test_run_folders_leave_out_unfinished_hidden_and_non_runs(tmp_path):
    config = get_config("smoke").to_dict()
    _fake_run(tmp_path / "b", config)
    _fake_run(tmp_path / ".a.partial", config)
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / runs.MODEL_FILE).write_text("")
    assert [p.name for p in runs.run_folders(tmp_path)] == ["b", "c"]
    assert json.loads((tmp_path / "b" / runs.METADATA_FILE).read_text())["data_fingerprint"] == "abc"


def test_a_shuffled_run_reads_back_the_labels_it_was_trained_on(small_root, tmp_path):
    from alzmri.leakage.prepared import prepare_data

    config = get_config("smoke", data=str(small_root), shuffle_labels=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        data = prepare_data(config, progress=False)
        save_splits(data.frame, tmp_path / "splits.csv")
        (tmp_path / "metadata.json").write_text(json.dumps(split_record(data)))  # what training records of it
        again = load_run_splits(tmp_path, config, progress=False)
    merged = data.frame.merge(again.frame, on="relpath", suffixes=("", "_loaded"))
    assert (merged["label"] == merged["label_loaded"]).all()
    assert (merged["split"] == merged["split_loaded"]).all()
    truth = data.index.frame.set_index("relpath")["label"]
    assert (merged["label_loaded"].to_numpy() != truth.loc[merged["relpath"]].to_numpy()).any()
