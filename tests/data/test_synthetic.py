import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alzmri.data import synthetic
from alzmri.config import CLASS_NAMES, SEVERITY_RANK


def _hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_files(tmp_path):
    a = synthetic.generate_dataset(tmp_path / "a", n_per_class=6, size=48, seed=5, progress=False, slices=8)
    b = synthetic.generate_dataset(tmp_path / "b", n_per_class=6, size=48, seed=5, workers=1, progress=False, slices=8)
    c = synthetic.generate_dataset(tmp_path / "c", n_per_class=6, size=48, seed=6, progress=False, slices=8)
    assert _hashes(a) == _hashes(b)
    assert _hashes(a) != _hashes(c)


def test_v2_layout_manifest_and_masks(small_root):
    manifest = synthetic.read_manifest(small_root)
    assert set(manifest["subset"]) == {"data/val", "data/train"}
    originals = manifest[manifest["kind"] == "original"]
    augmented = manifest[manifest["kind"] == "augmented"]
    assert (originals["subset"] == "data/val").all() and (augmented["subset"] == "data/train").all()
    assert set(augmented["original"]) <= set(originals["path"])  # every copy points at a real original
    assert (augmented["class_name"].to_numpy() ==
            originals.set_index("path").loc[augmented["original"], "class_name"].to_numpy()).all()
    for rel in manifest["path"].sample(10, random_state=0):
        image = np.asarray(Image.open(small_root / rel))
        mask = synthetic.load_mask(small_root, rel)
        assert image.shape == mask.shape == (64, 64) and image.dtype == np.uint8
        assert 0 < mask.mean() < 0.5
    assert "SYNTHETIC" in (small_root / "README.txt").read_text()


def test_v1_layout(tmp_path):
    root = synthetic.generate_dataset(tmp_path / "v1", n_per_class=4, size=48, layout="v1", progress=False, slices=8)
    assert {p.name for p in root.iterdir() if p.is_dir()} == {"OriginalDataset", "AugmentedAlzheimerDataset",
                                                              "_masks"}
    assert len(list((root / "OriginalDataset" / "ModerateDemented").glob("*.jpg"))) >= 2


def test_default_balance_follows_the_real_set():
    counts = synthetic.class_counts(250)
    assert counts["NonDemented"] > counts["VeryMildDemented"] > counts["MildDemented"] > counts["ModerateDemented"]
    assert counts["ModerateDemented"] >= 0.05 * sum(counts.values())
    assert set(synthetic.class_counts(7, "equal").values()) == {7}
    with pytest.raises(ValueError, match="balance"):
        synthetic.class_counts(7, "skewed")


def _dark_share(rank: int, seeds: range) -> float:
    """Share of the brain that is dark CSF, averaged over subjects of one severity rank."""
    shares = []
    for seed in seeds:
        rng = np.random.default_rng([seed, rank])
        image, _ = synthetic.render_slice(synthetic.draw_subject(rng, rank), 96, rng)
        brain = image > 20
        shares.append((image[brain] < 90).mean())
    return float(np.mean(shares))


def test_atrophy_grows_with_severity_and_neighbours_overlap():
    by_rank = [_dark_share(r, range(25)) for r in range(4)]
    assert by_rank == sorted(by_rank)
    severities = {r: [synthetic.draw_subject(np.random.default_rng([s, r]), r).severity for s in range(300)]
                  for r in range(4)}
    for r in range(3):  # neighbouring classes overlap: not separable by one number
        assert max(severities[r]) > min(severities[r + 1])
    assert {SEVERITY_RANK[c] for c in CLASS_NAMES} == set(range(4))


def test_evidence_mask_marks_the_same_places_for_every_class():
    """A healthy slice's evidence is where atrophy would show, so the mask does not give the class away."""
    areas = {}
    for rank in range(4):
        for seed in range(8):
            rng = np.random.default_rng([seed, rank])
            subject = synthetic.draw_subject(rng, rank)
            image, mask = synthetic.render_slice(subject, 96, rng)
            brain = image > 20
            assert mask[~brain].mean() < 0.05  # inside the brain
            dark = brain & (image < 60)
            assert mask[dark].mean() > 0.7  # covers the CSF spaces the slice does show
            widest = synthetic.at_full_atrophy(subject)
            assert widest.ventricle_width[0] >= subject.ventricle_width[0] and widest.severity == subject.severity
            areas.setdefault(rank, []).append(mask.mean())
    means = [np.mean(a) for a in areas.values()]
    assert max(means) < 1.3 * min(means)


def test_refuses_to_overwrite_foreign_folders(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        synthetic.generate_dataset(tmp_path / "mine", n_per_class=2, size=32, progress=False, slices=8)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="layout"):
        synthetic.generate_dataset(tmp_path / "x", n_per_class=2, size=32, layout="v3", progress=False, slices=8)


def test_existing_dataset_is_reused_not_regenerated(small_root):
    before = (small_root / "manifest.csv").stat().st_mtime_ns
    again = synthetic.generate_dataset(small_root, n_per_class=30, size=64, seed=3, balance="equal", progress=False,
                                       slices=8)
    assert again == small_root and (small_root / "manifest.csv").stat().st_mtime_ns == before


def _generate(out: str) -> None:
    synthetic.generate_dataset(out, n_per_class=12, size=48, seed=1, slices=3, progress=False)


@pytest.mark.slow
def test_concurrent_generations_of_one_set_leave_one_whole_set(tmp_path):
    import multiprocessing

    out = tmp_path / "shared"
    workers = [multiprocessing.get_context("spawn").Process(target=_generate, args=(str(out),)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert synthetic._complete(out) and not list(tmp_path.glob(".shared-*"))


def test_a_damaged_set_is_generated_again(tmp_path):
    out = synthetic.generate_dataset(tmp_path / "set", n_per_class=8, size=48, seed=2, slices=2, progress=False)
    victim = next(out.rglob("*.jpg"))
    victim.unlink()
    with pytest.warns(UserWarning, match="damaged"):
        synthetic.generate_dataset(out, n_per_class=8, size=48, seed=2, slices=2, replace_stale=True, progress=False)
    assert victim.exists() and synthetic._complete(out)


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``, read from /proc."""
    from pathlib import Path

    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers end with their parent through Linux prctl")
def test_killing_a_generation_ends_its_workers_and_the_next_start_cleans_up(tmp_path):
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "big"
    code = ("from alzmri.data import synthetic; synthetic.generate_dataset(%r, n_per_class=400, size=128, slices=8, "
            "progress=False)" % str(out))
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while len(_children(parent.pid)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = _children(parent.pid)
    assert len(workers) >= 2 and list(tmp_path.glob(".big-*"))  # writing into its hidden folder
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in workers)  # no worker outlives its parent
    synthetic.generate_dataset(out, n_per_class=8, size=48, slices=2, overwrite=True, progress=False)
    assert not list(tmp_path.glob(".big-*"))  # the dead run's half-written folder is gone
