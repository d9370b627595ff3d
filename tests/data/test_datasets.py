"""Finding and reading datasets: class folders at any depth, Hugging Face parquet files, the Kaggle download,
and every bad file or layout named in one line."""

import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alzmri.data import datasets as data
from alzmri.data import pipeline
from alzmri.config import CLASS_NAMES, Config
from alzmri.data.datasets import DataWarning
from alzmri.errors import DatasetError, DatasetUnavailableError


def _write(path, mode="L", size=(40, 48), fmt=None, value=120):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full(size[::-1], value, np.uint8)
    Image.fromarray(arr, "L").convert(mode).save(path, fmt)
    return path


def _folder_dataset(root, subsets=("train", "test"), per_class=3, names=CLASS_NAMES):
    for subset in subsets:
        for name in names:
            for i in range(per_class):
                _write(root / subset / name / f"{i}.jpg", value=40 + 30 * i)
    return root


@pytest.mark.parametrize("spelling,expected", [
    ("Mild_Demented", "MildDemented"), ("very mild demented", "VeryMildDemented"),
    ("NON-DEMENTED", "NonDemented"), ("ModerateDemented", "ModerateDemented"), ("Demented", None)])
def test_canonical_class_names(spelling, expected):
    assert data.canonical_class(spelling) == expected


def test_class_folders_found_at_any_depth_with_subsets(tmp_path):
    _folder_dataset(tmp_path / "deep" / "Alzheimer_s Dataset")
    index = data.index_dataset(tmp_path, cache_dir=tmp_path / "cache", progress=False)
    assert set(index.frame["subset"]) == {"deep/Alzheimer_s Dataset/train", "deep/Alzheimer_s Dataset/test"}
    assert (index.frame["kind"] == "original").all()
    assert index.class_counts().to_numpy().tolist() == [[3, 3, 3, 3], [3, 3, 3, 3]]
    assert index.frame["label"].tolist() == [CLASS_NAMES.index(c) for c in index.frame["class_name"]]


def test_subset_kinds_of_the_kaggle_layouts(tmp_path):
    v2 = data.index_dataset(_folder_dataset(tmp_path / "v2", ("data/train", "data/val")), tmp_path / "c",
                            progress=False)
    assert dict(zip(v2.frame["subset"], v2.frame["kind"])) == {"data/train": "augmented", "data/val": "original"}
    v1 = data.index_dataset(_folder_dataset(tmp_path / "v1", ("AugmentedAlzheimerDataset", "OriginalDataset")),
                            tmp_path / "c", progress=False)
    assert dict(zip(v1.frame["subset"], v1.frame["kind"])) == {"AugmentedAlzheimerDataset": "augmented",
                                                               "OriginalDataset": "original"}


def test_unknown_class_folder_is_an_error_listing_it(tmp_path):
    _folder_dataset(tmp_path)
    _write(tmp_path / "train" / "SevereDemented" / "x.jpg")
    with pytest.raises(DatasetError, match=r"Unknown class folder\(s\) \['SevereDemented'\].*expected only"):
        data.index_dataset(tmp_path, progress=False)


def test_missing_class_is_an_error_listing_what_was_found(tmp_path):
    _folder_dataset(tmp_path, names=CLASS_NAMES[:3])
    with pytest.raises(DatasetError, match=r"\['VeryMildDemented'\] missing.*found \['MildDemented'"):
        data.index_dataset(tmp_path, progress=False)


def test_no_class_folders_and_missing_root(tmp_path):
    _write(tmp_path / "images" / "a.jpg")
    with pytest.raises(DatasetError, match=r"No class folders found.*images/"):
        data.index_dataset(tmp_path, progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        data.index_dataset(tmp_path / "nope", progress=False)


def test_empty_class_folder_is_named(tmp_path):
    _folder_dataset(tmp_path)
    for f in (tmp_path / "test" / "MildDemented").iterdir():
        f.unlink()
    (tmp_path / "test" / "MildDemented" / "broken.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"no readable images.*test/MildDemented"):
        data.index_dataset(tmp_path, cache_dir=tmp_path / "c", progress=False)


def test_bad_files_are_skipped_with_a_count_and_a_reason(tmp_path):
    root = _folder_dataset(tmp_path / "d")
    folder = root / "train" / "NonDemented"
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    good = (folder / "0.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.warns(DataWarning, match=r"Skipped 4 unreadable file"):
        index = data.index_dataset(root, cache_dir=tmp_path / "c", progress=False)
    reasons = dict(zip(index.skipped["path"].map(lambda p: p.rsplit("/", 1)[-1]), index.skipped["reason"]))
    assert reasons["empty.jpg"].startswith("empty file")
    assert reasons["notes.txt"] == "not an image"
    assert reasons["truncated.jpg"].startswith("truncated or corrupt")
    assert len(index.frame) == 24  # every good image kept


def test_odd_modes_are_converted_and_decode_in_tf(tmp_path):
    root = _folder_dataset(tmp_path / "d", per_class=1)
    folder = root / "train" / "MildDemented"
    _write(folder / "rgba.png", "RGBA")
    _write(folder / "palette.png", "P")
    _write(folder / "deep.tif", "L", fmt="TIFF")
    Image.fromarray(np.full((30, 30), 40000, np.uint16)).save(folder / "sixteen.png")
    with pytest.warns(DataWarning, match=r"Converted 4 image"):
        index = data.index_dataset(root, cache_dir=tmp_path / "c", progress=False)
    assert sorted(index.converted["mode"]) == ["I;16", "L", "P", "RGBA"]
    converted = index.frame[index.frame["path"].isin(index.converted["used"])]
    assert len(converted) == 4
    batch, labels = next(iter(pipeline.make_tf_dataset(converted, 32, 4)))
    assert batch.shape == (4, 32, 32, 3) and labels.numpy().tolist() == [0, 0, 0, 0]
    assert float(batch.numpy().max()) > 100  # 16-bit scaled into 0-255, not clipped to black


def _write_parquet(path, labels, payload=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import io
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 20), 99, np.uint8)).save(buf, "PNG")
    images = [{"bytes": payload if payload is not None else buf.getvalue(), "path": None} for _ in labels]
    pq.write_table(pa.table({"image": images, "label": labels}), path)
    return path


def test_hugging_face_parquet_becomes_class_folders(tmp_path):
    files = [_write_parquet(tmp_path / "train-00000-of-00001.parquet", [0, 1, 2, 3, 2]),
             _write_parquet(tmp_path / "test-00000-of-00001.parquet", [3, 2, 1, 0])]
    root = data.resolve_data(str(tmp_path), cache_dir=tmp_path / "cache")
    index = data.index_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    assert index.class_counts().loc["train"].tolist() == [1, 1, 2, 1]
    assert set(index.frame["subset"]) == {"train", "test"}
    assert files[0].exists()


def test_parquet_errors_name_the_file_and_row(tmp_path):
    with pytest.raises(DatasetError, match=r"bad.parquet row 1: label 7"):
        data.parquet_to_folders([_write_parquet(tmp_path / "bad.parquet", [0, 7])], tmp_path / "out")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"img": [1]}), tmp_path / "cols.parquet")
    with pytest.raises(DatasetError, match=r"columns \['img'\]; expected 'image' and 'label'"):
        data.parquet_to_folders([tmp_path / "cols.parquet"], tmp_path / "out")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="junk.parquet is not a readable parquet"):
        data.parquet_to_folders([tmp_path / "junk.parquet"], tmp_path / "out")


def test_kaggle_download_failure_is_clear(monkeypatch):
    import kagglehub

    def offline(handle):
        raise ConnectionError("Failed to resolve 'www.kaggle.com'")

    monkeypatch.setattr(kagglehub, "dataset_download", offline)
    with pytest.raises(DatasetUnavailableError) as err:
        data.download_kaggle()
    message = str(err.value)
    assert "uraninjo/augmented-alzheimer-mri-dataset-v2" in message
    assert "internet" in message and "credentials" in message and "--data" in message


def test_kaggle_download_does_not_hang(monkeypatch):
    import kagglehub

    monkeypatch.setattr(kagglehub, "dataset_download", lambda handle: time.sleep(30))
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError, match="no answer within 1 s; the download may go on in the "
                                                      "background until Python exits"):
        data.download_kaggle(timeout=1)
    assert time.monotonic() - start < 5


def test_unknown_data_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist; use 'demo', 'kaggle', 'hf'"):
        data.resolve_data(str(tmp_path / "missing"))


def _convert_many(source: str, cache: str, times: int) -> None:
    from alzmri.data.datasets import check_image

    for _ in range(times):
        check_image(Path(source), Path(cache))


def test_a_converted_image_is_never_seen_half_written(tmp_path):
    import multiprocessing

    from alzmri.data.datasets import check_image

    source = tmp_path / "rgba.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 4), dtype=np.uint8), "RGBA").save(source)
    status, info = check_image(source, tmp_path / "cache")
    assert status == "converted"
    writer = multiprocessing.get_context("fork").Process(target=_convert_many,
                                                         args=(str(source), str(tmp_path / "cache"), 60))
    writer.start()
    reads = 0
    while writer.is_alive():
        with Image.open(info["used"]) as im:
            im.load()  # a torn file fails to decode
        reads += 1
    writer.join()
    assert writer.exitcode == 0 and reads > 0
    assert [p.name for p in Path(info["used"]).parent.iterdir()] == [Path(info["used"]).name]


def _parquet_labels(root):
    """The labels of an extracted parquet set, in row order."""
    index = data.index_dataset(root, cache_dir=root.parent, progress=False)
    rows = index.frame.assign(row=index.frame["relpath"].str.rsplit("/", n=1).str[-1])
    return rows.sort_values("row")["label"].tolist()


def test_a_parquet_re_exported_with_other_labels_and_the_same_size_is_extracted_again(tmp_path):
    import os

    (tmp_path / "in").mkdir()
    source = _write_parquet(tmp_path / "in" / "train.parquet", [0, 1, 2, 3])
    first = data.resolve_data(str(source), cache_dir=tmp_path / "cache")
    assert data.resolve_data(str(source), cache_dir=tmp_path / "cache") == first  # same content: reused
    size, stamp = source.stat().st_size, source.stat().st_mtime_ns
    _write_parquet(source, [0, 1, 3, 2])
    os.utime(source, ns=(stamp, stamp))  # same size and time: only the content tells them apart
    assert source.stat().st_size == size
    second = data.resolve_data(str(source), cache_dir=tmp_path / "cache")
    assert second != first
    assert _parquet_labels(first) == [0, 1, 2, 3] and _parquet_labels(second) == [0, 1, 3, 2]


def _resolve_parquet(source: str, cache: str) -> None:
    data.resolve_data(source, cache_dir=cache)


def test_parquet_extraction_is_whole_when_processes_race(tmp_path):
    import multiprocessing

    source = _write_parquet(tmp_path / "train.parquet", [0, 1, 2, 3] * 50)
    context = multiprocessing.get_context("fork")
    racers = [context.Process(target=_resolve_parquet, args=(str(source), str(tmp_path / "cache"))) for _ in range(3)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert [racer.exitcode for racer in racers] == [0, 0, 0]
    extracted = [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]
    assert len(extracted) == 1 and not extracted[0].name.startswith(".")  # one folder, no half-made leftovers
    assert sum(1 for _ in extracted[0].rglob("*.img")) == 200


def test_an_empty_parquet_is_named(tmp_path):
    _write_parquet(tmp_path / "train.parquet", [])
    with pytest.raises(DatasetError, match=r"train.parquet has no rows: an empty parquet file holds no images"):
        data.resolve_data(str(tmp_path), cache_dir=tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("labels", [[0.0, 1.0, 2.0, 3.0], ["0", "1", " 2", "3"],
                                    ["Mild_Demented", "Moderate_Demented", "Non_Demented", "Very_Mild_Demented"]])
def test_parquet_labels_as_whole_floats_text_or_class_names(tmp_path, labels):
    root = data.resolve_data(str(_write_parquet(tmp_path / "train.parquet", labels)), cache_dir=tmp_path / "c")
    assert _parquet_labels(root) == [0, 1, 2, 3]


@pytest.mark.parametrize("label", [2.5, "4", "severe", float("nan")])
def test_parquet_labels_that_are_no_class_are_named(tmp_path, label):
    with pytest.raises(DatasetError, match=r"bad.parquet row 0: label .* is not one of 0-3 \(a whole number, also "
                                           r"as text\) or a class name \(MildDemented"):
        data.parquet_to_folders([_write_parquet(tmp_path / "bad.parquet", [label, label])], tmp_path / "out")


def test_the_hugging_face_repository_layout_is_read(tmp_path):
    repo = tmp_path / "Alzheimer_MRI"  # as snapshot_download or a git clone gives it
    (repo / "data").mkdir(parents=True)
    (repo / "README.md").write_text("---\ndataset_info: ...\n---\n")
    (repo / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    _write_parquet(repo / "data" / "train-00000-of-00001-c08a401c53fe5312.parquet", [0, 1, 2, 3, 2])
    _write_parquet(repo / "data" / "test-00000-of-00001-44110b9df98c5585.parquet", [3, 2, 1, 0])
    index = data.index_dataset(data.resolve_data(str(repo), cache_dir=tmp_path / "c"), tmp_path / "c", progress=False)
    assert index.class_counts().loc["train"].tolist() == [1, 1, 2, 1]
    assert set(index.frame["subset"]) == {"train", "test"}


def test_a_git_lfs_pointer_instead_of_a_parquet_says_so(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-0.parquet").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\n")
    with pytest.raises(DatasetError, match=r"train-0.parquet is a Git LFS pointer, not the data: run `git lfs pull`"):
        data.resolve_data(str(tmp_path), cache_dir=tmp_path / "c")


@pytest.mark.parametrize("spec", ["https://example.com/slices/mild.jpg", "-"])
def test_urls_and_standard_input_are_named_as_such(tmp_path, spec):
    message = f"{spec}: URLs and standard input are not read; download the file first"
    with pytest.raises(DatasetError, match="^" + re.escape(f"Data path {message}")):
        data.resolve_data(spec, cache_dir=tmp_path)
    with pytest.raises(DatasetError, match="^" + re.escape(message)):
        pipeline.collect_image_files([spec])
    assert Config(data=spec).with_absolute_data().data == spec  # not made into a path such as ./https:/...


def test_a_symbolic_link_loop_is_called_one(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(DatasetError, match=r"a cannot be reached: symbolic link loop$"):
        pipeline.collect_image_files([str(tmp_path / "a")])
    with pytest.raises(DatasetError, match=r"Data path .*b/x.jpg cannot be reached: symbolic link loop$"):
        data.resolve_data(str(tmp_path / "b" / "x.jpg"), cache_dir=tmp_path / "c")
    config = Config(data=str(tmp_path / "a")).with_absolute_data()  # what train does first: no RuntimeError
    with pytest.raises(DatasetError, match=r"cannot be reached: symbolic link loop$"):
        data.resolve_data(config.data, cache_dir=tmp_path / "c")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"gone is a broken symbolic link \(to .*nowhere\)"):
        pipeline.collect_image_files([str(tmp_path / "gone")])


@pytest.mark.parametrize("name", ["MildDemented", "Mild_Demented.zip"])
def test_a_class_that_is_a_file_is_named(tmp_path, name):
    root = _folder_dataset(tmp_path / "d", subsets=("data/train", "data/val"), per_class=1)
    for image in (root / "data" / "val" / "MildDemented").iterdir():
        image.unlink()
    (root / "data" / "val" / "MildDemented").rmdir()
    (root / "data" / "val" / name).write_bytes(b"PK\x03\x04")  # the class present in data/train, a file in data/val
    with pytest.raises(DatasetError, match=re.escape(f"{root / 'data' / 'val' / name} is a file, not a folder of "
                                                     "class MildDemented's images (extract it first")):
        data.index_dataset(root, cache_dir=tmp_path / "c", progress=False)
