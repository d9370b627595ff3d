"""Every figure of the project. Each function returns a matplotlib Figure; ``save_figure`` writes it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "ipympl")) else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from alzmri.config import CLASS_NAMES  # noqa: E402
from alzmri.reporting.overlays import map_to_shape, overlay  # noqa: E402
from alzmri.safe_text import plot_text  # noqa: E402
from alzmri.voting import describe_voting  # noqa: E402

if TYPE_CHECKING:  # types for annotations only: reporting draws what evaluation computed, never calls it
    from alzmri.evaluation.evaluate import Evaluation, GradcamExamples


def _grey(path: str) -> np.ndarray:
    """An image file as a grey array for display."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def sample_grid(frame: pd.DataFrame, per_class: int = 6, title: str = "", seed: int = 0) -> plt.Figure:
    """A grid of images, one row per class (canonical order), ``per_class`` random images each."""
    fig, axes = plt.subplots(len(CLASS_NAMES), per_class, figsize=(1.6 * per_class, 1.8 * len(CLASS_NAMES)),
                             squeeze=False)
    for row, name in enumerate(CLASS_NAMES):
        members = frame[frame["class_name"] == name]
        chosen = members.sample(min(per_class, len(members)), random_state=seed) if len(members) else members
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(chosen):
                ax.imshow(_grey(chosen.iloc[col]["path"]), cmap="gray", vmin=0, vmax=255)
            if col == 0:
                ax.set_ylabel(f"{name}\n(n={len(members)})", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def intensity_histograms(frame: pd.DataFrame, per_class: int = 40, seed: int = 0) -> plt.Figure:
    """Pixel-intensity histograms per class (brain pixels only: the black background would dominate)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name in CLASS_NAMES:
        members = frame[frame["class_name"] == name]
        chosen = members.sample(min(per_class, len(members)), random_state=seed)
        pixels = np.concatenate([_grey(p).ravel() for p in chosen["path"]]) if len(chosen) else np.zeros(0)
        ax.hist(pixels[pixels > 10], bins=64, range=(10, 255), density=True, histtype="step", label=name)
    ax.set_xlabel("intensity (pixels > 10)")
    ax.set_ylabel("density")
    ax.set_title("Intensity histograms per class")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def class_balance(counts: pd.DataFrame, title: str = "Images per class") -> plt.Figure:
    """Bar chart of images per class for each subset (rows of ``counts``)."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    counts.T.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend(title="subset", fontsize=8)
    fig.tight_layout()
    return fig


def near_duplicate_pairs(pairs: list[tuple[str, str, float]], title: str = "") -> plt.Figure:
    """Side-by-side test/train images that the audit found to be near-duplicates."""
    if not pairs:
        fig, ax = plt.subplots(figsize=(4, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no near-duplicate pairs between test and train", ha="center", va="center")
        return fig
    fig, axes = plt.subplots(2, len(pairs), figsize=(1.8 * len(pairs), 4), squeeze=False)
    for col, (test_path, train_path, score) in enumerate(pairs):
        for row, (path, label) in enumerate(((test_path, "test"), (train_path, "train"))):
            ax = axes[row][col]
            ax.imshow(_grey(path), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}" + (f"  r={score:.2f}" if row == 0 else ""), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG (creating folders), close it, and return the path."""
    path = Path(path)
    return save_figure_to(fig, [path.parent], path.name, dpi)[0]


def save_figure_to(fig: plt.Figure, folders: list[Path], name: str, dpi: int = 110) -> list[Path]:
    """Write ``fig`` as ``name`` into each folder (creating them), close it, and return the paths."""
    paths = []
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(folder) / name, dpi=dpi, bbox_inches="tight")
        paths.append(Path(folder) / name)
    plt.close(fig)
    return paths


def protocol_comparison(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Balanced accuracy per protocol with true and with subject-shuffled labels, 95 % intervals and chance.

    Args:
        table: :func:`alzmri.evaluation.compare.compare_protocols`'s result.
        title: the figure's title.
    """
    x = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(1.9 * len(table) + 2.5, 3.8))
    for offset, suffix, name, colour in ((-0.2, "", "true labels", "#3b75af"),
                                         (0.2, "_shuffled", "subject-shuffled labels", "#d1803a")):
        values = table[f"balanced_accuracy{suffix}"].to_numpy()
        ci = np.array(table[f"ci{suffix}"].tolist())
        ax.bar(x + offset, values, 0.38, label=name, color=colour,
               yerr=[values - ci[:, 0], ci[:, 1] - values], capsize=4)
        ax.hlines(table[f"chance{suffix}"], x + offset - 0.19, x + offset + 0.19, colors="k", linestyles="--",
                  label="chance" if suffix else None)
    ax.set_xticks(x, [f"{p}\n{a} of {b} test subjects\nin train" for p, a, b in
                      zip(table["protocol"], table["test_subjects_in_train"], table["test_subjects"])], fontsize=8)
    ax.set_ylim(0, 1.22)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("test balanced accuracy")
    ax.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    ax.set_title(title or "True vs shuffled labels per split protocol", fontsize=10)
    fig.tight_layout()
    return fig


def subject_slices(frame: pd.DataFrame, subject: str, n: int = 6) -> plt.Figure:
    """``n`` consecutive slices of one subject (top) above other subjects of its class at the same levels.

    Neighbouring slices of one brain look nearly alike, more alike than other brains at the same level:
    why a split must keep a subject's slices together.
    """
    originals = frame[frame["kind"] == "original"]
    own = originals[originals["subject"] == subject].sort_values("slice_pos")
    if own.empty:
        raise ValueError(f"No original slices of subject {subject!r}")
    start = max(0, len(own) // 2 - n // 2)
    own = own.iloc[start:start + n]
    others = originals[(originals["class_name"] == own["class_name"].iloc[0]) & (originals["subject"] != subject)]
    fig, axes = plt.subplots(2, len(own), figsize=(1.8 * len(own), 4.2), squeeze=False)
    for col, (_, row) in enumerate(own.iterrows()):
        level = others[others["slice_pos"] == row["slice_pos"]]
        axes[0][col].imshow(_grey(row["path"]), cmap="gray")
        axes[0][col].set_title(f"{subject}, slice {row['slice_pos']}", fontsize=7)
        if len(level):
            other = level.iloc[col % len(level)]
            axes[1][col].imshow(_grey(other["path"]), cmap="gray")
            axes[1][col].set_title(f"{other['subject']}, slice {other['slice_pos']}", fontsize=7)
        for r in range(2):
            axes[r][col].axis("off")
    fig.suptitle("Top: neighbouring slices of one brain. Bottom: other brains of its class at the same levels",
                 fontsize=9)
    fig.tight_layout()
    return fig


def confusion_matrices(metrics: dict, title: str = "") -> plt.Figure:
    """Counts and row-normalised (recall per true class) confusion matrices side by side."""
    import seaborn as sns

    short = [c.replace("Demented", "") for c in CLASS_NAMES]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, fmt, name in ((axes[0], "confusion_matrix", "d", "counts"),
                               (axes[1], "confusion_matrix_normalised", ".2f", "share of each true class")):
        sns.heatmap(np.array(metrics[key]), annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax,
                    xticklabels=short, yticklabels=short, vmin=0)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    fig.suptitle(title or "Confusion matrix")
    fig.tight_layout()
    return fig


def roc_curves(labels: np.ndarray, proba: np.ndarray, title: str = "One-vs-rest ROC") -> plt.Figure:
    """One ROC curve per class present in ``labels``, with its AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for i, name in enumerate(CLASS_NAMES):
        positive = labels == i
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, proba[:, i])
            ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(positive, proba[:, i]):.2f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability_diagram(labels: np.ndarray, proba: np.ndarray, bins: int = 10, ece: float | None = None) -> plt.Figure:
    """Accuracy against confidence per bin: a calibrated model sits on the diagonal."""
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    centres = (edges[:-1] + edges[1:]) / 2
    accuracy = [correct[which == b].mean() if (which == b).any() else np.nan for b in range(bins)]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.bar(centres, accuracy, width=1 / bins, edgecolor="k", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def kept_epoch(history: pd.DataFrame) -> int | None:
    """The running epoch (1-based) whose weights the run kept: the lowest ``val_loss`` of the last stage that ran,
    as early stopping and the best-epoch checkpoint chose it; None without a validation loss."""
    if "val_loss" not in history or history["val_loss"].isna().all():
        return None
    last = history[history["stage"] == history["stage"].iloc[-1]]
    return int(history.loc[last["val_loss"].idxmin(), "step"]) + 1


def training_curves(history: pd.DataFrame) -> plt.Figure:
    """Loss and accuracy per epoch over the stages that ran, the switch to fine-tuning and the kept epoch marked."""
    from matplotlib.ticker import MaxNLocator

    stages = history["stage"].unique().tolist()
    xlabel = ("epoch (stage 1, then stage 2)" if len(stages) > 1 else
              "epoch (stage 1 only: the head)" if stages == ["stage1"] else
              "epoch (the model of the person)" if stages == ["person"] else "epoch (stage 2 only: no stage 1)")
    epochs, kept = history["step"] + 1, kept_epoch(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for column, style in ((metric, "-"), (f"val_{metric}", "--")):
            if column in history:
                ax.plot(epochs, history[column], style, marker="o", ms=3, label=column)
        switch = history.index[history["stage"] == "stage2"]
        if len(switch) and len(stages) > 1:
            ax.axvline(epochs[switch[0]] - 0.5, color="grey", lw=0.8)
            ax.text(epochs[switch[0]], ax.get_ylim()[1], " fine-tuning", va="top", fontsize=8)
        if kept is not None:
            ax.axvline(kept, color="tab:green", lw=1.2, ls=":", label=f"kept (epoch {kept})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_title(metric)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confident_mistakes(frame: pd.DataFrame, proba: np.ndarray, n: int = 8) -> plt.Figure:
    """The wrong predictions the model was surest of: often the most instructive images."""
    labels = frame["label"].to_numpy()
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-proba[wrong, predicted[wrong]])][:n]
    fig, axes = plt.subplots(1, max(1, len(order)), figsize=(2.1 * max(1, len(order)), 2.6), squeeze=False)
    for ax, i in zip(axes[0], order):
        ax.imshow(_grey(frame.iloc[i]["path"]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"true {CLASS_NAMES[labels[i]][:-8] or 'Non'}\npred {CLASS_NAMES[predicted[i]][:-8]} "
                     f"{proba[i, predicted[i]]:.2f}", fontsize=7)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    if not len(order):
        axes[0][0].text(0.5, 0.5, "no mistakes", ha="center")
    fig.suptitle("Most confident mistakes", fontsize=10)
    fig.tight_layout()
    return fig


def _heat_colour_bar(fig: plt.Figure, axes) -> None:
    """One colour bar for the Grad-CAM overlays on ``axes``: what red and blue mean."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), "jet"), ax=axes, fraction=0.025, pad=0.02)
    bar.set_label("Grad-CAM: evidence for the class\n(0 none, 1 strongest; on the brain only)", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def gradcam_gallery(images, heatmaps: np.ndarray, titles: list[str], title: str = "", across: bool = False
                    ) -> plt.Figure:
    """Each slice above its Grad-CAM overlay (``across``: beside it, one slice a row), at the slice's own shape,
    with a colour bar.

    ``images`` may be the slices as stored (any height and width, grey or RGB) while ``heatmaps`` are at the
    model's square size: each map is resized to its slice (:func:`alzmri.reporting.overlays.map_to_shape`), never the
    slice to the map, so a 176 x 208 slice is drawn 176 x 208, not squeezed. Heat is drawn on the brain only.
    """
    n = len(images)
    fig, axes = plt.subplots(n if across else 2, 2 if across else n, squeeze=False, layout="constrained",
                             figsize=(7.0, 3.4 * n) if across else (2.0 * n + 1.2, 4.6))
    pairs = axes if across else axes.T  # one (slice, overlay) pair of axes per image
    for (shown, heated), image, heat, label in zip(pairs, images, heatmaps, titles):
        grey = np.asarray(image).astype(np.uint8)
        grey = grey if grey.ndim == 2 else grey[..., :3].mean(axis=-1).astype(np.uint8)
        shown.imshow(grey, cmap="gray", vmin=0, vmax=255)
        heated.imshow(overlay(grey, map_to_shape(heat, grey.shape)))
        shown.set_title("\n".join(plot_text(line) for line in str(label).split("\n")), fontsize=9 if across else 7)
        for ax in (shown, heated):
            ax.set_xticks([])
            ax.set_yticks([])
    _heat_colour_bar(fig, pairs[:, 1].tolist())
    fig.suptitle(title or "Grad-CAM (red: evidence for the predicted class)", fontsize=10)
    return fig


def gradcam_examples(examples: GradcamExamples) -> plt.Figure:
    """Grad-CAM overlays of test slices of each class, each from a different subject (true → predicted).

    Args:
        examples: the slices and their maps (:func:`alzmri.evaluation.evaluate.explain_examples`).
    """
    picks = examples.frame
    titles = [f"{t.replace('Demented', '')}\n→ {CLASS_NAMES[p].replace('Demented', '')}"
              for t, p in zip(picks["class_name"], examples.classes)]
    kind = "SYNTHETIC slices" if examples.synthetic else "real slices, not a diagnosis"
    return gradcam_gallery([_grey(p) for p in picks["path"]], examples.maps, titles,
                           title=f"Grad-CAM on {kind}, one per subject (true → predicted), at each slice's own shape")


def deletion_insertion(report: dict, title: str = "") -> plt.Figure:
    """The explained class's mean probability as pixels are deleted (left) and inserted (right), per map."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for name, curve in report[f"{kind}_curve"].items():
            x = np.linspace(0, 1, len(curve))
            ax.plot(x, curve, marker=".", label=f"{name} (AUC {report[f'{kind}_auc'][name]:.3f})")
        ax.set_xlabel(f"share of pixels {'removed' if kind == 'deletion' else 'put back'}, most important first")
        ax.set_title(f"{kind}: {'lower' if kind == 'deletion' else 'higher'} is more faithful")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("probability of the explained class")
    fig.suptitle(title or f"Deletion and insertion on {report['images']} test images (layer {report['layer']})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def randomisation_cascade(cascade: list[dict], maps: list[np.ndarray], layer: str, title: str = "",
                          images: np.ndarray | None = None, row_labels: list[str] | None = None) -> plt.Figure:
    """The maps of a few images as more and more of the model is re-initialised, with the rank correlation.

    Args:
        cascade: the steps of :func:`alzmri.explain.faithfulness.randomisation_check`.
        maps: the maps of the same few images, the trained model's first, then one array per step.
        layer: the explained layer, for the title.
        title: a title instead of the default.
        images: the explained images as the model took them; each map is then drawn over its slice (brain
            only) and the slice alone comes first, so a reader sees what the map is about.
        row_labels: one label per image (e.g. its class), written beside its row.
    """
    from alzmri.metrics import correlation_text

    columns = ["trained"] + [step["randomised"] for step in cascade]
    slices = None if images is None else [np.asarray(i)[..., 1].astype(np.uint8) for i in images]  # the slice itself
    offset = 0 if slices is None else 1
    rows = len(maps[0])
    fig, axes = plt.subplots(rows, len(columns) + offset, figsize=(1.7 * (len(columns) + offset) + 1.0,
                                                                   1.8 * rows + 0.8), squeeze=False,
                             layout="constrained")
    for row in range(rows):
        if slices is not None:
            axes[row][0].imshow(slices[row], cmap="gray", vmin=0, vmax=255)
        for col, step_maps in enumerate(maps):
            heat = step_maps[row]
            shown = heat if slices is None else overlay(slices[row], heat)
            axes[row][col + offset].imshow(shown, **({"cmap": "jet", "vmin": 0, "vmax": 1} if slices is None else {}))
        axes[row][0].set_ylabel(row_labels[row] if row_labels else f"image {row + 1}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if slices is not None:
        axes[0][0].set_title("slice", fontsize=7)
    for col, name in enumerate(columns):
        rho = "" if col == 0 else f"\nrho {correlation_text(cascade[col - 1]['rank_correlation'])}"
        axes[0][col + offset].set_title(name.replace(" + ", "\n+ ") + rho, fontsize=7)
    _heat_colour_bar(fig, axes[:, offset:].ravel().tolist())
    fig.suptitle(title or f"Model randomisation: Grad-CAM ({layer}) as weights are re-drawn; rho: rank correlation "
                 "with the trained model's map", fontsize=9)
    return fig


def data_caption(synthetic: bool, root: str | Path, fingerprint: str = "") -> str:
    """How figures and reports name data: synthetic data always says so, other data by folder and fingerprint."""
    if synthetic:
        return "SYNTHETIC demo data"
    return f"data {Path(root).name}" + (f" ({fingerprint[:8]})" if fingerprint else "")


def stamp(fig: plt.Figure, caption: str) -> plt.Figure:
    """Write ``caption`` (what run and what data a figure shows) under the figure, and return it."""
    fig.text(0.5, -0.01, plot_text(caption), ha="center", va="top", fontsize=7, color="#444444")
    return fig


def evaluation_caption(evaluation) -> str:
    """The line under every figure of an evaluation: the run, the data it scored, split and protocol."""
    m = evaluation.metrics
    data = m.get("data", {})
    return (f"run {evaluation.run.path.name} · {data_caption(m.get('synthetic'), data.get('path', '?'), data.get('fingerprint', ''))}"
            f" · {m['split']} split, {m['split_protocol']} protocol · not a diagnosis")


def evaluation_figures_folder(evaluation) -> Path:
    """Where an evaluation's figures go: the run's ``figures/``, or ``figures/<key>/`` for other data or splits,
    so scoring other data never overwrites the figures of the run's own test split."""
    folder = evaluation.run.path / "figures"
    return folder if evaluation.key == "test" else folder / evaluation.key.replace("/", "_")


def save_evaluation_figures(evaluation: Evaluation, examples: GradcamExamples | None, extra_folders: list[Path] = ()
                            ) -> list[Path]:
    """Confusion matrix, ROC, reliability, training curves, mistakes, Grad-CAM and its checks, each stamped
    with the run and the data, into :func:`evaluation_figures_folder` and any ``extra_folders``.

    Args:
        evaluation: a run evaluated on a split (:func:`alzmri.evaluation.evaluate.evaluate_run`).
        examples: the Grad-CAM gallery's slices and maps (:func:`alzmri.evaluation.evaluate.explain_examples`;
            None for a model of the person: no gallery).
        extra_folders: folders the figures are also saved to.

    Returns:
        The paths written.
    """
    metrics, labels, proba = evaluation.metrics, evaluation.labels, evaluation.proba
    caption = evaluation_caption(evaluation)
    history_file = evaluation.run.path / "history.csv"
    makers = {
        "confusion_matrix.png": lambda: confusion_matrices(metrics, f"{metrics['split']} split, confusion matrix"),
        "roc_curves.png": lambda: roc_curves(labels, proba),
        "reliability.png": lambda: reliability_diagram(labels, proba, ece=metrics["expected_calibration_error"]),
        "confident_mistakes.png": lambda: confident_mistakes(evaluation.frame, proba),
        **({"gradcam.png": lambda: gradcam_examples(examples)} if examples is not None else {}),  # slice models
    }
    if "subject_level" in metrics:
        people = metrics["subject_level"]
        makers["confusion_matrix_subjects.png"] = lambda: confusion_matrices(
            people, f"{metrics['split']} split per subject ({describe_voting(people['voting'])})")
    if "faithfulness" in metrics:
        faith = metrics["faithfulness"]
        makers["deletion_insertion.png"] = lambda: deletion_insertion(faith)
        if evaluation.cascade_maps:
            sample = evaluation.cascade_sample
            makers["randomisation.png"] = lambda: randomisation_cascade(
                faith["randomisation"], evaluation.cascade_maps, faith["layer"],
                images=evaluation.cascade_images, row_labels=[f"true {c.replace('Demented', '')}"
                                                              for c in sample["class_name"]])
    if history_file.exists():
        makers["training_curves.png"] = lambda: training_curves(pd.read_csv(history_file))
    folders = [evaluation_figures_folder(evaluation), *map(Path, extra_folders)]
    return [path for name, make in makers.items() for path in save_figure_to(stamp(make(), caption), folders, name)]


def overlay_names(files: list[Path], suffix: str = "_gradcam.png") -> list[str]:
    """One output name per input file, never shared: its stem, or where stems collide its path from the inputs'
    common folder (``a/slice.jpg`` → ``a_slice_jpg_gradcam.png``), numbered if the same file comes twice.

    Args:
        files: the input files.
        suffix: appended to each name.

    Returns:
        The names, in the order of ``files``.
    """
    import os

    resolved = [p.resolve() for p in files]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    stems = [p.stem for p in files]
    names = [p.stem if stems.count(p.stem) == 1 else "_".join(r.relative_to(common).parts).replace(".", "_")
             for p, r in zip(files, resolved)]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return [name + suffix for name in unique]


def cross_validation(cv, title: str = "") -> plt.Figure:
    """Per-fold and pooled balanced accuracy per slice and per subject (pooled with its 95 % interval), beside the
    pooled any-dementia ROC at both levels.

    Args:
        cv: :func:`alzmri.evaluation.cv.cross_validate`'s result.
        title: the figure's title.
    """
    from sklearn.metrics import roc_curve

    summary = cv.summary
    folds = pd.DataFrame(summary["per_fold"])
    fig, (bars, roc) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.6, 1]})
    x = np.arange(len(folds) + 1)
    for offset, level, colour in ((-0.2, "slice", "#3b75af"), (0.2, "subject", "#d1803a")):
        pooled = summary[f"{level}_level"]
        values = np.append(folds[f"balanced_accuracy_{level}"].to_numpy(), pooled["balanced_accuracy"])
        bars.bar(x + offset, values, 0.38, color=colour, label=f"per {level}")
        bars.errorbar(x[-1] + offset, values[-1], [[values[-1] - pooled["ci"][0]], [pooled["ci"][1] - values[-1]]],
                      color="k", capsize=4)
        positive, score = cv.level_scores(level)
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, score)
            roc.plot(fpr, tpr, color=colour, label=f"per {level} (AUC {pooled['auc_any_dementia']:.2f})")
    bars.axhline(0.25, color="k", linestyle="--", linewidth=0.8, label="chance (4 classes)")
    names = ([f"fold {f}" for f in folds["fold"]] if summary.get("repeats", 1) == 1 else
             [f"r{r} f{f}" for r, f in zip(folds["repeat"], folds["fold"])])
    bars.set_xticks(x, names + ["pooled\n95% CI"], fontsize=8 if len(names) < 8 else 6)
    bars.set_ylim(0, 1)
    bars.set_ylabel("4-class balanced accuracy")
    bars.legend(fontsize=8, frameon=False)
    roc.plot([0, 1], [0, 1], "k--", lw=0.8)
    roc.set_xlabel("false positive rate (NonDemented called demented)")
    roc.set_ylabel("true positive rate")
    roc.set_title("any dementia vs none, pooled", fontsize=9)
    roc.legend(fontsize=8, loc="lower right")
    fig.suptitle(title or f"{summary['model']}: {summary['folds']}-fold cross-validation over subjects", fontsize=10)
    fig.tight_layout()
    return fig


def stamped_cross_validation(cv, data, title: str = "") -> plt.Figure:
    """:func:`cross_validation`'s figure with the line naming the data and the model under it."""
    caption = (f"{data_caption(data.synthetic, data.root, data.fingerprint)} · {cv.summary['model_description']}"
               " · not a diagnosis")
    return stamp(cross_validation(cv, title), caption)


def cv_models(summaries: dict[str, dict], title: str = "", caption: str = "") -> plt.Figure:
    """Several models' cross-validation side by side: 4-class balanced accuracy and any-dementia AUC, per slice
    and per subject, each pooled over the folds with its 95 % interval.

    Args:
        summaries: model name to :func:`alzmri.evaluation.cv.cross_validate`'s ``summary``.
        title: the figure's title.
        caption: the line under it (the data).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(summaries))
    panels = (("balanced_accuracy", "ci", "4-class balanced accuracy", 0.25, "chance (4 classes)"),
              ("auc_any_dementia", "ci_auc_any_dementia", "any-dementia AUC", 0.5, "chance"))
    for ax, (key, ci_key, label, chance, chance_label) in zip(axes, panels):
        for offset, level, colour in ((-0.2, "slice", "#3b75af"), (0.2, "subject", "#d1803a")):
            values = np.array([s[f"{level}_level"][key] for s in summaries.values()])
            low = np.array([s[f"{level}_level"][ci_key][0] for s in summaries.values()])
            high = np.array([s[f"{level}_level"][ci_key][1] for s in summaries.values()])
            ax.bar(x + offset, values, 0.38, color=colour, label=f"per {level}")
            ax.errorbar(x + offset, values, [values - low, high - values], fmt="none", color="k", capsize=3)
        ax.axhline(chance, color="k", linestyle="--", linewidth=0.8, label=chance_label)
        ax.set_xticks(x, list(summaries), rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel(label)
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.suptitle(title or "cross-validation over subjects, pooled out-of-fold, 95 % intervals over subjects",
                 fontsize=10)
    fig.tight_layout()
    return stamp(fig, caption) if caption else fig
