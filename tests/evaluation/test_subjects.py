"""One answer per person: the subject-level block, weighted voting, the any-dementia view, and who a file belongs to."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, recall_score, roc_auc_score

from alzmri.config import CLASS_NAMES, get_config
from alzmri.evaluation.subjects import (Reference, any_dementia_view, folder_subjects, subject_level, subject_votes,
                                        voting_weights)

MILD, NON = CLASS_NAMES.index("MildDemented"), CLASS_NAMES.index("NonDemented")


def _split(rows: list[tuple[str, int, int, list[float]]]) -> tuple[pd.DataFrame, np.ndarray]:
    """A scored split from ``(subject, label, slice_pos, probabilities)`` rows."""
    frame = pd.DataFrame([(s, label, pos, f"f{i}.png") for i, (s, label, pos, _) in enumerate(rows)],
                         columns=["subject", "label", "slice_pos", "relpath"])
    return frame, np.array([p for *_, p in rows], dtype=float)


def _proba(cls: int, confidence: float) -> list[float]:
    rest = (1 - confidence) / 3
    return [confidence if c == cls else rest for c in range(4)]


def test_soft_voting_through_the_subject_block():
    # subject a (Mild): two slices say Mild weakly, one says Non strongly; b (Non) clearly Non; one slice alone
    frame, proba = _split([("a", MILD, 0, _proba(MILD, 0.5)), ("a", MILD, 1, _proba(MILD, 0.5)),
                           ("a", MILD, 2, _proba(NON, 0.9)), ("b", NON, 0, _proba(NON, 0.8)),
                           ("b", NON, 1, _proba(NON, 0.7)), ("", NON, -1, _proba(MILD, 0.6))])
    config = get_config("smoke")
    votes = subject_votes(frame, proba)
    block = subject_level(votes, len(frame), config, None, Reference(frame, proba, "val"), n_boot=20)
    assert block["subjects"] == 3 and block["images"] == 6 and block["voting"] == "soft"
    assert "1 slice(s) have no known subject" in block["note"]
    # a: mean P(Non) = (0.5/3 * 2 + 0.9) / 3 = 0.411 > mean P(Mild) = (0.5 * 2 + 0.1/3) / 3 = 0.344 -> Non (wrong)
    expected = {"a": NON, "b": NON, "image:f5.png": MILD}
    assert dict(zip(votes.units, votes.predicted)) == expected
    truth = np.array([MILD, NON, NON])
    assert block["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, list(expected.values())))
    assert block["per_class"]["MildDemented"]["support"] == 1 and block["ci_resampled"]["count"] == 3
    assert np.array(block["confusion_matrix"]).sum() == 3


def test_weighted_voting_drops_the_positions_validation_found_useless():
    # on validation, position 2 is always wrong and positions 0-1 always right
    val, val_proba = _split([(f"v{i}", label, pos, _proba(label if pos < 2 else (label + 1) % 4, 0.9))
                             for i, label in enumerate([MILD, NON, MILD, NON]) for pos in range(3)])
    test, test_proba = _split([("a", MILD, 0, _proba(MILD, 0.5)), ("a", MILD, 1, _proba(MILD, 0.5)),
                               ("a", MILD, 2, _proba(NON, 0.9))])
    config = get_config("smoke").replace(voting="weighted", voting_threshold=0.25)
    reference = Reference(val, val_proba, "val")
    weights = voting_weights(config, reference)
    assert weights == {0: 1.0, 1: 1.0, 2: 0.0}
    soft, weighted = subject_votes(test, test_proba), subject_votes(test, test_proba, weights)
    assert soft.predicted.tolist() == [NON] and weighted.predicted.tolist() == [MILD]
    assert weighted.proba[0] == pytest.approx(test_proba[:2].mean(axis=0))
    block = subject_level(weighted, len(test), config, weights, reference, n_boot=10)
    assert block["voting"] == "weighted" and block["weights_from"] == "val"
    assert block["position_weights"] == {"0": 1.0, "1": 1.0, "2": 0.0}
    assert voting_weights(config.replace(voting="soft"), reference) is None


def test_weighted_voting_without_slice_positions_falls_back_to_soft_and_says_so():
    frame, proba = _split([("a", MILD, -1, _proba(MILD, 0.6)), ("b", NON, -1, _proba(NON, 0.6))])
    config = get_config("smoke").replace(voting="weighted")
    reference = Reference(frame, proba, "val")
    assert voting_weights(config, reference) is None
    block = subject_level(subject_votes(frame, proba), 2, config, None, reference, n_boot=10)
    assert block["voting"] == "soft" and "needs slice positions" in block["voting_note"]


def _random_split(n_subjects: int, slices: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n_subjects)
    rows = []
    for s, label in enumerate(labels):
        for pos in range(slices):
            logits = rng.normal(0, 1, 4)
            logits[label] += 1.0
            rows.append((f"s{s}", int(label), pos, list(np.exp(logits) / np.exp(logits).sum())))
    return _split(rows)


def test_any_dementia_matches_scikit_learn_at_cut_offs_chosen_on_validation():
    from alzmri.metrics import any_dementia_threshold

    val, val_proba = _random_split(20, 5, seed=1)
    test, test_proba = _random_split(30, 5, seed=2)
    reference = Reference(val, val_proba, "val")
    votes = subject_votes(test, test_proba)
    view = any_dementia_view(test["label"].to_numpy(), test_proba, test["subject"].to_numpy(), "subject", votes,
                             reference, None, n_boot=30, seed=0)
    assert view["threshold_from"] == "val" and "note" not in view
    held = subject_votes(val, val_proba)
    cuts = {"slice_level": any_dementia_threshold(val["label"].to_numpy(), val_proba),
            "subject_level": any_dementia_threshold(held.labels, held.proba)}
    for level, labels, proba in (("slice_level", test["label"].to_numpy(), test_proba),
                                 ("subject_level", votes.labels, votes.proba)):
        block, demented, score = view[level], labels != NON, 1 - proba[:, NON]
        assert block["threshold"] == cuts[level]
        assert block["auc"] == pytest.approx(roc_auc_score(demented, score))
        called = score >= cuts[level]
        assert block["sensitivity"] == pytest.approx(recall_score(demented, called))
        assert block["specificity"] == pytest.approx(recall_score(~demented, ~called))
        assert block["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(demented, called))
        assert block["positives"] + block["negatives"] == len(labels)
    assert view["subject_level"]["subjects"] == 30 and view["subject_level"]["ci_resampled"]["count"] == 30
    alone = any_dementia_view(test["label"].to_numpy(), test_proba, test["subject"].to_numpy(), "subject", votes,
                              Reference(test, test_proba, "test"), None, n_boot=10, seed=0)
    assert alone["threshold_from"] == "test" and "optimistic" in alone["note"]


def test_folder_subjects_one_sub_folder_a_brain(tmp_path):
    brains = tmp_path / "brains"
    files = [brains / "anna" / "1.png", brains / "anna" / "deeper" / "2.png", brains / "ben" / "1.png",
             brains / "loose.png", tmp_path / "elsewhere" / "x.png"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    found = folder_subjects([str(brains), str(files[-1])], files)
    assert found.tolist() == [str(brains / "anna")] * 2 + [str(brains / "ben"), str(brains),
                                                          str(tmp_path / "elsewhere")]


def test_similarity_finds_the_brains_of_a_pooled_folder(small_root):
    """Slices of three synthetic brains, pooled without names or classes, come back as three brains."""
    from alzmri.data import synthetic
    from alzmri.evaluation.subjects import similarity_subjects
    from alzmri.leakage.similarity import compute_features
    from alzmri.leakage.subjects import adjusted_rand, neighbour_evidence

    manifest = synthetic.read_manifest(small_root)
    originals = manifest[manifest["kind"] == "original"]
    evidence = neighbour_evidence(compute_features([str(small_root / p) for p in originals["path"]],
                                                   progress=False).slice,
                                  originals["class_name"].map(CLASS_NAMES.index).to_numpy())
    chosen = originals[originals["subject"].isin(originals["subject"].drop_duplicates().iloc[[0, 5, 9]])]
    found = similarity_subjects([small_root / p for p in chosen["path"]], evidence)
    assert len(set(found)) == 3 and all(f.startswith("brain-") for f in found)
    assert adjusted_rand(chosen["subject"].to_numpy(), found) == pytest.approx(1.0)


def test_an_unknown_way_to_find_subjects_is_a_settings_error_naming_the_choices():
    from alzmri.errors import SettingsError
    from alzmri.evaluation.predict import predict_subjects_report

    with pytest.raises(SettingsError, match=r"subjects must be one of \['folders', 'similarity'\], got 'names'"):
        predict_subjects_report(None, [], [], "names")  # refused before any model or file is touched


def test_weighted_voting_that_drops_every_position_is_called_soft_and_says_so():
    frame, proba = _split([("a", MILD, 0, _proba(MILD, 0.6)), ("a", MILD, 1, _proba(NON, 0.6))])
    config = get_config("smoke").replace(voting="weighted", voting_threshold=1.0)
    weights = {0: 0.0, 1: 0.0}  # no position reached a perfect score on validation
    block = subject_level(subject_votes(frame, proba, weights), 2, config, weights, Reference(frame, proba, "val"),
                          n_boot=10)
    assert block["voting"] == "soft" and "dropped every slice position" in block["voting_note"]
    assert "threshold 1" in block["voting_note"]


def test_folder_notes_name_empty_sub_folders_and_brains_spread_over_folders(tmp_path):
    from alzmri.evaluation.subjects import folder_notes

    root = tmp_path / "given"
    files = [root / "siteA" / "Non-008" / "1.png", root / "siteA" / "Mild-008" / "1.png", root / "anna" / "1.png"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    (root / "empty-brain").mkdir()
    notes = folder_notes([str(root)], files)
    assert any("without images, so no brain: empty-brain" in n for n in notes)
    assert any(f"{root / 'siteA'} holds images in 2 folders below it, taken as one brain" in n for n in notes)
    assert not any("anna" in n for n in notes)
