"""Run safety under bad settings and hostile names: nothing outside its folder, nothing lost, one clear line."""

import json
import shutil
import warnings
from pathlib import Path

import pytest

from alzmri.cli import main
from alzmri.config import get_config


def _refuse_data_reads(monkeypatch) -> None:
    """Make any attempt to find the data fail the test: what is checked here must be refused before that. Every
    module that imports ``resolve_data`` is imported first, so that none binds the stand-in for good."""
    import alzmri.data.datasets
    import alzmri.leakage.audit
    import alzmri.leakage.prepared
    import alzmri.leakage.saved_splits

    for module in (alzmri.data.datasets, alzmri.leakage.audit, alzmri.leakage.prepared, alzmri.leakage.saved_splits):
        monkeypatch.setattr(module, "resolve_data", lambda *a, **k: pytest.fail("data was read"))


def _runs() -> Path:
    """The runs folder of the test session (``ALZMRI_RUNS``, set by the root conftest)."""
    return Path(get_config("smoke").runs_dir)


@pytest.mark.parametrize("name", ["../victim", "/tmp/victim", "a/b", ".hidden", "..", "name with space"])
def test_run_names_stay_inside_the_runs_folder(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _refuse_data_reads(monkeypatch)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    before = set(_runs().glob("*")) if _runs().exists() else set()
    assert main(["train", "--profile", "smoke", "--run-name", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alzmri train: error: --run-name must be a plain folder name") and "Traceback" not in err
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (set(_runs().glob("*")) if _runs().exists() else set()) == before  # refused before any work


@pytest.mark.parametrize("argv, setting", [
    (["train", "--image-size", "0"], "--image-size must be a whole number from 32 to 1,024"),
    (["train", "--image-size", "-64"], "--image-size"),
    (["train", "--image-size", "100000"], "--image-size must be a whole number from 32 to 1,024, got 100000"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--seed", "-1"], "--seed must be a whole number from 0 to 4,294,967,295"),
    (["train", "--seed", str(2**40)], "--seed"),
    (["train", "--finetune-blocks", "-5"], "--finetune-blocks (-1: all) must be a whole number from -1"),
    (["demo", "--epochs", "0", "--head-epochs", "0"], "nothing would be trained"),
    (["audit", "demo", "--duplicate-threshold", "1.5"], "--duplicate-threshold"),
])
def test_bad_settings_are_refused_before_any_data_is_read(argv, setting, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _refuse_data_reads(monkeypatch)
    name = ["--run-name", f"bad-{tmp_path.name}"] if argv[0] != "audit" else []
    assert main(argv + ["--profile", "smoke"] + name) == 2
    err = capsys.readouterr().err
    assert setting in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(_runs().glob(f"*bad-{tmp_path.name}*"))  # no .partial left by a bad start


def test_a_failed_start_leaves_no_partial_folder_to_block_the_next(small_root, tmp_path):
    from alzmri.leakage.prepared import prepare_data
    from alzmri.models.training import train

    config = get_config("smoke", data=str(small_root), runs_dir=str(tmp_path), backbone="ResNet9000")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(config, progress=False)
    with pytest.raises(ValueError, match="ResNet9000"):
        train(config, run_name="r", data=data, progress=False)
    assert list(tmp_path.iterdir()) == []  # no .r.partial (nor lock) left to block the next start of "r"


def test_gradcam_outputs_of_same_named_inputs_do_not_collide(smoke_run, tmp_path, capsys):
    from alzmri.data.datasets import index_dataset
    from alzmri.models.runs import load_run

    first, second = index_dataset(load_run(smoke_run).metadata["data"], progress=False).frame["path"].head(2)
    for folder, source in (("a", first), ("b", second)):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "slice.jpg")
    assert main(["gradcam", str(smoke_run), str(tmp_path / "a" / "slice.jpg"), str(tmp_path / "b" / "slice.jpg"),
                 "--out", str(tmp_path / "cams")]) == 0
    written = sorted(p.name for p in (tmp_path / "cams").iterdir())
    assert written == ["a_slice_jpg_gradcam.png", "b_slice_jpg_gradcam.png"]


@pytest.mark.slow
def test_a_second_process_on_a_locked_run_stops_at_once(tmp_path, private_cache):
    import os
    import subprocess
    import sys

    from alzmri.models.runs import run_lock

    runs = tmp_path / "saved_models"
    env = {**os.environ, "ALZMRI_CACHE": str(private_cache), "ALZMRI_RUNS": str(runs), "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with run_lock(runs / "r"):  # as if another process were training run "r"
        rival = subprocess.run([sys.executable, "-m", "alzmri", "train", "--profile", "smoke", "--run-name", "r"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rival.returncode == 2 and "Another process is training" in rival.stderr, rival.stderr[-2000:]
    assert "Traceback" not in rival.stderr
    assert not runs.exists() or not list(runs.iterdir())  # nothing of the run touched or started


def test_torn_checkpoints_are_found_and_dropped(tmp_path):
    import keras

    from alzmri.models.training import drop_torn_checkpoints, readable_h5, save_weights_atomically

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    save_weights_atomically(model, tmp_path / "stage1.weights.h5")
    save_weights_atomically(model, tmp_path / "best_stage2.weights.h5")
    assert readable_h5(tmp_path / "stage1.weights.h5") and not list(tmp_path.glob(".saving-*"))
    good = tmp_path / "best_stage2.weights.h5"
    torn = tmp_path / "stage1.weights.h5"
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    backup = tmp_path / "backup_stage2"
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epoch": 3')  # cut mid-write
    messages = drop_torn_checkpoints(tmp_path)
    assert len(messages) == 2 and "stage 1 is trained again" in messages[0] and "backup_stage2" in messages[1]
    assert good.exists() and not torn.exists() and not backup.exists()
    assert drop_torn_checkpoints(tmp_path) == []


def test_a_finished_run_is_not_replaced_without_asking(tmp_path, monkeypatch, capsys):
    _refuse_data_reads(monkeypatch)
    finished = _runs() / f"done-{tmp_path.name}"
    finished.mkdir(parents=True)
    (finished / "metadata.json").write_text('{"config": {}}')
    assert main(["train", "--profile", "smoke", "--run-name", finished.name]) == 2
    err = capsys.readouterr().err
    assert "is a finished run; nothing was changed" in err and "--replace" in err
    assert sorted(p.name for p in finished.iterdir()) == ["metadata.json"]


def test_output_folders_are_checked_before_the_work(smoke_run, tmp_path, monkeypatch, capsys):
    import alzmri.explain.gradcam

    monkeypatch.setattr(alzmri.explain.gradcam, "gradcam", lambda *a, **k: pytest.fail("work started"))
    a_file = tmp_path / "taken.png"
    a_file.write_bytes(b"not a folder")
    from alzmri.models.runs import load_run

    image = next(Path(load_run(smoke_run).metadata["data"]).rglob("*.jpg"))
    assert main(["gradcam", str(smoke_run), str(image), "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert "taken.png (--out) is a file, not a folder" in err and a_file.read_bytes() == b"not a folder"
    assert main(["evaluate", str(smoke_run), "--figures", str(a_file / "sub")]) == 2
    assert "(--figures) is not writable" in capsys.readouterr().err


def test_a_cache_or_runs_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch, capsys):
    from alzmri.files import ensure_writable
    from alzmri.errors import NotWritableError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotWritableError, match=r"file/cache \(the cache folder\) is not writable"):
        ensure_writable(blocker / "cache", "the cache folder")
    monkeypatch.setenv("ALZMRI_CACHE", str(blocker / "cache"))
    assert main(["audit", "demo", "--profile", "smoke"]) == 2
    assert "set $ALZMRI_CACHE to move it" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root writes to read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    from alzmri.files import ensure_writable
    from alzmri.errors import NotWritableError

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(NotWritableError, match="is not writable"):
            ensure_writable(folder, "a test folder")
    finally:
        folder.chmod(0o700)


def test_a_full_disk_is_one_clear_line(tmp_path, monkeypatch, capsys):
    import errno

    import alzmri.models.training

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "stage1.weights.h5")

    monkeypatch.setattr(alzmri.models.training, "_train_locked", full)
    assert main(["train", "--profile", "smoke", "--run-name", f"full-{tmp_path.name}"]) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "run the same command again" in err and "Traceback" not in err


def test_prediction_inputs_that_are_not_images(smoke_run, tmp_path, capsys):
    import json

    from PIL import Image

    from alzmri.models.runs import load_run

    good = next(Path(load_run(smoke_run).metadata["data"]).rglob("*.jpg"))
    (tmp_path / "in" / "x.jpg").mkdir(parents=True)  # a folder with an image's name is not an image
    shutil.copy(good, tmp_path / "in" / "slice.jpg")
    bomb = tmp_path / "bomb.png"
    Image.new("L", (128, 128)).save(bomb)
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 5000  # the 64 px slices pass; 128 x 128 is over twice that: a decompression bomb
    try:
        assert main(["predict", str(smoke_run), str(tmp_path / "in"), str(bomb), "--json"]) == 1
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    out = json.loads(capsys.readouterr().out)
    assert [Path(p["file"]).name for p in out["predictions"]] == ["slice.jpg"]
    assert len(out["unreadable"]) == 1 and "too large to decode safely" in out["unreadable"][0]["error"]
    assert main(["predict", str(smoke_run), str(tmp_path / "in" / "x.jpg")]) == 2  # named directly: a folder
    assert "No images" in capsys.readouterr().err


@pytest.mark.parametrize("content, problem", [
    ("[]", "a list, not a table"), ('{"classes": [], "config": {}}', "missing image_size"), ('{"classes": [', "unreadable"),
    ("", "unreadable")])
def test_a_broken_metadata_file_is_named(content, problem, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")  # metadata is checked before the model is loaded
    (run / "metadata.json").write_text(content)
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "metadata.json" in err and problem in err and "Traceback" not in err


def test_a_broken_metrics_file_is_kept_aside_not_lost(tmp_path):
    from alzmri.models.runs import write_metrics

    (tmp_path / "metrics.json").write_text('{"test": {"accuracy": 0.9')  # truncated
    with pytest.warns(UserWarning, match="kept as metrics.json.unreadable"):
        write_metrics(tmp_path, "test", {"accuracy": 0.5})
    assert (tmp_path / "metrics.json.unreadable").read_text() == '{"test": {"accuracy": 0.9'
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"test": {"accuracy": 0.5}}
    write_metrics(tmp_path, "val", {"accuracy": 0.4})  # a good file is merged into
    assert set(json.loads((tmp_path / "metrics.json").read_text())) == {"test", "val"}


def test_a_run_remembers_its_data_folder_absolutely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = get_config("smoke", data="my_data").with_absolute_data()
    assert config.data == str(tmp_path / "my_data")
    assert get_config("smoke", data="demo").with_absolute_data().data == "demo"


def test_indexing_follows_linked_class_folders_and_counts_what_it_skips(tmp_path):
    from PIL import Image

    from alzmri.config import CLASS_NAMES
    from alzmri.data.datasets import index_dataset

    store, root = tmp_path / "store", tmp_path / "data"
    root.mkdir()
    for i, name in enumerate(CLASS_NAMES):
        folder = store / name
        folder.mkdir(parents=True)
        for j in range(3):
            Image.new("L", (40, 40), 30 * i + j).save(folder / f"{j}.png")
        (root / name).symlink_to(folder, target_is_directory=True)  # class folders that are links
    (store / CLASS_NAMES[0] / "_note.png").write_bytes(b"")
    (store / CLASS_NAMES[0] / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (store / CLASS_NAMES[0] / "loop").symlink_to(store / CLASS_NAMES[0], target_is_directory=True)
    with pytest.warns(UserWarning):
        index = index_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    assert len(index.frame) == 12 and sorted(index.frame["class_name"].unique()) == sorted(CLASS_NAMES)
    reasons = dict(zip(index.skipped["path"].map(lambda p: Path(p).name), index.skipped["reason"]))
    assert reasons == {"_note.png": "hidden or '_' name: not data", "gone.png": "broken symbolic link"}


def test_a_huge_image_is_read_reduced_for_features(tmp_path):
    from PIL import Image

    from alzmri.leakage.similarity import READ_LIMIT, _read_grey

    big = tmp_path / "big.jpg"
    Image.new("L", (6000, 4000), 90).save(big, quality=50)
    grey = _read_grey(str(big))
    assert max(grey.shape) <= READ_LIMIT and grey.shape[0] < grey.shape[1]  # aspect kept


def test_synth_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["synth", "--out", str(target), "--n-per-class", "4", "--size", "32"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine"


def test_a_cache_that_cannot_take_a_conversion_is_not_blamed_on_the_image(tmp_path):
    import numpy as np
    from PIL import Image

    from alzmri.data.datasets import check_image
    from alzmri.errors import NotWritableError

    rgba = tmp_path / "slice.png"
    Image.fromarray(np.full((40, 40, 4), 120, np.uint8), "RGBA").save(rgba)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache should be")
    with pytest.raises(NotWritableError, match="Cannot write a converted copy of .*slice.png"):
        check_image(rgba, blocker)
    assert check_image(rgba, tmp_path / "ok_cache")[0] == "converted"


@pytest.mark.parametrize("option, value, message", [
    ("--copies", "nan", "--copies must be a number from 0.0 to 20.0, got nan"),
    ("--copies", "inf", "--copies must be a number"),
    ("--copies", "-1", "--copies must be a number"),
    ("--seed", "-1", "--seed must be a whole number"),
    ("--slices", "1000000", "--slices must be a whole number from 1 to 64"),
    ("--size", "100000", "--size must be a whole number from 32 to 1,024"),
])
def test_synth_settings_are_checked_before_anything_is_written(option, value, message, tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "out"), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["audit", "demo", "--save-csv"], ["compare", "demo", "--json"]])
def test_an_output_file_under_a_file_is_refused_before_the_work(argv, tmp_path, monkeypatch, capsys):
    _refuse_data_reads(monkeypatch)
    a_file = tmp_path / "afile"
    a_file.write_text("keep")
    assert main(argv + [str(a_file / "x.out"), "--profile", "smoke"]) == 2
    assert "afile (the folder of --" in capsys.readouterr().err and a_file.read_text() == "keep"


def test_synth_grid_prints_the_file_it_wrote(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "set"), "--n-per-class", "4", "--size", "48", "--slices", "2",
                 "--grid", str(tmp_path / "grid")]) == 0
    assert f"grid: {tmp_path / 'grid.png'}" in capsys.readouterr().out and (tmp_path / "grid.png").exists()


def _scratch_run(smoke_run, tmp_path):
    """A copy of the shared smoke run in a runs folder of its own, never scored (no metrics, no figures)."""
    run = tmp_path / "runs" / "r"
    shutil.copytree(smoke_run, run)
    (run / "metrics.json").unlink(missing_ok=True)
    shutil.rmtree(run / "figures", ignore_errors=True)
    return run


def _hold_in_thread(run, evaluation: bool, seconds: float):
    """Hold the run's lock in another thread for ``seconds``; returns the thread and the time it lets go."""
    import threading
    import time

    from alzmri.models.runs import run_lock

    held, released = threading.Event(), []

    def hold():
        with run_lock(run, evaluation=evaluation):
            held.set()
            time.sleep(seconds)
            released.append(time.monotonic())

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30)
    return thread, released


def test_evaluate_refuses_a_run_being_trained_at_once(smoke_run, tmp_path, capsys):
    """`evaluate` during `train --replace` of the same run: one line, nothing written into either run."""
    from alzmri.models.runs import CARD_FILE
    from alzmri.models.runs import run_lock

    run = _scratch_run(smoke_run, tmp_path)
    card = (run / CARD_FILE).read_text()
    with run_lock(run):  # as if `train --replace` were training run "r"
        assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"alzmri evaluate: error: {run} is being trained right now (its model, metrics and figures "
                           "are replaced when that ends): evaluate it after the training")
    assert not (run / "metrics.json").exists() and not (run / "figures" / "confusion_matrix.png").exists()
    assert (run / CARD_FILE).read_text() == card
    assert not list(run.parent.glob(".r.*lock"))  # the lock files go with their last holder


def test_a_training_waits_for_an_evaluation_of_its_run(tmp_path):
    """`train --replace` started during an evaluation waits for it (minutes), then holds the run alone."""
    import time

    from alzmri.models.runs import run_lock

    run = tmp_path / "runs" / "r"
    thread, released = _hold_in_thread(run, evaluation=True, seconds=1.5)
    with pytest.warns(UserWarning, match="r is being evaluated: the training starts when that ends"):
        with run_lock(run):
            acquired = time.monotonic()
            with pytest.raises(ValueError, match=f"{run} is being trained right now"):  # a later evaluate is refused
                with run_lock(run, evaluation=True):
                    pass
    thread.join()
    assert acquired >= released[0]
    assert not list(run.parent.glob(".r.*lock"))


def test_a_second_training_is_refused_even_while_evaluations_wait(tmp_path):
    from alzmri.models.runs import run_lock

    run = tmp_path / "runs" / "r"
    with run_lock(run):
        with pytest.raises(ValueError, match=f"Another process is training {run} right now"):
            with run_lock(run):
                pass


def test_concurrent_evaluations_of_one_run_take_turns(smoke_run, tmp_path, monkeypatch):
    """Two evaluations of one run (other splits: other metrics keys) never overlap and neither loses its metrics;
    the figures are drawn while the run is still locked."""
    import fcntl
    import threading
    import time

    import alzmri.evaluation.evaluate
    from alzmri.evaluation.evaluate import evaluate_run

    run = _scratch_run(smoke_run, tmp_path)
    spans, loading = [], alzmri.evaluation.evaluate.load_run

    def timed_load(path):
        spans.append([time.monotonic()])
        return loading(path)

    def figures_under_lock(evaluation, examples):
        with open(run.parent / ".r.lock") as lock, pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # still shared by this evaluation: no training can start
        spans[-1].append(time.monotonic())
        return []

    monkeypatch.setattr(alzmri.evaluation.evaluate, "load_run", timed_load)
    errors = []

    def evaluate(split):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                evaluate_run(run, split=split, n_boot=10, explain_images=2, progress=False, draw=figures_under_lock)
        except Exception as err:  # noqa: BLE001 -- reported below
            errors.append(err)

    threads = [threading.Thread(target=evaluate, args=(split,)) for split in ("test", "val")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert {"test", "val"} <= set(json.loads((run / "metrics.json").read_text()))  # neither write lost
    (first_start, first_end), (second_start, _) = sorted(spans)
    assert second_start >= first_end  # the second loaded the run only after the first had drawn its figures
    assert not list(run.parent.glob(".r.*lock"))
