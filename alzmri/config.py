"""One place for every setting: class names, presets (smoke, demo, full) and their overrides.

A preset is a frozen dataclass, so a run's settings are a value that can be printed, compared and
written into the run's metadata. Pick one by name or with the ``ALZMRI_PROFILE`` environment variable
and override single fields with keyword arguments (the CLI and the notebooks both do this).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SettingsError

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
#: Data named by a word rather than a path (see :func:`alzmri.datasets.resolve_data`).
DATA_SOURCES: tuple[str, ...] = ("demo", "kaggle", "hf")
#: The split protocols (explained in :mod:`alzmri.splits`) and the ways to find subjects (:mod:`alzmri.subjects`).
SPLIT_PROTOCOLS: tuple[str, ...] = ("subject", "image", "official", "naive")
SUBJECT_METHODS: tuple[str, ...] = ("auto", "manifest", "names", "similarity")


def default_runs_dir() -> str:
    """Where runs are saved (``ALZMRI_RUNS`` overrides), read each time a config is made, not once at import."""
    return os.environ.get("ALZMRI_RUNS", "saved_models")


def default_cache_dir() -> Path:
    """Where generated data, converted images and descriptors go (``ALZMRI_CACHE`` overrides)."""
    return Path(os.environ.get("ALZMRI_CACHE", Path.home() / ".cache" / "alzmri"))


@dataclass(frozen=True)
class Config:
    """All settings of one run; presets below, fields overridable with :func:`get_config`."""

    profile: str = "demo"
    # data
    data: str = "demo"  # "demo" (synthetic), "kaggle", "hf", or a path
    split: str = "subject"  # "subject" (honest), "image", "official" or "naive": see alzmri.splits.PROTOCOLS
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
    image_size: int = 224
    backbone: str = "ResNet152V2"
    backbone_end: str | None = None  # keep the backbone up to the end of this stage (e.g. "conv3"); None: all
    weights: str | None = None  # "imagenet", None, or a path to a local weights file
    dropout: float = 0.3
    augment: bool = True  # on-the-fly augmentation in stage 2
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
    gradcam_layer: str | None = None  # the feature map Grad-CAM explains; None: alzmri.gradcam.find_target_layer
    tensorboard: bool = False  # also log to <runs_dir>/tensorboard/<run-name>
    runs_dir: str = field(default_factory=default_runs_dir)

    def __post_init__(self) -> None:
        """Refuse impossible settings at once, naming the setting, before any data is read."""
        problems = [message for broken, message in (
            (self.image_size < 32, f"image_size must be at least 32 pixels (the backbones need it), "
                                   f"got {self.image_size}"),
            (self.batch_size < 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (self.head_epochs < 0, f"head_epochs must be 0 or more, got {self.head_epochs}"),
            (self.finetune_epochs < 0, f"finetune_epochs (--epochs) must be 0 or more, got {self.finetune_epochs}"),
            (self.head_epochs + self.finetune_epochs < 1, "head_epochs and finetune_epochs are both 0: nothing would "
                                                          "be trained"),
            (not 0 < self.duplicate_threshold <= 1,
             f"duplicate_threshold is a correlation in (0, 1], got {self.duplicate_threshold}"),
            (not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1
                  and self.val_fraction + self.test_fraction < 1),
             f"val_fraction and test_fraction must be in (0, 1) with a sum below 1, got {self.val_fraction} and "
             f"{self.test_fraction}"),
            (self.split not in SPLIT_PROTOCOLS, f"split must be one of {list(SPLIT_PROTOCOLS)}, got {self.split!r}"),
            (self.subjects not in SUBJECT_METHODS, f"subjects must be one of {list(SUBJECT_METHODS)}, "
                                                   f"got {self.subjects!r}"),
            (not 0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.patience < 0 or self.feature_passes < 1 or self.synth_slices < 1,
             "patience must be 0 or more, feature_passes and synth_slices 1 or more"),
            (self.n_boot < 10 or self.explain_images < 1, f"n_boot must be at least 10 and explain_images at least 1, "
                                                          f"got {self.n_boot} and {self.explain_images}"),
        ) if broken]
        if problems:
            raise SettingsError("; ".join(problems))

    def replace(self, **overrides) -> "Config":
        """Return a copy with some fields changed; unknown names are an error that lists the valid ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SettingsError(f"Unknown config field(s) {unknown}; valid fields: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def with_absolute_data(self) -> "Config":
        """The same settings with a data path made absolute, so a saved run reads the same folder from anywhere."""
        if self.data in DATA_SOURCES:
            return self
        return self.replace(data=str(Path(self.data).expanduser().resolve()))

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """Rebuild a config saved in a run's metadata (fields added since then keep their defaults)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict:
        """Plain dict, for metadata.json and printing."""
        return dataclasses.asdict(self)


PRESETS: dict[str, Config] = {
    "smoke": Config(
        profile="smoke", backbone="ResNet50V2", backbone_end="conv3", synth_n_per_class=16, synth_size=64,
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
