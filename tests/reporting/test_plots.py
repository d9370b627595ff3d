"""Figures say what they show (run, data), label their rows and axes, and say which training stages ran."""

import numpy as np
import pandas as pd
import pytest

from alzmri.evaluation.evaluate import explain_examples
from alzmri.reporting import plots


def test_every_evaluation_figure_names_its_run_and_its_synthetic_data(smoke_evaluation, monkeypatch, tmp_path):
    evaluation = smoke_evaluation.evaluation
    captions = {}
    real_save = plots.save_figure_to

    def recording(fig, folders, name, dpi=110):
        captions[name] = [t.get_text() for t in fig.texts]
        return real_save(fig, [tmp_path], name, dpi)

    monkeypatch.setattr(plots, "save_figure_to", recording)
    plots.save_evaluation_figures(evaluation, explain_examples(evaluation))
    assert {"confusion_matrix.png", "roc_curves.png", "reliability.png", "gradcam.png", "deletion_insertion.png",
            "randomisation.png", "training_curves.png", "confident_mistakes.png"} <= set(captions)
    for name, texts in captions.items():
        assert any(evaluation.run.path.name in t and "SYNTHETIC" in t for t in texts), name


def test_figures_of_real_data_name_the_data_not_synthetic():
    assert plots.data_caption(False, "/data/tourist55", "abcdef123456") == "data tourist55 (abcdef12)"
    assert plots.data_caption(True, "/cache/demo") == "SYNTHETIC demo data"


def test_randomisation_figure_shows_the_slice_and_labels_rows():
    cascade = [{"randomised": "head", "rank_correlation": 0.1}, {"randomised": "head + top 1 block",
                                                                   "rank_correlation": 0.0}]
    maps = [np.random.default_rng(i).random((2, 8, 8)) for i in range(3)]
    images = np.full((2, 8, 8, 3), 120.0)
    fig = plots.randomisation_cascade(cascade, maps, "conv3", images=images, row_labels=["true Mild", "true Non"])
    axes = fig.axes
    assert axes[0].get_title() == "slice" and axes[0].get_ylabel() == "true Mild"
    assert axes[-1].get_ylabel().startswith("Grad-CAM")  # the colour bar says what the colours mean
    assert "rank correlation" in fig.get_suptitle()
    plots.plt.close(fig)


@pytest.mark.parametrize("stages, label", [(["stage2"], "stage 2 only"), (["stage1", "stage2"], "then stage 2")])
def test_training_curves_say_which_stages_ran(stages, label):
    history = pd.DataFrame({"step": range(len(stages) * 2), "stage": [s for s in stages for _ in range(2)],
                            "loss": 1.0, "val_loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.5})
    fig = plots.training_curves(history)
    assert label in fig.axes[0].get_xlabel()
    plots.plt.close(fig)


def test_training_curves_tick_whole_epochs_and_mark_the_kept_one():
    """The kept epoch is the last stage's lowest val_loss (what early stopping restored), not the overall lowest."""
    history = pd.DataFrame({"step": range(7), "stage": ["stage1"] * 3 + ["stage2"] * 4,
                            "loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.5,
                            "val_loss": [0.1, 0.5, 0.6, 0.9, 0.4, 0.7, 0.8]})
    assert plots.kept_epoch(history) == 5
    assert plots.kept_epoch(history.drop(columns="val_loss")) is None
    fig = plots.training_curves(history)
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 7]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert any("kept (epoch 5)" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plots.plt.close(fig)
