"""Results in words: each verdict read off the numbers it is given, on cases with a known answer."""

import pandas as pd

from alzmri.reporting.summaries import faithfulness_verdict, lesson, randomisation_verdict, with_ci


def _report(deletion: dict, insertion: dict) -> dict:
    """A faithfulness report of Grad-CAM and a random map: ``{map: (auc, low, high)}`` per kind."""
    return {f"{kind}_auc{suffix}": {name: (v[0] if not suffix else list(v[1:])) for name, v in values.items()}
            for kind, values in (("deletion", deletion), ("insertion", insertion)) for suffix in ("", "_ci")}


def test_faithfulness_verdict_reads_the_intervals():
    lines = faithfulness_verdict(_report({"gradcam": (0.2, 0.15, 0.25), "random": (0.5, 0.45, 0.55)},
                                         {"gradcam": (0.4, 0.3, 0.6), "random": (0.5, 0.4, 0.6)})).splitlines()
    assert lines == ["deletion: Grad-CAM 0.200 vs random 0.500: the probability falls faster with Grad-CAM, "
                     "intervals apart",
                     "insertion: Grad-CAM 0.400 vs random 0.500: the probability does NOT rise faster with Grad-CAM"]


def test_randomisation_verdict_tells_flat_decorrelated_and_unchanged_maps_apart():
    def cascade(last):
        return [{"randomised": "head", "rank_correlation": 0.3}, {"randomised": "head + top 1 block",
                                                                 "rank_correlation": last}]

    assert "the maps are flat" in randomisation_verdict(cascade(None))
    assert "decorrelate" in randomisation_verdict(cascade(0.1))
    assert "explain the image more than the model" in randomisation_verdict(cascade(0.9))


def test_the_lesson_says_which_protocol_measures_memory():
    table = pd.DataFrame([
        {"protocol": "subject", "test_subjects_in_train": 0, "test_subjects": 10, "test_images_leaked": 0,
         "balanced_accuracy_shuffled": 0.26, "ci_shuffled": [0.1, 0.4], "chance_shuffled": 0.25, "unit": "subject",
         "units": 10},
        {"protocol": "naive", "test_subjects_in_train": 10, "test_subjects": 10, "test_images_leaked": 40,
         "balanced_accuracy_shuffled": 0.9, "ci_shuffled": [0.8, 0.95], "chance_shuffled": 0.25, "unit": "subject",
         "units": 10}])
    subject, naive, units = lesson(table).splitlines()
    assert subject.startswith("* subject: 0 of 10") and "honest estimate" in subject
    assert naive.startswith("* naive: 10 of 10") and "measures memory" in naive
    assert units == "Intervals resample test subjects (10, 10 per protocol), not slices."
    assert with_ci(0.5, [0.25, 0.75]) == "0.500 [0.25, 0.75]"
