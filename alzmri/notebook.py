"""What the notebooks call from their setup cell and before their long cells: the machinery around the lessons.

The notebooks write out the code of what they teach (the network, Grad-CAM, the split, the scores) and check it
against the package with an assert; this module does the rest. It picks the profile from the hardware
(``colab`` on a Colab GPU, the CPU profile ``demo`` elsewhere, ``$ALZMRI_PROFILE`` whenever it is set), keeps
runs, the Kaggle download and the features cache on Google Drive when asked, says what the Kaggle data needs,
says how long a cell will take for the running profile, finds notebook 02's run for notebooks 03 and 04, and
explains a gap between validation and test scores.

Example, as the setup cell does it::

    from alzmri.notebook import setup_notebook
    config = setup_notebook(use_drive=USE_DRIVE)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from alzmri import __version__
from alzmri.config import DEFAULT_PROFILE, PROFILE_ENV, Config, describe_backbone, get_config
from alzmri.errors import RunError
from alzmri.tfenv import quiet_tensorflow

#: The profile the setup cell picks in Colab when the runtime has a GPU, and the one it falls back to.
GPU_PROFILE = "colab"
CPU_PROFILE = "demo"
#: Where Colab mounts Google Drive, and what is kept there with ``USE_DRIVE``: runs (``$ALZMRI_RUNS``), alzmri's
#: cache of converted images and features (``$ALZMRI_CACHE``) and the Kaggle download (``$KAGGLEHUB_CACHE``), so
#: each notebook's runtime reuses what the first one downloaded and computed.
DRIVE_MOUNT = "/content/drive"
DRIVE_FOLDER = Path("MyDrive") / "alzmri"
DRIVE_FOLDERS = {"ALZMRI_RUNS": "saved_models", "ALZMRI_CACHE": "cache", "KAGGLEHUB_CACHE": "kagglehub"}
#: Colab's Secrets that hold a Kaggle login (the left sidebar's key icon).
KAGGLE_SECRETS = ("KAGGLE_USERNAME", "KAGGLE_KEY")
#: The Kaggle V2 download, estimated (no internet where alzmri is developed): about 40,400 JPEGs at the 8 KB a
#: slice of the source set's 6,400 (51 MB).
KAGGLE_DOWNLOAD = "about 330 MB (estimated from the source set's 8 KB a slice, not measured)"
#: Appended to the run name of the quick run that 03 and 04 train when 02's run is not there.
QUICK_SUFFIX = "-quick"
KAGGLE_LOGIN = ("The Kaggle data needs a (free) Kaggle account. Log in before the data cell: run "
                "`import kagglehub; kagglehub.login()` in a new cell and paste your API token (kaggle.com > "
                "Settings > API), or store KAGGLE_USERNAME and KAGGLE_KEY in Colab's Secrets.")


@dataclass(frozen=True)
class Speed:
    """How fast a profile's network runs on the hardware the profile is made for.

    Attributes:
        hardware: that hardware, in words.
        forward: images per second through the model, inference.
        train: images per second through a training step (``fit``, with the input pipeline).
        overhead: seconds per stage for building, compiling and the first batches.
        basis: where the numbers come from (measured, or how they were estimated).
    """

    hardware: str
    forward: float
    train: float
    overhead: float
    basis: str


_T4 = ("estimated, not measured: ResNet152V2 at 224 px, mixed precision, 120 images/s forward and 50 per "
       "training step (the slow ends of 100-150 and 40-60)")
SPEEDS: dict[str, Speed] = {
    "smoke": Speed("a 2-core CPU", forward=600.0, train=200.0, overhead=15.0,
                   basis="rough: a tiny network, the time is mostly TensorFlow building and compiling"),
    "demo": Speed("a 2-core CPU", forward=430.0, train=96.0, overhead=15.0,
                  basis="measured by benchmarks/training.py and inference.py on 2-core machines: about 100 "
                        "images/s per fit step, 430 forward"),
    "colab": Speed("a free Colab T4 GPU", forward=120.0, train=50.0, overhead=60.0, basis=_T4),
    "full": Speed("a T4-class GPU", forward=120.0, train=50.0, overhead=60.0, basis=_T4),
}
#: Forward passes per explained test image in ``evaluate_run``: deletion and insertion (3 maps x 17 steps x 2)
#: and the randomisation check.
EXPLAIN_PASSES = 110


@dataclass(frozen=True)
class RunChoice:
    """Which run a notebook after 02 uses, and whether it has to be trained first.

    Attributes:
        config: the settings of that run (the profile's, or the quick variant's).
        run_name: its folder name under ``config.runs_dir`` (None: the default name, as 02 saves it).
        run_dir: that folder.
        found: the run is there and finished.
        message: one line that says which run it is, or why a run is trained here.
    """

    config: Config
    run_name: str | None
    run_dir: Path
    found: bool
    message: str


def gpu_names() -> list[str]:
    """The GPUs TensorFlow sees, by model name where it knows it (``["Tesla T4"]``); empty on a CPU."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def choose_profile(in_colab: bool) -> tuple[str, str]:
    """The profile a notebook runs, and why.

    Args:
        in_colab: whether the notebook runs in Google Colab.

    Returns:
        ``(profile, reason)``: ``$ALZMRI_PROFILE`` whenever it is set (CI sets ``smoke``); in Colab ``colab``
        when the runtime has a GPU, else ``demo`` with a line saying how to get a GPU; locally ``demo``.
    """
    explicit = os.environ.get(PROFILE_ENV)
    if explicit:
        return explicit, f"from ${PROFILE_ENV}"
    if not in_colab:
        return DEFAULT_PROFILE, f"the local default; set ${PROFILE_ENV} for another"
    gpus = gpu_names()
    if gpus:
        return GPU_PROFILE, f"a Colab GPU: {gpus[0]}"
    return CPU_PROFILE, ("NO GPU in this Colab runtime, so the CPU profile: synthetic data, a small network from "
                         "scratch. For the real data choose Runtime > Change runtime type > T4 GPU, then run "
                         "this cell again")


def keep_on_drive(mount_point: str | None = None) -> Path:
    """Mount Google Drive and keep runs, the features cache and the Kaggle download there.

    Sets ``$ALZMRI_RUNS``, ``$ALZMRI_CACHE`` and ``$KAGGLEHUB_CACHE`` to folders under ``MyDrive/alzmri``, so later
    notebooks and sessions find 02's run and skip the download and the features of the first notebook.

    Args:
        mount_point: where to mount Drive (default :data:`DRIVE_MOUNT`).

    Returns:
        The alzmri folder on Drive, its sub-folders created if missing.
    """
    from google.colab import drive

    mount_point = mount_point or DRIVE_MOUNT
    drive.mount(mount_point)
    folder = Path(mount_point) / DRIVE_FOLDER
    for variable, name in DRIVE_FOLDERS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(folder / name)
    return folder


def colab_secrets() -> bool:
    """Copy a Kaggle login stored in Colab's Secrets into the environment, where kagglehub reads it.

    Returns:
        True when both secrets were there (Colab asks once whether this notebook may read them).
    """
    try:
        from google.colab import userdata
    except ImportError:  # not in Colab, or a Colab without Secrets
        return False
    values = {}
    for name in KAGGLE_SECRETS:
        try:
            values[name] = userdata.get(name)
        except Exception:  # noqa: BLE001 -- userdata raises its own types for a missing or refused secret
            return False
    os.environ.update({name: value for name, value in values.items() if value})
    return all(values.values())


def kaggle_credentials() -> str | None:
    """Where Kaggle credentials are found: the environment, ``kaggle.json``, else Colab's Secrets (copied into the
    environment; Colab asks once for access, so they are read only when nothing else holds a login).

    Returns:
        A few words naming the place, or None.
    """
    if os.environ.get("KAGGLE_API_TOKEN") or (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")):
        return "in the environment"
    folder = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    for name in ("kaggle.json", "access_token"):
        if (folder / name).is_file():
            return str(folder / name)
    return "in Colab's Secrets" if colab_secrets() else None


def kaggle_message(config: Config) -> str | None:
    """What the profile's data needs from the user: a Kaggle login for the Kaggle set; None for other data."""
    if config.data != "kaggle":
        return None
    found = kaggle_credentials()
    status = f"Kaggle credentials found ({found})." if found else "No Kaggle credentials found yet."
    return f"{KAGGLE_LOGIN} {status}"


def describe_data(config: Config) -> str:
    """The data a config trains on, in words (SYNTHETIC said as such)."""
    return {"demo": "the SYNTHETIC demo set (generated here)", "kaggle": "the Kaggle V2 set (downloaded)",
            "hf": "the Hugging Face Falah/Alzheimer_MRI set (downloaded)"}.get(config.data, config.data)


def describe_profile(config: Config) -> str:
    """One line of what a profile uses: network, weights, image size, data, split, stages."""
    weights = {"imagenet": "ImageNet weights", None: "trained from scratch"}.get(config.weights, config.weights)
    parts = (("stage 1 (the head on cached features)", config.head_epochs > 0),
             ("stage 2 (backbone blocks and head)", config.finetune_epochs > 0))
    stages = " then ".join(name for name, runs in parts if runs)
    stages += "" if config.head_epochs > 0 and config.finetune_epochs > 0 else " only"
    return (f"{describe_backbone(config.backbone, config.backbone_end)} ({weights}) at {config.image_size} px, "
            f"on {describe_data(config)}, `{config.split}` split; {stages}")


def setup_notebook(use_drive: bool = False, in_colab: bool | None = None) -> Config:
    """The setup cell's work after the install: profile, where files are kept, data login; prints what it chose.

    Args:
        use_drive: in Colab, keep runs, the Kaggle download and the features cache on Google Drive (Colab asks for
            access), so 03 and 04 reuse 02's run and nothing is downloaded twice.
        in_colab: whether the notebook runs in Google Colab (default: whether ``google.colab`` is imported).

    Returns:
        The running profile's config (its ``runs_dir`` on Drive when ``use_drive``).
    """
    quiet_tensorflow()  # no CUDA noise under the cell on a CPU machine
    in_colab = "google.colab" in sys.modules if in_colab is None else in_colab
    if Path.cwd().name == "notebooks" and (Path.cwd().parent / "pyproject.toml").is_file():
        os.chdir("..")  # runs and figures go to the repository's saved_models/ and figures/
    profile, reason = choose_profile(in_colab)
    lines = []
    if in_colab and use_drive:
        lines.append(f"Runs, the features cache and the Kaggle download are kept on Google Drive: {keep_on_drive()}")
    elif in_colab:
        lines.append("Runs and downloads are kept on this Colab machine and vanish with it; set USE_DRIVE = True at "
                     "the top of this cell to keep them on Google Drive, so 03 and 04 reuse 02's run and data.")
    config = get_config(profile)  # after Drive: runs_dir is read from $ALZMRI_RUNS now
    lines.append(kaggle_message(config))
    if "GPU" in speed_for(config).hardware:
        lines.append(gpu_warning(config))
    print(f"alzmri {__version__}, profile {profile} ({reason})")
    print(f"This profile: {describe_profile(config)}")
    for line in filter(None, lines):
        print(line)
    return config


def gpu_warning(config: Config) -> str | None:
    """A line when a profile made for a GPU runs without one; None when a GPU is there."""
    if gpu_names():
        return None
    return (f"NO GPU here: the {config.profile} profile is made for {speed_for(config).hardware}; on a CPU its "
            "training takes many hours.")


def speed_for(config: Config) -> Speed:
    """The speeds behind a config's time estimates: its profile's, else the closest preset's."""
    if config.profile in SPEEDS:
        return SPEEDS[config.profile]
    return SPEEDS["colab" if config.weights == "imagenet" else "demo"]


def _sizes(data) -> tuple[int, int, int]:
    """Images in train, val and test of prepared data (0 for a split it lacks)."""
    sizes = data.sizes()
    return tuple(sizes.get(split, {}).get("images", 0) for split in ("train", "val", "test"))


def training_seconds(config: Config, n_train: int, n_val: int) -> float:
    """Estimated seconds :func:`alzmri.models.training.train` takes at most (early stopping can end it sooner).

    Args:
        config: the settings (epochs, stages, feature passes).
        n_train: training images.
        n_val: validation images.

    Returns:
        Stage 1 (feature caching, then epochs on cached vectors, about a second each), stage 2 (full epochs
        through the network), and the final validation pass, at :func:`speed_for`'s speeds.
    """
    speed = speed_for(config)
    seconds = n_val / speed.forward  # validation metrics of the kept model
    if config.head_epochs > 0:
        seconds += speed.overhead + (n_train * config.feature_passes + n_val) / speed.forward + config.head_epochs
    if config.finetune_epochs > 0:
        seconds += speed.overhead + config.finetune_epochs * (n_train / speed.train + n_val / speed.forward)
    return seconds


def evaluation_seconds(config: Config, n_test: int) -> float:
    """Estimated seconds of ``evaluate_run``: test predictions, then Grad-CAM scoring of ``explain_images``."""
    speed = speed_for(config)
    explained = min(config.explain_images, n_test)
    return speed.overhead + (n_test + explained * EXPLAIN_PASSES) / speed.forward


def say_time(seconds: float, config: Config) -> str:
    """``about 12 min on a free Colab T4 GPU (estimated, ...)``: a duration with what it assumes."""
    speed = speed_for(config)
    amount = "under a minute" if seconds < 60 else f"about {max(1, round(seconds / 60))} min"
    return f"{amount} on {speed.hardware} ({speed.basis})"


def training_time(config: Config, data) -> str:
    """The line a training cell prints first: how long training these settings on ``data`` takes."""
    n_train, n_val, _ = _sizes(data)
    return (f"Training {n_train:,} images (validated on {n_val:,}) takes up to "
            f"{say_time(training_seconds(config, n_train, n_val), config)}; a finished run is reused at once.")


def evaluation_time(config: Config, data) -> str:
    """The line an evaluation cell prints first: how long scoring and explaining the test split takes."""
    _, _, n_test = _sizes(data)
    return (f"Scoring {n_test:,} test images and explaining {min(config.explain_images, n_test)} of them takes "
            f"{say_time(evaluation_seconds(config, n_test), config)}.")


def data_time(config: Config) -> str:
    """The line a data cell prints first: what preparing the profile's data costs, the first time and after."""
    if config.data == "demo":
        return "Preparing the synthetic data: under a minute the first time (generated, then cached), seconds after."
    if config.data == "kaggle":
        return (f"Preparing the Kaggle V2 set (about 40,000 small JPEGs, {KAGGLE_DOWNLOAD}): the download, then "
                "index, image features and subjects (a few minutes on 2 CPU cores: benchmarks/scale.py measures it), "
                "the first time on a machine (or on Drive with USE_DRIVE); seconds after.")
    return "Preparing the data: indexing and image features take about 2 s per 1,000 images the first time."


def quick_config(config: Config) -> Config:
    """The cheapest run that still serves 03 and 04 when 02's run is not there.

    With pretrained weights and both stages, stage 1 alone (the head on the frozen backbone's cached features:
    minutes on a GPU instead of stage 2's epochs through the whole network). Otherwise the profile itself, which
    is already cheap (the CPU profiles train from scratch in minutes) and is then saved where 02 looks.
    """
    if config.weights is not None and config.head_epochs > 0 and config.finetune_epochs > 0:
        return config.replace(finetune_epochs=0)
    return config


def _finished(run_dir: Path, config: Config) -> bool:
    """Whether ``run_dir`` holds a finished run trained with exactly these settings."""
    from alzmri.models.runs import is_finished, saved_config

    try:
        saved = saved_config(run_dir)[0] if is_finished(run_dir) else None
        return saved is not None and saved.training_settings() == config.with_absolute_data().training_settings()
    except RunError:
        return False


def choose_run(config: Config) -> RunChoice:
    """The run 03 and 04 use: 02's run of this profile, else a quick run an earlier notebook left, else a new one.

    Looks in ``config.runs_dir`` (on Drive in Colab with ``USE_DRIVE``); trains nothing.

    Args:
        config: the running profile's settings (as notebook 02 trains them).

    Returns:
        The choice, with the one line the notebook prints.
    """
    from alzmri.models.runs import default_run_name, run_folder

    main_dir = run_folder(config)
    if _finished(main_dir, config):
        return RunChoice(config, None, main_dir, True, f"Using notebook 02's run {main_dir}.")
    quick = quick_config(config)
    name = default_run_name(config) + QUICK_SUFFIX if quick != config else None
    quick_dir = run_folder(quick, name)
    if name and _finished(quick_dir, quick):
        return RunChoice(quick, name, quick_dir, True, f"Notebook 02's run is not in {config.runs_dir}; using the "
                                                        f"quick run {quick_dir} an earlier notebook trained.")
    what = ("a quick one here: stage 1 only (the head on the frozen ImageNet backbone)" if name else
            f"the {config.profile} profile's run here, the one 02 trains")
    drive = " (in Colab with USE_DRIVE = True in each notebook)" if config.profile == GPU_PROFILE else ""
    return RunChoice(quick, name, quick_dir, False, f"No finished run of notebook 02 in {config.runs_dir}: training "
                                                    f"{what}. Run 02 first{drive} to use its run instead.")


def run_for_notebook(config: Config, data) -> Path:
    """02's run for notebooks 03 and 04, or a quick one trained now; prints which, and how long training takes.

    Args:
        config: the running profile's settings.
        data: the prepared data (as 02 prepared it), to check the run against and to train on.

    Returns:
        The run folder.
    """
    from alzmri.models.training import get_or_train

    choice = choose_run(config)
    print(choice.message)
    if not choice.found:
        print(training_time(choice.config, data))
    return get_or_train(choice.config, run_name=choice.run_name, data=data, progress=not choice.found)


def _brains(data, split: str) -> "dict[str, int]":
    """Subjects (brains) per class in one split of prepared data."""
    part = data.part(split)
    part = part[part["subject"] != ""]
    return part.groupby("class_name")["subject"].nunique().to_dict()


def _swing(brains: dict) -> float:
    """How far one brain judged the other way can move balanced accuracy: 1 / (classes x brains of the rarest)."""
    return 1 / (len(brains) * min(brains.values())) if brains else 1.0


def validation_note(metadata: dict, data) -> str:
    """What the validation score printed after training is, and what it is not (notebook 02).

    Args:
        metadata: the run's metadata.
        data: the prepared data the run was trained on.

    Returns:
        Lines for the notebook: the score, how many brains it rests on, and why test will differ.
    """
    val = (metadata.get("metrics") or {}).get("val")
    if not val:
        return "No validation split, so no validation score."
    brains = _brains(data, "val")
    return (f"Validation balanced accuracy {val['balanced_accuracy']:.3f} on {val['images']:,} slices of "
            f"{sum(brains.values())} brains; its rarest class rests on {min(brains.values())} brain(s), so one brain "
            f"judged the other way moves it by up to {_swing(brains):.2f}.\nValidation also chose the kept epoch, "
            "so it is not the score to report: 04 scores the unseen test brains, with an interval, and the two "
            "can differ a lot.")


def val_test_note(metadata: dict, test: dict, data) -> str:
    """Validation against test balanced accuracy, and why they differ when they do (notebook 04).

    Args:
        metadata: the run's metadata (validation metrics from training).
        test: ``evaluate_run``'s test metrics (``balanced_accuracy`` and ``ci95``).
        data: the prepared data, for the brains in each split.

    Returns:
        Lines for the notebook.
    """
    val = (metadata.get("metrics") or {}).get("val")
    score, (low, high) = test["balanced_accuracy"], test["ci95"]["balanced_accuracy"]
    if not val:
        return f"Test balanced accuracy {score:.3f} [{low:.3f}, {high:.3f}]; no validation split to compare with."
    v, val_brains, test_brains = val["balanced_accuracy"], _brains(data, "val"), _brains(data, "test")
    line = (f"Validation balanced accuracy {v:.3f} ({sum(val_brains.values())} brains), test {score:.3f} "
            f"[{low:.3f}, {high:.3f}] ({sum(test_brains.values())} brains).")
    if low <= v <= high and abs(v - score) < 0.1:
        return line + " They agree within the test interval."
    return (line + f" A gap of {abs(v - score):.2f}, and it is expected here: both splits are a few brains, and "
            f"their rarest classes rest on {min(val_brains.values())} and {min(test_brains.values())} brain(s), so "
            f"one brain judged the other way moves balanced accuracy by up to {_swing(val_brains):.2f} and "
            f"{_swing(test_brains):.2f}; the test interval is {high - low:.2f} wide. Validation also chose the kept "
            "epoch (early stopping on its loss), so it is not an independent score. Report the test score with its "
            "interval; the gap itself measures nothing.")
