import json
import os
import signal
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from alzmri.config import CLASS_NAMES, get_config
from alzmri.data.datasets import index_dataset
from alzmri.models.runs import load_run
from alzmri.models.training import _check_resumable, get_or_train
from alzmri.models.runs import DATA_FILE, save_run

ROOT = Path(__file__).resolve().parents[2]


def _env(cache, runs=None) -> dict:
    env = {**os.environ, "ALZMRI_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    if runs is not None:
        env["ALZMRI_RUNS"] = str(runs)
    return env


def test_a_run_folder_has_model_metadata_and_history(smoke_run):
    assert {"history.csv", "metadata.json", "model.keras"} <= {p.name for p in smoke_run.iterdir()}
    assert not any(p.name.startswith(".") for p in smoke_run.parent.iterdir())  # no partial or temp folders left
    run = load_run(smoke_run)
    meta = run.metadata
    assert meta["classes"] == list(CLASS_NAMES) and meta["image_size"] == 32 and meta["backbone"] == "ResNet50V2"
    assert meta["profile"] == "smoke" and meta["split"] == "subject" and meta["preprocessing"] == "tf"
    assert meta["data_fingerprint"] == index_dataset(meta["data"], progress=False).fingerprint
    assert {"tensorflow", "keras", "numpy", "alzmri"} <= set(meta["libraries"])
    assert set(meta["metrics"]) == {"val"} and meta["seed"] == 42  # test scores are evaluate's job, not train's
    assert meta["metrics"]["val"]["images"] == meta["split_sizes"]["val"]["images"] and meta["synthetic"] is True
    history = pd.read_csv(smoke_run / "history.csv")
    assert list(history["stage"].unique()) == ["stage1", "stage2"] and "val_loss" in history
    assert meta["subjects"]["method"] == "manifest" and meta["subjects"]["ground_truth"]
    assert meta["split_sizes"]["test"]["subjects"] >= 4  # at least one subject of each class


def test_a_run_saves_its_split_and_no_subject_straddles_it(smoke_run):
    splits = pd.read_csv(smoke_run / "splits.csv", keep_default_na=False)
    assert {"relpath", "subject", "split"} <= set(splits.columns)
    used = splits[splits["split"] != "unused"]
    assert (used.groupby("subject")["split"].nunique() == 1).all()
    assert set(used["split"]) == {"train", "val", "test"}


def test_same_settings_and_data_resume_other_settings_or_data_refuse(tmp_path):
    config = get_config("smoke")
    assert _check_resumable(tmp_path, config, "abc") is False
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(ValueError, match="does not record which data"):  # an older partial run: not resumed blindly
        _check_resumable(tmp_path, config, "abc")
    (tmp_path / DATA_FILE).write_text(json.dumps({"data_fingerprint": "abc"}))
    assert _check_resumable(tmp_path, config, "abc") is True
    with pytest.raises(ValueError, match=r"other settings \(\['image_size'\]\).*another --run-name"):
        _check_resumable(tmp_path, config.replace(image_size=48), "abc")
    with pytest.raises(ValueError, match=r"other data \(fingerprint abc.*now has def"):
        _check_resumable(tmp_path, config, "def")  # same settings, the files changed under the same path


def test_a_runs_folder_moved_elsewhere_keeps_its_finished_runs(smoke_run, tmp_path):
    moved = tmp_path / "mounted" / smoke_run.name  # e.g. saved_models/ copied to another machine or Drive folder
    shutil.copytree(smoke_run, moved)
    assert get_or_train(get_config("smoke", runs_dir=str(moved.parent)), progress=False) == moved  # not refused


def test_failed_save_keeps_the_previous_run(smoke_run, tmp_path):
    run = load_run(smoke_run)

    class Broken:
        def save(self, path):
            raise OSError("disk full")

    target = save_run(run.model, run.metadata, pd.read_csv(smoke_run / "history.csv"), tmp_path / "r")
    with pytest.raises(OSError, match="disk full"):
        save_run(Broken(), run.metadata, pd.DataFrame(), target)
    assert load_run(target).metadata == run.metadata


@pytest.mark.slow
def test_training_killed_mid_run_resumes_where_it_stopped(tmp_path, private_cache):
    command = [sys.executable, "-m", "alzmri", "train", "--profile", "smoke", "--epochs", "3",
               "--run-name", "killed"]
    log = tmp_path / "saved_models" / ".killed.partial" / "history_stage2.csv"
    with open(tmp_path / "first.log", "w") as out:
        first = subprocess.Popen(command, cwd=tmp_path, env=_env(private_cache, tmp_path / "saved_models"), stdout=out,
                                 stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and first.poll() is None:
            if log.exists() and len(log.read_text().splitlines()) >= 2:  # header + 1 finished epoch
                break
            time.sleep(0.2)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        first.send_signal(signal.SIGKILL)
        first.wait()
    done_before = len(pd.read_csv(log))
    assert not (tmp_path / "saved_models" / "killed").exists()  # nothing half-written where a run belongs
    stage1 = tmp_path / "saved_models" / ".killed.partial" / "stage1.weights.h5"
    stage1.write_bytes(stage1.read_bytes()[: stage1.stat().st_size // 2])  # as if killed while saving it
    second = subprocess.run(command, cwd=tmp_path, env=_env(private_cache, tmp_path / "saved_models"),
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "Resuming the unfinished run" in second.stdout
    assert "stage1.weights.h5 was torn" in second.stderr and "stage 1 is trained again" in second.stderr
    assert f"Epoch {done_before + 1}/3" in second.stdout and "Epoch 1/3" not in second.stdout
    history = pd.read_csv(tmp_path / "saved_models" / "killed" / "history.csv")
    stage2 = history.loc[history["stage"] == "stage2", "epoch"].tolist()
    assert stage2 == list(range(len(stage2))) and len(stage2) > done_before
    assert not (tmp_path / "saved_models" / ".killed.partial").exists()
    # (that the same command on the finished run changes nothing: tests/test_safety.py, in-process)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, private_cache):
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from alzmri.config import get_config
        from alzmri.models.runs import load_run
        from alzmri.models.training import get_strategy, train
        print("replicas", get_strategy("mirrored").num_replicas_in_sync)
        run = train(get_config("smoke", runs_dir={str(tmp_path)!r}, head_epochs=1), strategy="mirrored", progress=False)
        print("balanced", load_run(run).metadata["metrics"]["val"]["balanced_accuracy"])
    """)
    result = subprocess.run([sys.executable, "-c", script], env=_env(private_cache), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout and "balanced" in result.stdout


def test_augmented_feature_passes_keep_labels_aligned(tmp_path, monkeypatch):
    import keras
    import numpy as np
    from PIL import Image

    import alzmri.models.training as T

    levels = [0, 0, 255, 255]  # classes 0-1 flat black, 2-3 flat white: no augmentation turns one into the other
    rows = []
    for i in range(40):
        label = i % 4
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((32, 32), levels[label], np.uint8)).save(path)
        rows.append({"path": str(path), "label": label})
    frame = pd.DataFrame(rows)

    def mean_brightness(model):
        inputs = keras.Input((32, 32, 3))
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))

    monkeypatch.setattr(T, "feature_extractor", mean_brightness)
    features, labels = T.cache_features(None, frame, get_config("smoke", batch_size=8), passes=3, progress=False)
    assert features.shape == (120, 3) and (labels[:40] == frame["label"]).all()
    assert ((features[:, 0] > 128) == (labels >= 2)).all()  # shuffled, augmented passes: rows keep their labels


def test_callbacks_of_a_stage(tmp_path):
    import keras

    from alzmri.models.training import stage_callbacks

    names = lambda cbs: [type(c).__name__ for c in cbs]  # noqa: E731
    plain = stage_callbacks(tmp_path / ".r.partial", "stage2", get_config("smoke"))
    assert names(plain) == ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "BackupAndRestore", "CSVLogger"]
    logged = stage_callbacks(tmp_path / ".r.partial", "stage2", get_config("smoke", tensorboard=True))
    assert isinstance(logged[0], keras.callbacks.TensorBoard)
    assert Path(logged[0].log_dir) == tmp_path / "tensorboard" / "r" / "stage2"


def test_get_or_train_reuses_a_finished_run_of_the_same_settings(tmp_path, monkeypatch):
    import alzmri.models.training as T
    from alzmri.errors import RunError

    config = get_config("smoke", runs_dir=str(tmp_path))
    from alzmri.models.runs import default_run_name

    run_dir = tmp_path / default_run_name(config)
    run_dir.mkdir()
    (run_dir / "metadata.json").write_text(json.dumps({"config": config.to_dict(), "data_fingerprint": "abc"}))
    data = SimpleNamespace(fingerprint="abc", root=Path("demo"))
    monkeypatch.setattr(T, "train", lambda *a, **k: pytest.fail("should not retrain"))
    assert T.get_or_train(config, data=data) == run_dir
    monkeypatch.setattr(T, "train", lambda config, **k: "trained")
    assert T.get_or_train(config.replace(seed=7), data=data) == "trained"
    assert T.get_or_train(config, data=data, replace=True) == "trained"  # --replace trains again
    saved = config.to_dict()
    saved.pop("tensorboard")  # a run saved by another version of alzmri: refused, saying what to do
    (run_dir / "metadata.json").write_text(json.dumps({"config": saved, "data_fingerprint": "abc"}))
    with pytest.raises(RunError, match=r"another version of alzmri \(missing \['tensorboard'\].*--replace"):
        T.get_or_train(config, data=data)


def test_a_finished_run_is_reused_only_on_the_same_data(tmp_path, capsys):
    from alzmri.errors import RunError
    from alzmri.models.training import get_or_train

    config = get_config("smoke", runs_dir=str(tmp_path), data=str(tmp_path / "mydata")).with_absolute_data()
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "metadata.json").write_text(json.dumps({"config": config.to_dict(), "data_fingerprint": "abc"}))
    same = SimpleNamespace(fingerprint="abc", root=tmp_path / "mydata")
    assert get_or_train(config, run_name="finished", data=same) == finished
    assert "same settings, same data" in capsys.readouterr().out
    changed = SimpleNamespace(fingerprint="def", root=tmp_path / "mydata")  # same folder, other files
    with pytest.raises(RunError, match=r"other data \(fingerprint abc; .* now has def\).*--run-name.*--replace"):
        get_or_train(config, run_name="finished", data=changed)
    fold = config.replace(cv_fold=1)  # a fold of `alzmri cv`, which has neither --run-name nor --replace
    (finished / "metadata.json").write_text(json.dumps({"config": fold.to_dict(), "data_fingerprint": "abc"}))
    with pytest.raises(RunError, match=r"now has def\): delete that folder to train it again$"):
        get_or_train(fold, run_name="finished", data=changed)


def test_the_precision_policy_is_the_callers_again_after_training():
    import keras

    from alzmri.models.training import mixed_precision_if_gpu

    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # whatever the caller had chosen
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            with mixed_precision_if_gpu() as on_gpu:
                assert keras.mixed_precision.global_policy().name == ("mixed_float16" if on_gpu else "float32")
                raise RuntimeError("interrupted")  # restored on the way out of a failed training too
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_training_plan_states_each_presets_own_numbers():
    from alzmri.models.training import training_plan

    demo = training_plan(get_config("demo"))
    assert "up to stage conv3 (from scratch) at 64 px" in demo and "stage 1: skipped" in demo
    assert "all blocks and the head, up to 8 epochs, learning rate 0.001," in demo and "augmentation off" in demo
    assert "lower than the head's" not in demo  # the demo does not fine-tune at a lower rate: nothing claims it
    full = training_plan(get_config("full"))
    assert "ResNet152V2 (ImageNet weights) at 224 px" in full and "15 epochs on cached backbone features" in full
    assert "the top 3 blocks" in full and "(10x lower than the head's)" in full and "BatchNorm frozen" in full


def test_a_run_records_its_split_files_digest_and_sizes(smoke_run):
    import hashlib

    meta = json.loads((smoke_run / "metadata.json").read_text())
    raw = (smoke_run / "splits.csv").read_bytes()
    assert meta["split_sha256"] == hashlib.sha256(raw).hexdigest()  # the whole file as training wrote it
    counts = pd.read_csv(smoke_run / "splits.csv")["split"].value_counts()
    assert {s: v["images"] for s, v in meta["split_sizes"].items()} == {s: int(counts[s]) for s in meta["split_sizes"]}
