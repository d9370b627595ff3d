"""One place for every setting: class names, presets (smoke, demo, full, colab) and their overrides.

A preset is a frozen dataclass, so a run's settings are a value that can be printed, compared and
written into the run's metadata. Pick one by name or with the ``ALZMRI_PROFILE`` environment variable
and override single fields with keyword arguments (the CLI and the notebooks both do this).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from alzmri.errors import SettingsError
from alzmri.files import is_url_or_stdin

#: Canonical class order: alphabetical, as ``image_dataset_from_directory`` sorts the Kaggle folders,
#: and the same integer ids as the Hugging Face ``Falah/Alzheimer_MRI`` labels.
CLASS_NAMES: tuple[str, ...] = ("MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented")

#: Clinical severity of each class (0 = none), for ordinal metrics such as quadratic weighted kappa.
SEVERITY_RANK: dict[str, int] = {"NonDemented": 0, "VeryMildDemented": 1, "MildDemented": 2, "ModerateDemented": 3}

#: Share of each class among the originals of the real source set (896 / 64 / 3,200 / 2,240 images).
REAL_CLASS_SHARE: dict[str, float] = {
    "MildDemented": 896 / 6400,
    "ModerateDemented": 64 / 6400,
    "NonDemented": 3200 / 6400,
    "VeryMildDemented": 2240 / 6400,
}

KAGGLE_HANDLE = "uraninjo/augmented-alzheimer-mri-dataset-v2"
HF_REPO = "Falah/Alzheimer_MRI"
PROFILE_ENV = "ALZMRI_PROFILE"
DEFAULT_PROFILE = "demo"
#: Data named by a word rather than a path (see :func:`alzmri.data.datasets.resolve_data`).
DATA_SOURCES: tuple[str, ...] = ("demo", "kaggle", "hf")
#: The synthetic set's seed when none is given (``alzmri synth`` and :func:`alzmri.data.synthetic.generate_dataset`);
#: ``--data demo`` draws its set from the config's own ``seed``.
SYNTH_SEED = 0
#: The split protocols (explained in :mod:`alzmri.leakage.protocols`) and the ways to find subjects
#: (:mod:`alzmri.leakage.subjects`).
SPLIT_PROTOCOLS: tuple[str, ...] = ("subject", "image", "official", "naive")
SUBJECT_METHODS: tuple[str, ...] = ("auto", "manifest", "names", "similarity")
#: What a run trains (``train --model``): the slice classifier, or the model of the person (:mod:`alzmri.models.person`).
RUN_MODELS: tuple[str, ...] = ("cnn", "person")
#: How the model of the person pools its slices (:mod:`alzmri.models.person`).
PERSON_POOLING: tuple[str, ...] = ("mean", "attention")
#: How a subject's slice probabilities become one answer (:mod:`alzmri.voting`).
VOTING_METHODS: tuple[str, ...] = ("soft", "weighted")


#: Settings read at evaluation or only recorded, never by training, and where runs are kept (a runs folder moved or
#: mounted elsewhere keeps its runs): changing them reuses a trained run.
NOT_TRAINING: tuple[str, ...] = ("voting", "voting_threshold", "track_emissions", "emissions_country", "cv_repeats",
                                  "lesson_epochs", "runs_dir")

#: The allowed range of every numeric setting, inclusive (``open`` ends excluded), with what the CLI calls it.
#: Upper bounds stop a typo from running for hours or filling the disk (``--slices 1000000``).
RANGES: dict[str, tuple[float, float, str]] = {
    "seed": (0, 2**32 - 1, "--seed"),
    "image_size": (32, 1024, "--image-size"),
    "batch_size": (1, 4096, "--batch-size"),
    "head_epochs": (0, 1000, "--head-epochs"),
    "finetune_epochs": (0, 1000, "--epochs"),
    "finetune_blocks": (-1, 200, "--finetune-blocks (-1: all)"),
    "patience": (0, 1000, "patience"),
    "feature_passes": (1, 20, "feature_passes"),
    "n_boot": (10, 100_000, "n_boot"),
    "explain_images": (1, 10_000, "explain_images"),
    "dropout": (0.0, 0.999, "dropout"),
    "duplicate_threshold": (0.001, 1, "--duplicate-threshold"),
    "val_fraction": (0.01, 0.9, "val_fraction"),
    "test_fraction": (0.01, 0.9, "test_fraction"),
    "synth_n_per_class": (2, 5000, "--n-per-class"),
    "synth_size": (32, 1024, "--size"),
    "synth_copies": (0.0, 20.0, "--copies"),
    "synth_slices": (1, 64, "--slices"),
    "voting_threshold": (0.0, 1.0, "--voting-threshold"),
    "cv_folds": (2, 50, "--folds"),
    "cv_fold": (0, 50, "cv_fold"),
    "cv_repeats": (1, 20, "--repeats"),
    "person_slices": (1, 64, "person_slices"),
    "person_epochs": (1, 1000, "person_epochs"),
    "lesson_epochs": (1, 20, "lesson_epochs"),
}


def training_settings(settings: dict) -> dict:
    """Saved or current settings without :data:`NOT_TRAINING`: what decides whether a finished or partial run is
    reused."""
    return {k: v for k, v in settings.items() if k not in NOT_TRAINING}


def range_problems(values: dict[str, float]) -> list[str]:
    """One message per value outside its :data:`RANGES` entry (NaN and infinity included), naming the range.

    Args:
        values: setting name to value, for names in :data:`RANGES`.

    Returns:
        The messages, empty when every value is allowed.
    """
    problems = []
    for name, value in values.items():
        low, high, shown = RANGES[name]
        integer = isinstance(low, int) and isinstance(high, int)
        wrong_type = integer and not (isinstance(value, int) and not isinstance(value, bool))
        if wrong_type or not (isinstance(value, (int, float)) and low <= value <= high):
            kind = "a whole number" if integer else "a number"
            problems.append(f"{shown} must be {kind} from {low:,} to {high:,}, got {value!r}")
    return problems


def describe_backbone(backbone: str, end: str | None) -> str:
    """The backbone as built, e.g. ``ResNet50V2 up to stage conv3`` or ``ResNet152V2``.

    Args:
        backbone: the ``keras.applications`` name (the ``backbone`` setting).
        end: the stage the backbone is cut after (``backbone_end``), or None for the whole backbone.

    Returns:
        The words every run, card and report names the backbone with.
    """
    return backbone + (f" up to stage {end}" if end else "")


def default_runs_dir() -> str:
    """Where runs are saved (``ALZMRI_RUNS`` overrides), read each time a config is made, not once at import."""
    return os.environ.get("ALZMRI_RUNS") or "saved_models"  # set but empty counts as unset


def default_cache_dir() -> Path:
    """Where generated data, converted images and descriptors go (``ALZMRI_CACHE`` overrides)."""
    return Path(os.environ.get("ALZMRI_CACHE") or Path.home() / ".cache" / "alzmri")  # set but empty: unset


@dataclass(frozen=True)
class Config:
    """All settings of one run; presets below, fields overridable with :func:`get_config`."""

    profile: str = "demo"
    # data
    data: str = "demo"  # "demo" (synthetic), "kaggle", "hf", or a path
    split: str = "subject"  # "subject" (honest), "image", "official" or "naive": see alzmri.leakage.protocols.PROTOCOLS
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    use_augmented: bool = True  # add augmented copies of *training* originals to train
    duplicate_threshold: float = 0.88  # descriptor correlation above which two images are near-duplicates
    subjects: str = "auto"  # how to find each slice's subject: auto, manifest, names or similarity
    shuffle_labels: bool = False  # give every subject a random class (the memorisation check of `alzmri compare`)
    # synthetic demo data
    synth_n_per_class: int = 250
    synth_size: int = 128
    synth_copies: float = 2.0  # augmented images per class, as a multiple of the mean originals per class
    synth_balance: str = "original"  # the real set's class imbalance, or "equal"
    synth_slices: int = 12  # consecutive slices per synthetic subject
    # model
    model: str = "cnn"  # what a run trains: "cnn" (the slice classifier) or "person" (one answer from a whole stack)
    image_size: int = 224
    backbone: str = "ResNet152V2"
    backbone_end: str | None = None  # keep the backbone up to the end of this stage (e.g. "conv3"); None: all
    weights: str | None = None  # "imagenet", None, or a path to a local weights file
    dropout: float = 0.3
    augment: bool = True  # on-the-fly augmentation in stage 2
    # 2.5-D input: the three channels are the slice below, the slice and the slice above in its brain (positions from
    # the file names or recovered with the subjects; edge slices repeat their one neighbour), not one slice thrice.
    # Off until it wins on validation brains (docs/results.md).
    neighbour_slices: bool = False
    # the model of the person (`train --model person`, `cv --model person`): a shared slice encoder over this many
    # slices of a subject's stack (evenly spaced by position), pooled into one answer by "mean" or "attention" (learnt
    # weights over the slices)
    person_slices: int = 16
    person_pooling: str = "mean"
    person_epochs: int = 40  # at most; early stopping on the validation subjects (patience) ends it sooner
    # training
    batch_size: int = 32
    head_epochs: int = 10
    finetune_epochs: int = 5
    head_learning_rate: float = 1e-3
    finetune_learning_rate: float = 1e-4
    finetune_blocks: int = 2
    patience: int = 5  # epochs without val_loss improvement before early stopping
    feature_passes: int = 1  # augmented passes over the training set when caching stage-1 features
    seed: int = 42
    # evaluation
    n_boot: int = 1000  # bootstrap resamples behind every 95 % interval
    explain_images: int = 64  # test images whose Grad-CAM maps are scored (deletion/insertion, randomisation)
    voting: str = "soft"  # one answer per subject: "soft" (mean probability) or "weighted" (by slice position)
    voting_threshold: float = 0.25  # weighted voting drops slice positions whose validation balanced accuracy is below
    cv_folds: int = 5  # folds of `alzmri cv` (over subjects)
    cv_fold: int = 0  # 0: the usual split; k (1..cv_folds): the subject split whose test is fold k of `alzmri cv`
    cv_repeats: int = 1  # `alzmri cv --repeats`: the folds drawn this many times (fold seeds seed, seed + 1, ...)
    # energy: CodeCarbon's offline tracker (no internet) estimates each training's energy and CO2
    track_emissions: bool = True
    emissions_country: str = "USA"  # ISO 3166 alpha-3 code of the grid's country, for its carbon intensity
    gradcam_layer: str | None = None  # the feature map Grad-CAM explains; None: alzmri.explain.gradcam.find_target_layer
    tensorboard: bool = False  # also log to <runs_dir>/tensorboard/<run-name>
    lesson_epochs: int = 1  # epochs of each stage of notebook 02's hand-written training (the package trains the run)
    runs_dir: str = field(default_factory=default_runs_dir)

    def __post_init__(self) -> None:
        """Refuse impossible settings at once, naming the setting and its range, before any data is read."""
        problems = range_problems({name: getattr(self, name) for name in RANGES}) + [message for broken, message in (
            (self.head_epochs + self.finetune_epochs < 1, "head_epochs and finetune_epochs are both 0: nothing would "
                                                          "be trained"),
            (not (self.val_fraction + self.test_fraction < 1),
             f"val_fraction and test_fraction must sum to less than 1, got {self.val_fraction} and "
             f"{self.test_fraction}"),
            (self.split not in SPLIT_PROTOCOLS, f"split must be one of {list(SPLIT_PROTOCOLS)}, got {self.split!r}"),
            (self.subjects not in SUBJECT_METHODS, f"subjects must be one of {list(SUBJECT_METHODS)}, "
                                                   f"got {self.subjects!r}"),
            (self.cv_fold > self.cv_folds, f"cv_fold must be from 0 to cv_folds ({self.cv_folds}), got {self.cv_fold}"),
            (not re.fullmatch(r"[A-Z]{3}", str(self.emissions_country)),
             f"emissions_country must be an ISO 3166 alpha-3 code such as USA, got {self.emissions_country!r}"),
            (self.voting not in VOTING_METHODS, f"voting must be one of {list(VOTING_METHODS)}, got {self.voting!r}"),
            (self.model not in RUN_MODELS, f"model must be one of {list(RUN_MODELS)}, got {self.model!r}"),
            (self.person_pooling not in PERSON_POOLING,
             f"person_pooling must be one of {list(PERSON_POOLING)}, got {self.person_pooling!r}"),
        ) if broken]
        if problems:
            raise SettingsError("; ".join(problems))

    def training_settings(self) -> dict:
        """The settings that shape the trained model (:func:`training_settings`)."""
        return training_settings(self.to_dict())

    def replace(self, **overrides) -> "Config":
        """Return a copy with some fields changed; unknown names are an error that lists the valid ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SettingsError(f"Unknown config field(s) {unknown}; valid fields: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def with_absolute_data(self) -> "Config":
        """The same settings with a data path made absolute, so a saved run reads the same folder from anywhere."""
        if self.data in DATA_SOURCES or is_url_or_stdin(self.data):  # not paths: refused by name when read
            return self
        return self.replace(data=os.path.realpath(Path(self.data).expanduser()))  # a link loop: named when read

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """Rebuild a config saved in a run's metadata.

        Args:
            values: the saved fields, every one of them.

        Returns:
            The config.

        Raises:
            SettingsError: fields are missing or unknown (a run saved by another version of alzmri), named.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        missing, unknown = sorted(known - set(values)), sorted(set(values) - known)
        if missing or unknown:
            raise SettingsError(f"saved settings from another version of alzmri (missing {missing or 'none'}, "
                                f"unknown {unknown or 'none'})")
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain dict, for a run's metadata and printing."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Config] = {
    "smoke": Config(
        profile="smoke", backbone="ResNet50V2", backbone_end="conv2", synth_n_per_class=16, synth_size=64,
        synth_copies=2.0,
        synth_balance="equal", synth_slices=4, image_size=32,
        batch_size=16, head_epochs=2, finetune_epochs=1, finetune_blocks=1, val_fraction=0.2, test_fraction=0.25,
        n_boot=200, explain_images=16,
    ),
    # No ImageNet weights offline, so the CPU demo trains from scratch, where a network's cost on a CPU
    # follows its weights, not the image size (README, "Demo quality and cost"): ResNet50V2 up to the end
    # of its third stage (1.5 M of its 23.6 M weights, 4x4 maps at 64 px) trains 7x faster than the
    # whole of it and scores as well here. No stage 1: the head on a random backbone's features learns
    # nothing (measured: 0.12-0.37 validation accuracy).
    "demo": Config(
        profile="demo", backbone="ResNet50V2", backbone_end="conv3", image_size=64, head_epochs=0,
        finetune_epochs=8, finetune_blocks=-1, finetune_learning_rate=1e-3, patience=3, augment=False,
    ),
    "full": Config(
        profile="full", data="kaggle", image_size=224, weights="imagenet", batch_size=32,
        head_epochs=15, finetune_epochs=15, finetune_blocks=3, feature_passes=2,
    ),
    # The setting this project is about, sized for a free Colab T4 so that notebook 02 takes about 20 minutes.
    # Estimated, not measured (no T4 at hand): a T4 runs ResNet152V2 at 224 px with mixed precision at about
    # 100-150 images/s forward and 40-60 images/s per training step of the whole network; alzmri.notebook
    # takes 120 and 50 (a step that trains only conv5's last two blocks costs less, so 50 is on the safe
    # side). The V2 set is 200 brains x 32 slices; the subject split (15 % val, 15 % test of each class's
    # brains) trains on 141 brains: 4,512 originals, plus about 22,700 augmented copies of them in data/train.
    # - use_augmented=False: 27,000 images a stage-2 epoch would take about 9 min alone; the 4,512 originals
    #   take 90 s, and on-the-fly augmentation (augment) makes new variants every epoch instead.
    # - stage 1: backbone features of the originals cached once plus one augmented pass (feature_passes=2)
    #   and of the 928 val slices: 9,952 forward passes, about 1.5 min; its 10 epochs on cached vectors, seconds.
    # - stage 2: the top 2 blocks (conv5's last two; the rest frozen) for up to 6 epochs of about 100 s
    #   (4,512 training images at 50/s, 928 val at 120/s): about 10 min.
    # - with about 1 min per stage for building and compiling, training takes about 13.5 min
    #   (alzmri.notebook.training_seconds prints this estimate in notebook 02, from the data's real sizes).
    # - before training: installing alzmri, the Kaggle download (about 40,000 small JPEGs) and the ImageNet
    #   weights (230 MB), then index, image features and subjects (a few minutes on 2 CPU cores: benchmarks/scale.py):
    #   about 4-5 min. In all about 18 min, about 20 with checkpoints written to Google Drive; early stopping
    #   can end stage 2 sooner.
    "colab": Config(
        profile="colab", data="kaggle", split="subject", image_size=224, backbone="ResNet152V2",
        weights="imagenet", batch_size=32, use_augmented=False, augment=True, head_epochs=10, finetune_epochs=6,
        finetune_blocks=2, feature_passes=2, patience=3,
    ),
}


def get_config(profile: str | None = None, **overrides) -> Config:
    """The named preset (default: ``$ALZMRI_PROFILE`` or ``demo``) with ``overrides`` applied.

    The presets were made at import; ``runs_dir`` is read from ``$ALZMRI_RUNS`` now unless overridden.
    """
    name = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PRESETS:
        source = "argument" if profile else f"${PROFILE_ENV}"
        raise SettingsError(f"Unknown profile {name!r} (from {source}); choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**{"runs_dir": default_runs_dir(), **overrides})
