import numpy as np

from alzmri import leakage, synthetic
from alzmri.config import get_config
from alzmri.data import audit_splits
from alzmri.evaluate import thumbnail_baseline


def test_descriptor_survives_the_augmentations():
    rng = np.random.default_rng(0)
    image, mask = synthetic.render_slice(synthetic.draw_subject(rng, 1), 128, rng)
    other, _ = synthetic.render_slice(synthetic.draw_subject(np.random.default_rng(1), 1), 128, rng)
    base = leakage.image_descriptor(image)
    copies = [leakage.image_descriptor(synthetic.augment(image, mask, np.random.default_rng(s))[0]) for s in range(8)]
    copies.append(leakage.image_descriptor(image[:, ::-1]))
    copies.append(leakage.image_descriptor(image[::-1]))
    _, same = leakage.best_match(np.stack(copies), base[None])
    _, different = leakage.best_match(leakage.image_descriptor(other)[None], base[None])
    threshold = get_config().duplicate_threshold
    assert (same >= threshold).all() and different[0] < threshold


def test_audit_recovers_the_manifest_mapping(medium_index, medium_descriptors):
    precision, recall = leakage.mapping_quality(medium_index.frame, medium_descriptors,
                                                get_config().duplicate_threshold)
    assert precision >= 0.95 and recall >= 0.95


def test_grouping_does_not_merge_distinct_originals(medium_index, medium_descriptors):
    originals = np.flatnonzero(medium_index.frame["kind"] == "original")
    groups = leakage.group_near_duplicates(medium_descriptors[originals], get_config().duplicate_threshold)
    assert len(np.unique(groups)) >= 0.95 * len(originals)


def test_audit_shows_naive_leaks_and_grouped_does_not(medium_index):
    table = audit_splits(medium_index, get_config("demo"), progress=False).set_index(["split", "pair"])
    assert table.loc[("grouped", "train→test"), "leaked"] == 0
    assert table.loc[("grouped", "train→val"), "leaked"] == 0
    assert table.loc[("naive", "train→test"), "leaked_fraction"] > 0.5


def test_thumbnail_baseline_stays_modest(medium_grouped):
    """The synthetic task must not be solvable by a linear model on thumbnails (else it teaches nothing)."""
    score = thumbnail_baseline(medium_grouped)
    assert 0.3 < score <= 0.75
