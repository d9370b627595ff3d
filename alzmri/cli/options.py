"""Options shared by several commands, and turning them into a :class:`alzmri.config.Config`."""

from __future__ import annotations

import argparse

from alzmri.config import PRESETS, get_config
from alzmri.files import ensure_writable, regular_target
from alzmri.leakage.protocols import PROTOCOLS


def overrides(args: argparse.Namespace, *names: str) -> dict:
    """Config overrides for the options among ``names`` that were given on the command line."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def check_output_file(path: str | None, option: str) -> None:
    """An output file's folder must be writable and the file (or a link's target) a regular file or none yet,
    checked before the work starts.

    Raises:
        NotWritableError: the folder cannot be written, or ``path`` is a folder, a device, a pipe or a socket.
    """
    if path:
        target = regular_target(path)
        ensure_writable(target.parent, f"the folder of {option}")


def train_config(args: argparse.Namespace):
    """The preset named by --profile with the training options that were given ('none' is None)."""
    given = overrides(args, "data", "backbone", "image_size", "seed", "split", "batch_size",
                      "head_epochs", "finetune_epochs", "finetune_blocks", "tensorboard", "shuffle_labels",
                      "emissions_country", "neighbour_slices")
    if args.epochs is not None:
        given["finetune_epochs"] = args.epochs
    for name in ("weights", "backbone_end"):  # 'none' on the command line is None in the config
        value = getattr(args, name)
        if value is not None:
            given[name] = None if value.lower() == "none" else value
    return get_config(args.profile, **given)


def add_profile(p: argparse.ArgumentParser) -> None:
    """--profile: the preset."""
    p.add_argument("--profile", choices=sorted(PRESETS), help="preset (default: $ALZMRI_PROFILE or demo)")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """The preset and the model's budget: shared by ``train``, ``demo`` and ``compare``."""
    add_profile(p)
    p.add_argument("--weights", help="'imagenet', 'none' or a path to a local weights file")
    p.add_argument("--backbone", help="any supported keras.applications name, e.g. ResNet152V2")
    p.add_argument("--backbone-end", dest="backbone_end",
                   help="keep the backbone up to the end of this stage, e.g. conv3 ('none': all of it)")
    p.add_argument("--epochs", type=int, help="fine-tuning (stage 2) epochs")
    p.add_argument("--head-epochs", dest="head_epochs", type=int, help="stage 1 (head only) epochs")
    p.add_argument("--finetune-blocks", dest="finetune_blocks", type=int, help="top blocks to unfreeze (-1: all)")
    p.add_argument("--image-size", dest="image_size", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--neighbour-slices", dest="neighbour_slices", action="store_true", default=None,
                   help="2.5-D input: the three channels are a slice and its two neighbours in its brain")
    p.add_argument("--emissions-country", dest="emissions_country", metavar="ISO3",
                   help="the country whose grid the CO2 estimate of training assumes (ISO 3166 alpha-3; default USA)")


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``demo``."""
    add_model_options(p)
    p.add_argument("--data", help="'demo', 'kaggle', 'hf' or a path (default: the preset's)")
    p.add_argument("--split", choices=list(PROTOCOLS),
                   help="subject (default: no brain in two splits), image, official or naive")
    p.add_argument("--shuffle-labels", dest="shuffle_labels", action="store_true", default=None,
                   help="give every subject a random class: a model that still beats chance memorises subjects")
    p.add_argument("--run-name", dest="run_name", help="folder name under saved_models/ (same name resumes)")
    p.add_argument("--replace", action="store_true",
                   help="train a finished run of this name again (it is kept until the new one is saved)")
    p.add_argument("--tensorboard", action="store_true", default=None,
                   help="also log to saved_models/tensorboard/<run-name>/ (view with `tensorboard --logdir`)")
    p.add_argument("--strategy", choices=["auto", "none", "mirrored"], default="auto",
                   help="tf.distribute strategy (auto: TPU or several GPUs when present)")
