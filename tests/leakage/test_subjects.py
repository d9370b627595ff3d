import numpy as np
import pandas as pd
import pytest

from alzmri.leakage import subjects

from alzmri.data import synthetic
from alzmri.config import get_config
from alzmri.data.datasets import index_dataset
from alzmri.leakage.prepared import annotate


@pytest.fixture(scope="module")
def source_root(tmp_path_factory):
    """The source set's own layout and naming, small."""
    return synthetic.generate_dataset(tmp_path_factory.mktemp("src") / "s", n_per_class=40, size=64, seed=4,
                                      layout="source", slices=8, balance="equal", progress=False)


def _annotate(root, tmp_path, method="auto"):
    index = index_dataset(root, cache_dir=tmp_path, progress=False)
    return annotate(index, get_config("smoke", subjects=method), tmp_path, progress=False)


def _truth(root, frame):
    manifest = synthetic.read_manifest(root).set_index("path")
    return frame["relpath"].map(manifest["subject"]).to_numpy()


def test_neighbouring_synthetic_slices_look_alike_and_different_subjects_do_not(source_root, tmp_path):
    frame, features, recovery = _annotate(source_root, tmp_path)
    e = recovery.evidence
    assert e.clear and e.different < e.threshold < e.neighbour
    rows = {(s, p): i for i, (s, p) in enumerate(zip(frame["subject"], frame["slice_pos"]))}
    near = [features.slice[i] @ features.slice[rows[(s, p + 1)]] for (s, p), i in rows.items() if (s, p + 1) in rows]
    far = [features.slice[i] @ features.slice[rows[(s, p + 5)]] for (s, p), i in rows.items() if (s, p + 5) in rows]
    assert np.median(near) > np.median(far) + 0.02  # a stack changes with the level


def test_subjects_from_the_manifest_are_the_truth(source_root, tmp_path):
    frame, _, recovery = _annotate(source_root, tmp_path)
    assert recovery.method == "manifest" and recovery.is_truth
    assert (frame["subject"].to_numpy() == _truth(source_root, frame)).all()


def test_subjects_from_the_source_names_match_the_truth(source_root, tmp_path):
    frame, _, recovery = _annotate(source_root, tmp_path, "names")
    assert recovery.method == "names"
    assert (frame["subject"].to_numpy() == _truth(source_root, frame)).all()
    manifest = synthetic.read_manifest(source_root).set_index("path")
    assert (frame["slice_pos"].to_numpy() == frame["relpath"].map(manifest["slice_pos"]).to_numpy()).all()


def test_subjects_from_similarity_without_names(source_root, tmp_path):
    """Renamed, pooled into one folder per class: only the pixels are left."""
    pooled = tmp_path / "pooled"
    for i, path in enumerate(sorted(source_root.glob("t*/*/*.jpg"))):
        target = pooled / path.parent.name / f"img_{i:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    index = index_dataset(pooled, cache_dir=tmp_path, progress=False)
    frame, _, recovery = annotate(index, get_config("smoke"), tmp_path, progress=False)
    assert recovery.method == "similarity" and not recovery.is_truth
    truth = {f"img_{i:05d}.jpg": s for i, s in enumerate(_truth(source_root, pd.DataFrame(
        {"relpath": [p.relative_to(source_root).as_posix() for p in sorted(source_root.glob("t*/*/*.jpg"))]})))}
    ari = subjects.adjusted_rand(frame["relpath"].map(lambda r: truth[r.split("/")[-1]]).to_numpy(),
                                 frame["subject"].to_numpy())
    assert ari >= 0.95
    assert (frame.groupby("subject")["class_name"].nunique() == 1).all()  # never merges classes


def test_names_that_lie_are_caught_by_the_pixels(source_root, tmp_path):
    """Same names, shuffled contents within each class: the pattern matches, the pixels disagree."""
    liar = tmp_path / "liar"
    rng = np.random.default_rng(0)
    for folder in sorted(source_root.glob("t*/*")):
        files = sorted(folder.glob("*.jpg"))
        for path, source in zip(files, rng.permutation(files)):
            target = liar / path.relative_to(source_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    index = index_dataset(liar, cache_dir=tmp_path, progress=False)
    frame, _, recovery = annotate(index, get_config("smoke"), tmp_path, progress=False)
    assert recovery.method == "similarity" and any("names ignored" in n for n in recovery.notes)
    with pytest.raises(ValueError, match="no synthetic manifest"):
        annotate(index, get_config("smoke", subjects="manifest"), tmp_path, progress=False)


def test_copies_take_their_originals_subject(medium_data):
    frame = medium_data.frame
    copies = frame[(frame["kind"] == "augmented") & (frame["original"] != "")]
    subject_of = frame.set_index("relpath")["subject"]
    assert len(copies) and (copies["subject"].to_numpy() == subject_of.loc[copies["original"]].to_numpy()).all()


def test_source_test_numbers_sort_like_the_file_names():
    order = synthetic.source_test_numbers(12)
    names = [f"27 ({k}).jpg" if k > 1 else "27.jpg" for k in order]
    assert names == sorted(names) and order[0] == 10 and order[-1] == 1


def _pooled(source_root, out):
    """The source set renamed into one folder per class: only the pixels tell the subjects apart."""
    for i, path in enumerate(sorted(source_root.glob("t*/*/*.jpg"))):
        target = out / path.parent.name / f"img_{i:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return out


def test_junk_images_are_named_and_do_not_set_the_similarity_levels(source_root, tmp_path):
    """1 x 1 px dots, 5000 x 20 and 20 x 5000 noise strips and a noise square among real-like slices."""
    from PIL import Image

    clean = _pooled(source_root, tmp_path / "clean")
    _, _, truth = annotate(index_dataset(clean, cache_dir=tmp_path, progress=False), get_config("smoke"), tmp_path,
                           progress=False)
    junky = _pooled(source_root, tmp_path / "junky")
    rng = np.random.default_rng(0)
    junk = {"MildDemented/dot.png": Image.new("L", (1, 1), 90), "NonDemented/dot.png": Image.new("L", (1, 1), 200),
            "NonDemented/wide.png": Image.fromarray(rng.integers(0, 255, (20, 5000), dtype=np.uint8)),
            "VeryMildDemented/tall.png": Image.fromarray(rng.integers(0, 255, (5000, 20), dtype=np.uint8)),
            "ModerateDemented/noise.png": Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8))}
    for name, image in junk.items():
        image.save(junky / name)
    index = index_dataset(junky, cache_dir=tmp_path, progress=False)
    with pytest.warns(subjects.SubjectWarning, match=r"5 image\(s\) of .* cannot be brain slices") as caught:
        frame, _, recovery = annotate(index, get_config("smoke"), tmp_path, progress=False)
    message = str(next(w.message for w in caught if "cannot be brain slices" in str(w.message)))
    for name in junk:
        assert name in message
    assert "5000 x 20 px: tiny, aspect 250:1" in message and "64 x 64 px: no structure" in message
    assert (recovery.evidence.neighbour, recovery.evidence.different) == (truth.evidence.neighbour,
                                                                          truth.evidence.different)
    is_junk = frame["relpath"].isin(list(junk))
    assert frame.loc[is_junk, "subject"].nunique() == len(junk)  # each a subject of its own
    assert not set(frame.loc[is_junk, "subject"]) & set(frame.loc[~is_junk, "subject"])
    assert subjects.adjusted_rand(truth.subject, recovery.subject[~is_junk.to_numpy()]) == 1.0  # as without junk


def test_no_measurable_level_means_no_gap_and_no_links():
    evidence = subjects.neighbour_evidence(np.zeros((0, 4), np.float32), np.zeros(0, int))
    assert not evidence.clear and np.isnan(evidence.threshold)


def test_real_like_slices_are_not_degenerate(medium_data):
    frame, features = medium_data.frame, medium_data.features
    assert (subjects.degenerate_images(frame, features.slice) == "").all()
    assert subjects.self_similarity(features.slice).min() > 2 * subjects.MIN_STRUCTURE
