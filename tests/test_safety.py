"""Run safety under bad settings and hostile names: nothing outside its folder, nothing lost, one clear line."""

import shutil
import warnings

import pytest

from alzmri.cli import main
from alzmri.config import get_config


@pytest.mark.parametrize("name", ["../victim", "/tmp/victim", "a/b", ".hidden", "..", "name with space"])
def test_run_names_stay_inside_the_runs_folder(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    assert main(["train", "--profile", "smoke", "--run-name", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alzmri train: error: --run-name must be a plain folder name") and "Traceback" not in err
    assert (victim / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "saved_models").exists()  # refused before any work


@pytest.mark.parametrize("argv, setting", [
    (["train", "--image-size", "0"], "image_size"),
    (["train", "--image-size", "-64"], "image_size"),
    (["train", "--batch-size", "0"], "batch_size"),
    (["train", "--epochs", "-1"], "finetune_epochs"),
    (["demo", "--epochs", "0", "--head-epochs", "0"], "nothing would be trained"),
    (["audit", "demo", "--duplicate-threshold", "1.5"], "duplicate_threshold"),
])
def test_bad_settings_are_refused_before_any_data_is_read(argv, setting, tmp_path, monkeypatch, capsys):
    import alzmri.datasets

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(alzmri.datasets, "resolve_data", lambda *a, **k: pytest.fail("data was read"))
    assert main(argv + ["--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert setting in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "saved_models").exists()


def test_a_failed_start_leaves_no_partial_folder_to_block_the_next(small_root, tmp_path):
    from alzmri.splits import prepare_data
    from alzmri.train import train

    config = get_config("smoke", data=str(small_root), runs_dir=str(tmp_path), backbone="ResNet9000")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(config, progress=False)
    with pytest.raises(ValueError, match="ResNet9000"):
        train(config, run_name="r", data=data, progress=False)
    assert list(tmp_path.iterdir()) == []  # no .r.partial left behind


def test_gradcam_outputs_of_same_named_inputs_do_not_collide(smoke_run, tmp_path, capsys):
    from alzmri.datasets import index_dataset
    from alzmri.model import load_run

    first, second = index_dataset(load_run(smoke_run).metadata["data"], progress=False).frame["path"].head(2)
    for folder, source in (("a", first), ("b", second)):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "slice.jpg")
    assert main(["gradcam", str(smoke_run), str(tmp_path / "a" / "slice.jpg"), str(tmp_path / "b" / "slice.jpg"),
                 "--out", str(tmp_path / "cams")]) == 0
    written = sorted(p.name for p in (tmp_path / "cams").iterdir())
    assert written == ["a_slice_jpg_gradcam.png", "b_slice_jpg_gradcam.png"]
