"""Every figure of the project. Each function returns a matplotlib Figure; ``save_figure`` writes it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "ipympl")) else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from .config import CLASS_NAMES  # noqa: E402


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
