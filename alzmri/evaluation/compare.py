"""The leakage lesson, measured: one model on every split protocol, with true and with shuffled labels.

Each protocol's split is scored twice by the same model and budget: once with the true labels and once
with **subject-shuffled** labels (every subject gets a random class, class sizes kept, the same labels in
train and test; see :func:`alzmri.leakage.prepared.shuffle_labels`). Shuffled labels say nothing about disease. A
model that still beats chance on them has recognised subjects it saw in training, so on that protocol
its true-label score measures memory as much as medicine (Yagis et al., Sci Rep 2021).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from alzmri.config import Config, describe_backbone
from alzmri.data.datasets import DataWarning
from alzmri.errors import SettingsError
from alzmri.evaluation.baselines import DESCRIPTIONS, baseline_probabilities
from alzmri.leakage.copies import leaks
from alzmri.leakage.split_file import ListedSplit
from alzmri.metrics import any_dementia_scores, balanced_accuracy, chance_level, describe_units, statistic_interval
from alzmri.leakage.prepared import PreparedData, independent_units
from alzmri.leakage.protocols import available_protocols

MODELS = ("probe", "thumbnail", "atrophy", "cnn", "person")
#: The models trained by Keras (minutes); the others fit in seconds.
TRAINED = ("cnn", "person")
OTHERS = tuple(m for m in MODELS if m != "cnn")  # the models a split made elsewhere can be scored with


def describe_model(model: str, config: Config) -> str:
    """What ``model`` is, in words: a baseline's description, or the CNN's backbone and preset."""
    if model == "person":
        from alzmri.models.person import describe_person

        return describe_person(config)
    if model == "cnn":
        depth = ", 2.5-D input (a slice and its two neighbours)" if config.neighbour_slices else ""
        return f"{describe_backbone(config.backbone, config.backbone_end)}, {config.profile} preset{depth}"
    return DESCRIPTIONS[model]


def held_out_probabilities(model: str, data: PreparedData, config: Config, parts: tuple[str, ...] = ("test",),
                           run_name: str | None = None, progress: bool = False) -> dict[str, np.ndarray]:
    """Four-class probabilities of ``model`` trained on ``data``'s train split, for each split in ``parts``.

    Args:
        model: one of :data:`MODELS`: a baseline (:func:`alzmri.evaluation.baselines.baseline_probabilities`,
            seconds), ``cnn``, the project's classifier trained with ``config`` (a finished run is reused), or
            ``person``, the model of the person (:mod:`alzmri.models.person`, trained anew: no run is kept).
        data: split data.
        config: the settings (the CNN's preset and budget).
        parts: the splits to predict.
        run_name: the CNN run's folder name (default: from the settings).
        progress: show what is being trained.

    Returns:
        ``{part: (images, 4) probabilities}`` in the order of ``data.part(part)``.
    """
    if model not in MODELS:
        raise SettingsError(f"model must be one of {list(MODELS)}, got {model!r}")
    if model == "person":
        from alzmri.models.person import person_probabilities

        train = data.part("train")
        return person_probabilities(train[train["kind"] == "original"], data.part("val"),
                                    {part: data.part(part) for part in parts}, config, progress)
    if model != "cnn":
        split = data.frame["split"].to_numpy()
        return {part: baseline_probabilities(model, data, split == part) for part in parts}
    from alzmri.models.classifier import predict_frame
    from alzmri.models.runs import load_run
    from alzmri.models.training import get_or_train

    run = load_run(get_or_train(config, run_name=run_name, data=data, progress=progress))
    return {part: predict_frame(run.model, data.part(part), run.image_size, config.batch_size,
                                neighbours=config.neighbour_slices) for part in parts}


def any_dementia_auc(labels: np.ndarray, proba: np.ndarray) -> float:
    """The AUC of P(any dementia) = 1 - P(NonDemented) for any dementia against none (nan where a side is absent)."""
    return any_dementia_scores(labels, proba, 0.5)["auc"]  # the AUC does not depend on the threshold


def _score(labels: np.ndarray, proba: np.ndarray, units: np.ndarray, n_boot: int, seed: int) -> dict:
    """Balanced accuracy of test predictions and the any-dementia AUC, their intervals over ``units``, and chance."""
    predicted = proba.argmax(axis=1)
    with np.errstate(invalid="ignore"):
        return {"balanced_accuracy": balanced_accuracy(labels, predicted),
                "ci": statistic_interval(lambda rows: balanced_accuracy(labels[rows], predicted[rows]), units,
                                         n_boot, seed),
                "chance": chance_level(labels, predicted),
                "auc_any_dementia": any_dementia_auc(labels, proba),
                "ci_auc_any_dementia": statistic_interval(lambda rows: any_dementia_auc(labels[rows], proba[rows]),
                                                          units, n_boot, seed)}


def _leaks(split: PreparedData) -> dict:
    """Test images and subjects, and how many of them are also in train."""
    test = leaks(split.frame, "test")
    return {"test_images": test.images, "test_subjects": test.subjects,
            "test_subjects_in_train": test.subjects_in_train, "test_images_leaked": test.images_leaked}


def held_out_as_test(split: PreparedData) -> PreparedData:
    """A split with no test split but a val split, its val scored as the held-out split (renamed test)."""
    names = set(split.frame["split"])
    if "test" in names or "val" not in names:
        return split
    return split.with_split(split.frame["split"].replace({"val": "test"}).to_numpy(object), split.protocol)


def _compare_row(name: str, split: PreparedData, config: Config, model: str, n_boot: int | None,
                 progress: bool) -> dict:
    """One split scored with true and with subject-shuffled labels: leak counts, both scores, the resampled units."""
    units, unit = independent_units(split.part("test"))
    row = {"protocol": name, **_leaks(split), "unit": unit, "units": describe_units(units, unit)["count"]}
    labellings = (("", split, False), ("_shuffled", split.with_shuffled_labels(config.seed), True))
    for suffix, labelled, shuffled in labellings:
        if progress and model in TRAINED:
            print(f"compare: training on the {name} split, {'shuffled' if shuffled else 'true'} labels")
        proba = held_out_probabilities(model, labelled, config.replace(shuffle_labels=shuffled), progress=progress)
        score = _score(labelled.part("test")["label"].to_numpy(), proba["test"], units, n_boot or config.n_boot,
                       config.seed)
        row.update({f"{k}{suffix}": v for k, v in score.items()})
    return row


def compare_protocols(data: PreparedData, config: Config, protocols: list[str] | None = None, model: str = "probe",
                      n_boot: int | None = None, progress: bool = True,
                      given: list[ListedSplit] | None = None) -> pd.DataFrame:
    """Score ``model`` on each protocol's split with true and with subject-shuffled labels.

    Args:
        data: annotated data (features and subjects) with its true labels, e.g. from
            :func:`alzmri.leakage.prepared.prepare_data`; it is re-split by each protocol.
        config: the preset; its ``split`` and ``shuffle_labels`` are set per comparison.
        protocols: which protocols (default: every one the data allows; only ``subject`` beside ``given`` splits).
        model: ``probe`` (1-nearest-neighbour on 32 x 32 pose-normalised thumbnails, seconds), ``thumbnail`` or
            ``atrophy`` (logistic regressions, seconds), or ``cnn`` (the project's classifier trained with
            ``config``: two trainings per protocol).
        n_boot: bootstrap resamples of the test units (subjects, else copy groups); default ``config.n_boot``.
        progress: print what is being trained (cnn).
        given: splits made elsewhere (:func:`alzmri.leakage.audit.given_split`), scored first under their own
            names, their val split as the held-out one where they have no test split (baselines only).

    Returns:
        One row per split: leak counts, ``balanced_accuracy`` / ``ci`` / ``chance`` / ``auc_any_dementia`` /
        ``ci_auc_any_dementia`` for the true labels, the same with a ``_shuffled`` suffix, and the resampled
        ``unit`` and ``units``.
    """
    if model not in MODELS:
        raise SettingsError(f"model must be one of {list(MODELS)}, got {model!r}")
    if given and model == "cnn":  # its runs are named and reused by protocol, not by a split made elsewhere
        raise SettingsError("--model cnn scores alzmri's own protocols only; on a split made elsewhere (--split-file, "
                            f"--split) use {', '.join(OTHERS[:-1])} or {OTHERS[-1]}")
    allowed = available_protocols(data.frame)
    protocols = protocols or (["subject"] if given else allowed)
    unknown = [p for p in protocols if p not in allowed]
    if unknown:
        raise SettingsError(f"This data does not allow the protocol(s) {unknown}; it allows {allowed}")
    plain = config.replace(shuffle_labels=False)
    rows = [_compare_row(listed.name, held_out_as_test(data.with_split(listed.split, listed.name)), plain, model,
                         n_boot, progress) for listed in given or []]
    for protocol in protocols:
        cfg = plain.replace(split=protocol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # missing classes show in the chance column
            split = data.with_protocol(protocol, cfg)
        rows.append(_compare_row(protocol, split, cfg, model, n_boot, progress))
    return pd.DataFrame(rows)


def comparison_json(table: pd.DataFrame, model: str) -> dict:
    """``{protocol: {...}}`` for ``--json``: scores, intervals, chance, the any-dementia AUC, test images and leaks,
    the resampled unit."""
    keys = ["balanced_accuracy", "balanced_accuracy_shuffled", "chance", "chance_shuffled", "ci", "ci_shuffled",
            "auc_any_dementia", "ci_auc_any_dementia", "auc_any_dementia_shuffled", "ci_auc_any_dementia_shuffled",
            "test_images", "test_subjects", "test_subjects_in_train", "test_images_leaked", "unit", "units"]
    return {row["protocol"]: {"model": model, **{k: row[k] for k in keys}} for row in table.to_dict("records")}
