"""Deterministic synthetic MRI-like demo slices: subjects with stacks of slices, in the Kaggle layouts.

The real dataset cannot be downloaded here (and is never committed), so the demo, the tests and CI
run on slices drawn from a seed. They imitate skull-stripped axial T1 slices: bright white matter,
grey cortex folded into gyri and sulci, dark CSF, butterfly-shaped lateral ventricles, black
background. Atrophy grows with severity (wider ventricles and sulci, thinner cortex, a shrunken
medial temporal region) with overlap between neighbouring classes.

Like the real set (200 brains x 32 consecutive axial slices), each synthetic *subject* is a stack of
consecutive slices whose anatomy changes smoothly with the level, so neighbouring slices of one brain
look nearly alike and different brains do not: the reason a slice-level split leaks. Every slice has a
mask of where the class evidence lies; ``manifest.csv`` records each image's subject, slice position
and (for augmented copies) its original, so the subject recovery, the leakage audit and Grad-CAM have
known answers. Everything here is SYNTHETIC: it teaches the method, it says nothing about real patients.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from alzmri.config import CLASS_NAMES, REAL_CLASS_SHARE, SEVERITY_RANK, SYNTH_SEED, Config, range_problems
from alzmri.errors import OutputExistsError, SettingsError
from alzmri.files import file_lock
from alzmri.progress import show_bars

#: Mean atrophy of each severity rank; the spread around it makes neighbouring classes overlap.
RANK_SEVERITY = (0.0, 0.33, 0.66, 1.0)
SEVERITY_SD = 0.08
VENTRICLE_STRETCH = 0.15  # the ventricles lengthen by this share per unit of severity
CUE_SD = 0.07  # each cue (ventricles, sulci, cortex, temporal) varies on its own around the subject's atrophy
MIN_CLASS_SHARE = 0.06  # floor under the rare Moderate class, so a test split still holds a few
SLICE_STEP = 0.06  # axial distance between neighbouring slices, in units of the level (0 = bottom, 1 = top)
LAYOUTS = {
    "v2": {"original": "data/val", "augmented": "data/train"},
    "v1": {"original": "OriginalDataset", "augmented": "AugmentedAlzheimerDataset"},
    # the source set's own slice-level split: the lower slices of every subject in train, the rest in test
    "source": {"original": "train", "held_out": "test"},
}
SOURCE_TRAIN_SHARE = 0.8  # 5,121 of the real source set's 6,400 slices are in its train folder
ORIGINAL_STEMS = {"MildDemented": "mildDem", "ModerateDemented": "moderateDem",
                  "NonDemented": "nonDem", "VeryMildDemented": "verymildDem"}
MASK_DIR = "_masks"  # folders starting with "_" are never read as class folders
MANIFEST = "manifest.csv"
PARAMS_FILE = "synthetic.json"
GENERATOR_VERSION = 4  # bump when the images or masks change, so cached datasets are regenerated


@dataclass(frozen=True)
class Subject:
    """Anatomy and acquisition of one synthetic brain, drawn once from its own random stream.

    ``level`` is the axial position of the slice being rendered (0.5 = through the middle of the
    ventricles); :func:`slice_at` moves it, everything else is the subject's own and stays fixed.
    """

    severity: float
    rotation: float
    shift: tuple[float, float]
    half_axes: tuple[float, float]
    outline: tuple[tuple[float, float], ...]
    n_folds: int
    fold_warp: tuple[float, ...]
    fold_depths: tuple[float, ...]
    sulcus_width: float
    cortex: float
    fissure_width: float
    ventricle_scale: tuple[float, float]  # left/right size of the ventricles relative to the cue
    ventricle_width: tuple[float, float]
    ventricle_length: float
    ventricle_offset: float
    temporal_radius: float
    contrast: float
    gamma: float
    bias: tuple[float, float, float]
    noise: float
    texture_seed: int = 0
    level: float = 0.5


def cue_sizes(cue: float) -> dict[str, float]:
    """Sizes of the CSF spaces for an atrophy cue (0 = none, 1 = the Moderate mean)."""
    return {"sulcus_width": 0.006 + 0.020 * cue, "fissure_width": 0.006 + 0.012 * cue,
            "ventricle_width": 0.022 + 0.045 * cue, "temporal_radius": 0.010 + 0.030 * cue}


def draw_subject(rng: np.random.Generator, rank: int) -> Subject:
    """Draw a subject of the given severity rank (0 = NonDemented ... 3 = ModerateDemented)."""
    severity = max(0.0, RANK_SEVERITY[rank] + rng.normal(0, SEVERITY_SD))

    def cue() -> float:
        return max(0.0, severity + rng.normal(0, CUE_SD))

    shrink = 1 - 0.02 * severity
    # One statement per draw, in a fixed order: the order of the draws is what keeps a seed's images stable.
    rotation = float(np.deg2rad(rng.uniform(-15, 15)))
    shift = tuple(rng.uniform(-0.12, 0.12, 2))
    half_axes = (rng.uniform(0.60, 0.70) * shrink, rng.uniform(0.78, 0.88) * shrink)
    outline = tuple(zip(rng.normal(0, 0.015, 4), rng.uniform(0, 2 * np.pi, 4)))
    n_folds = int(rng.integers(20, 27))
    fold_warp = tuple(rng.uniform(0, 2 * np.pi, 3))
    fold_depths = tuple(rng.uniform(0.12, 0.30, 40))
    sulcus_width = cue_sizes(cue())["sulcus_width"]
    cortex = max(0.025, 0.07 - 0.03 * cue() + rng.normal(0, 0.005))
    fissure_width = cue_sizes(cue())["fissure_width"]
    ventricle_base = cue_sizes(cue())["ventricle_width"]
    ventricle_scale = tuple(rng.uniform(0.85, 1.15, 2))
    return Subject(
        severity=severity, rotation=rotation, shift=shift, half_axes=half_axes, outline=outline, n_folds=n_folds,
        fold_warp=fold_warp, fold_depths=fold_depths, sulcus_width=sulcus_width, cortex=cortex,
        fissure_width=fissure_width, ventricle_scale=ventricle_scale,
        ventricle_width=tuple(ventricle_base * u for u in ventricle_scale),
        ventricle_length=rng.uniform(0.22, 0.28) * (1 + VENTRICLE_STRETCH * severity),
        ventricle_offset=rng.uniform(-0.08, 0.0),
        temporal_radius=cue_sizes(cue())["temporal_radius"],
        contrast=rng.uniform(0.85, 1.1),
        gamma=rng.uniform(0.85, 1.2),
        bias=tuple(rng.uniform(-0.12, 0.12, 3)),
        noise=rng.uniform(0.015, 0.04),
        texture_seed=int(rng.integers(2**31)),
    )


def slice_at(s: Subject, level: float) -> Subject:
    """The same subject cut at another axial level (see :func:`_at_level` for what changes)."""
    return dataclasses.replace(s, level=float(level))


def stack_levels(n_slices: int, rng: np.random.Generator) -> np.ndarray:
    """Axial levels of ``n_slices`` consecutive slices, ``SLICE_STEP`` apart, around the ventricles."""
    start = 0.5 - SLICE_STEP * (n_slices - 1) / 2 + rng.uniform(-0.03, 0.03)
    return start + SLICE_STEP * np.arange(n_slices)


def _at_level(s: Subject) -> Subject:
    """The anatomy seen at ``s.level``: the brain narrows away from the middle, the ventricles move and
    shrink, the temporal pockets fade towards the top and the folds drift, all smoothly, so neighbouring
    slices of one brain differ a little and slices far apart a lot, as in a real stack."""
    z = s.level - 0.5
    outline = float(np.sqrt(max(0.5, 1 - 1.0 * z * z)))
    ventricles = max(0.4, 1 - 2.5 * z * z)
    return dataclasses.replace(
        s,
        half_axes=(s.half_axes[0] * outline, s.half_axes[1] * outline),
        ventricle_width=tuple(w * ventricles for w in s.ventricle_width),
        ventricle_length=s.ventricle_length * (0.6 + 0.4 * ventricles),
        ventricle_offset=s.ventricle_offset + 0.6 * z,
        temporal_radius=s.temporal_radius * float(np.clip(1 - 2.5 * z, 0.3, 1.5)),
        fold_warp=tuple(p + 8.0 * z for p in s.fold_warp),
    )


def at_full_atrophy(s: Subject) -> Subject:
    """The same brain with every CSF space at least as wide as at full (Moderate-mean) atrophy."""
    full = cue_sizes(1.0)
    widths = tuple(max(w, full["ventricle_width"] * u) for w, u in zip(s.ventricle_width, s.ventricle_scale))
    stretch = (1 + VENTRICLE_STRETCH * max(s.severity, 1.0)) / (1 + VENTRICLE_STRETCH * s.severity)
    return dataclasses.replace(
        s,
        sulcus_width=max(s.sulcus_width, full["sulcus_width"]),
        fissure_width=max(s.fissure_width, full["fissure_width"]),
        ventricle_width=widths,
        ventricle_length=s.ventricle_length * stretch,
        temporal_radius=max(s.temporal_radius, full["temporal_radius"]),
    )


def _ventricles(bx: np.ndarray, by: np.ndarray, s: Subject) -> np.ndarray:
    """Two banana-shaped lateral ventricles, close at the septum and flaring into horns (a butterfly)."""
    t = (by - s.ventricle_offset) / s.ventricle_length
    inside = np.zeros(bx.shape, bool)
    for side, width in zip((-1.0, 1.0), s.ventricle_width):
        w = width * (0.6 + 0.9 * t**2 - 0.35 * t) * np.sqrt(np.clip(1 - t**4, 0, 1))  # frontal horns wider
        centre = 0.018 + w + 0.9 * (t * s.ventricle_length) ** 2
        inside |= (np.abs(t) < 1) & (np.abs(side * bx - centre) < w)
    return inside


def _texture(s: Subject, size: int) -> np.ndarray:
    """White-matter texture of the subject at its level: two fixed smooth fields blended by the level."""
    fields = np.random.default_rng(s.texture_seed).normal(0, 1, (2, size, size))
    a, b = (ndimage.gaussian_filter(f, size / 20) for f in fields)
    angle = 10.0 * (s.level - 0.5)
    return np.cos(angle) * a + np.sin(angle) * b


def _brain_frame(s: Subject, size: int) -> dict[str, np.ndarray]:
    """Pixel grid in the subject's own brain coordinates: position, angle and radius within the outline."""
    lin = (np.arange(size) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(lin, lin, indexing="ij")
    cos, sin = np.cos(s.rotation), np.sin(s.rotation)
    bx = cos * (x - s.shift[0]) + sin * (y - s.shift[1])
    by = -sin * (x - s.shift[0]) + cos * (y - s.shift[1])
    hw, hh = s.half_axes
    theta = np.arctan2(by / hh, bx / hw)
    outline = 1 + sum(a * np.cos((k + 2) * theta + p) for k, (a, p) in enumerate(s.outline))
    outline *= 1 + 0.06 * by  # egg-shaped: the frontal lobe (top) is narrower
    rho = np.hypot(bx / hw, by / hh) / outline
    return {"x": x, "y": y, "bx": bx, "by": by, "theta": theta, "rho": rho, "brain": rho < 1}


def _anatomy(s: Subject, f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Masks of the subject's CSF spaces (sulci, fissure, ventricles, temporal pockets), hippocampi and grey matter."""
    bx, by, theta, rho, brain = f["bx"], f["by"], f["theta"], f["rho"], f["brain"]
    hw, hh = s.half_axes
    # Sulci: dark clefts running in from the surface, each lined with grey cortex (the gyri's walls);
    # a shallower cleft between two deep ones gives the gyri their folded look.
    p1, p2, p3 = s.fold_warp
    phase = s.n_folds * theta + 0.9 * np.sin(2 * theta + p1) + 0.6 * np.sin(5 * theta + p2)
    phase += (1 - rho) * (8.0 * np.sin(9 * theta + p3) + 5.0 * np.sin(17 * theta + p1 + p2))
    phase += 0.5 * np.sin(30 * rho + 4 * theta + p3)  # zig-zag along each cleft
    sulci = np.zeros_like(brain)
    grey = brain & (rho > 1 - s.cortex)
    for offset, depth_scale in ((0.0, 1.0), (0.5, 0.45)):
        turns = phase / (2 * np.pi) + offset
        fold = np.floor(turns).astype(int) % len(s.fold_depths)
        depth = np.asarray(s.fold_depths)[fold] * depth_scale
        arc = np.abs(turns - np.floor(turns) - 0.5) * (2 * np.pi * 0.75 * rho / s.n_folds)
        width = s.sulcus_width * np.clip((rho - (1 - depth)) / depth, 0, 1) ** 0.7
        sulci |= brain & (rho > 1 - depth) & (arc < width)
        grey |= brain & (rho > 1 - depth - 0.5 * s.cortex) & (arc < width + s.cortex * 0.55)

    # Interhemispheric fissure at the front and back of the midline.
    midline = np.abs(by) / hh > 0.55
    fissure = brain & midline & (np.abs(bx) < s.fissure_width)
    grey |= brain & midline & (np.abs(bx) < s.fissure_width + 0.7 * s.cortex)

    ventricles = _ventricles(bx, by, s)
    # Medial temporal region: CSF pockets beside the hippocampi widen as they shrink.
    temporal, hippocampi = np.zeros_like(brain), np.zeros_like(brain)
    for side in (-1.0, 1.0):
        r = np.hypot((bx - side * 0.40 * hw) / 2.2, by - 0.36 * hh)
        temporal |= r < s.temporal_radius
        hippocampi |= r < s.temporal_radius + 0.05
        grey |= r < s.temporal_radius + 0.02
    return {"csf": sulci | fissure | ventricles | temporal, "ventricles": ventricles, "hippocampi": hippocampi,
            "grey": grey}


def _evidence_mask(s: Subject, f: dict[str, np.ndarray]) -> np.ndarray:
    """Where the class evidence lies: the CSF spaces as wide as they are, or would be at full atrophy.

    ``s`` is the subject (not yet moved to its level) and ``f`` the frame of its slice.

    The same places decide every class: wide ventricles, sulci and temporal pockets say "atrophy", narrow
    ones say "none", so a healthy slice's evidence is the tissue that atrophy would turn into CSF.
    """
    widest = _anatomy(_at_level(at_full_atrophy(s)), f)
    return f["brain"] & (widest["csf"] | widest["hippocampi"] | ndimage.binary_dilation(widest["ventricles"]))


def render_slice(subject: Subject, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render the subject's slice at its level as uint8 (size x size) plus a mask of the class evidence.

    ``rng`` draws only this slice's acquisition noise; the anatomy and texture are the subject's own.
    """
    s = _at_level(subject)
    f = _brain_frame(s, size)
    x, y, brain = f["x"], f["y"], f["brain"]
    parts = _anatomy(s, f)
    image = np.where(brain, 0.85, 0.0)
    image[parts["grey"]] = 0.52
    image[parts["csf"] & brain] = 0.10
    image += 0.4 * _texture(s, size) * brain
    sigma = max(0.5, 0.7 * size / 128)
    image = ndimage.gaussian_filter(image, sigma)
    b1, b2, b3 = s.bias
    image *= 1 + b1 * x + b2 * y + b3 * x * y
    image = np.clip(image * s.contrast, 0, 1) ** s.gamma
    soft_brain = ndimage.gaussian_filter(brain.astype(float), sigma)
    image = (image + rng.normal(0, s.noise, image.shape)) * soft_brain
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), _evidence_mask(subject, f)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An augmented copy as in the real V2 set: flips, small rotation, zoom/shift, brightness/contrast."""
    h, w = image.shape
    angle = np.deg2rad(rng.uniform(-12, 12))
    zoom = rng.uniform(0.9, 1.1)
    flip_x = -1.0 if rng.random() < 0.5 else 1.0
    flip_y = -1.0 if rng.random() < 0.15 else 1.0
    shift = rng.uniform(-0.06, 0.06, 2) * (w, h)
    centre = np.array([[1, 0, w / 2], [0, 1, h / 2], [0, 0, 1]])
    rotate = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    scale = np.diag([zoom * flip_x, zoom * flip_y, 1.0])
    move = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]])
    forward = move @ centre @ rotate @ scale @ np.linalg.inv(centre)
    coeffs = tuple(np.linalg.inv(forward)[:2].ravel())  # PIL maps output pixels back to input pixels
    out = Image.fromarray(image).transform((w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    # Brightness and contrast (as a gamma) that keep the background black, like the real copies.
    pixels = np.asarray(out) / 255.0
    pixels = np.clip(pixels ** rng.uniform(0.8, 1.25) * rng.uniform(0.85, 1.15), 0, 1)
    out_mask = Image.fromarray(mask.astype(np.uint8) * 255).transform(
        (w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.NEAREST)
    return (pixels * 255).round().astype(np.uint8), np.asarray(out_mask) > 127


def class_counts(n_per_class: int, balance: str = "original") -> dict[str, int]:
    """Originals per class: the real set's imbalance (Moderate floored at 6 %) or ``equal``."""
    if balance == "equal":
        return {c: n_per_class for c in CLASS_NAMES}
    if balance != "original":
        raise SettingsError(f"balance must be 'original' or 'equal', got {balance!r}")
    share = {c: max(REAL_CLASS_SHARE[c], MIN_CLASS_SHARE) for c in CLASS_NAMES}
    total = sum(share.values())
    return {c: max(2, round(4 * n_per_class * share[c] / total)) for c in CLASS_NAMES}


def _save_pair(root: Path, rel: str, image: np.ndarray, mask: np.ndarray) -> None:
    """Write a slice as a one-channel JPEG (like the real set) and its evidence mask as PNG."""
    path, mask_path = root / rel, root / MASK_DIR / Path(rel).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, "L").save(path, "JPEG", quality=92)
    Image.fromarray(mask.astype(np.uint8) * 255, "L").save(mask_path, "PNG")


def subject_id(class_name: str, number: int) -> str:
    """A subject's id in the form of the real set's ``subjects.csv`` (``Mild-000``, ``VeryMild-012``)."""
    return f"{class_name.removesuffix('Demented')}-{number:03d}"


def source_test_numbers(n_subjects: int) -> list[int]:
    """The source set's test-name number ``k`` of each subject, in train order.

    In the real source set a class's train folder orders its subjects as the *file names* of its test
    folder sort: ``27 (10).jpg`` < ``27 (11).jpg`` < ... < ``27 (9).jpg`` < ``27.jpg`` (subject k = 1 has
    no number). Subject j of the train order is the j-th of them.
    """
    return sorted(range(1, n_subjects + 1), key=lambda k: (f" ({k})" if k > 1 else "") + ".jpg")


def source_names(class_name: str, n_subjects: int, n_slices: int) -> dict[tuple[int, int], str]:
    """``{(subject, slice position): relpath}`` in the source set's own layout and naming.

    Train holds ``SOURCE_TRAIN_SHARE`` of the images in slice-major order (image i is subject i mod N at
    position i div N, named ``<stem><i>.jpg``; the last, partial group of positions goes to some subjects,
    in train order); test holds the rest as ``<s> (<k>).jpg``, s the 1-based slice number and k the
    subject's test number (``<s>.jpg`` for k = 1).
    """
    n_train = round(SOURCE_TRAIN_SHARE * n_subjects * n_slices)
    full, partial = divmod(n_train, n_subjects)
    numbers = source_test_numbers(n_subjects)
    names = {}
    for subject in range(n_subjects):
        k = numbers[subject]
        for position in range(n_slices):
            names[(subject, position)] = f"test/{class_name}/{position + 1}" + (f" ({k})" if k > 1 else "") + ".jpg"
    for i in range(full * n_subjects):
        names[(i % n_subjects, i // n_subjects)] = f"train/{class_name}/{ORIGINAL_STEMS[class_name]}{i}.jpg"
    # the last, partial group of positions: as in the real set, not subjects 0, 1, ... but a scattered few
    takers = sorted(np.random.default_rng([n_subjects, n_slices]).permutation(n_subjects)[:partial])
    for r, subject in enumerate(takers):
        names[(subject, full)] = f"train/{class_name}/{ORIGINAL_STEMS[class_name]}{full * n_subjects + r}.jpg"
    return names


def _write_subject(job: tuple) -> list[dict]:
    """Render one subject's stack of slices and their augmented copies, write them, return manifest rows."""
    root, seed, class_name, number, size, names, copy_ids, layout = job
    root = Path(root)
    class_id = CLASS_NAMES.index(class_name)
    rng = np.random.default_rng([seed, class_id, number])
    subject = draw_subject(rng, SEVERITY_RANK[class_name])
    rows = []
    for position, (level, original) in enumerate(zip(stack_levels(len(names), rng), names)):
        image, mask = render_slice(slice_at(subject, level), size, np.random.default_rng([seed, class_id, number,
                                                                                         1000 + position]))
        _save_pair(root, original, image, mask)
        about = dict(class_name=class_name, subject=subject_id(class_name, number), slice_pos=position,
                     severity=subject.severity)
        rows.append(dict(path=original, kind="original", original="", **about))
        for copy_id in copy_ids[position]:
            rng = np.random.default_rng([seed, class_id, number, position, 10_000 + copy_id])
            aug_image, aug_mask = augment(image, mask, rng)
            name = hashlib.sha1(f"{seed}:{class_name}:{copy_id}".encode()).hexdigest()[:16]
            rel = f"{LAYOUTS[layout]['augmented']}/{class_name}/{name}.jpg"
            _save_pair(root, rel, aug_image, aug_mask)
            rows.append(dict(path=rel, kind="augmented", original=original, **about))
    return rows


def subjects_per_class(n_per_class: int, slices: int, balance: str = "original") -> dict[str, int]:
    """Subjects per class: :func:`class_counts` originals in stacks of ``slices``, at least 2 a class."""
    return {c: max(2, round(n / slices)) for c, n in class_counts(n_per_class, balance).items()}


def _jobs(root: Path, n_per_class: int, size: int, seed: int, layout: str, balance: str, copies: float,
          slices: int) -> list:
    """One job per subject; augmented images per class are balanced over its originals, as in the real V2 set."""
    jobs = []
    for class_name, n_subjects in subjects_per_class(n_per_class, slices, balance).items():
        if layout == "source":
            source = source_names(class_name, n_subjects, slices)
            names = [[source[(j, p)] for p in range(slices)] for j in range(n_subjects)]
        else:
            folder = f"{LAYOUTS[layout]['original']}/{class_name}/{ORIGINAL_STEMS[class_name]}"
            names = [[f"{folder}{j * slices + p}.jpg" for p in range(slices)] for j in range(n_subjects)]
        owners = [[[] for _ in range(slices)] for _ in range(n_subjects)]
        n_aug = round(copies * n_per_class) if "augmented" in LAYOUTS[layout] else 0
        for copy_id in range(n_aug):
            slot = copy_id % (n_subjects * slices)
            owners[slot % n_subjects][slot // n_subjects].append(copy_id)
        jobs += [(str(root), seed, class_name, j, size, names[j], owners[j], layout) for j in range(n_subjects)]
    return jobs


def generate_dataset(out: str | Path, n_per_class: int | None = None, size: int | None = None,
                     seed: int = SYNTH_SEED, layout: str = "v2", balance: str | None = None,
                     copies: float | None = None, slices: int | None = None, workers: int = 2,
                     overwrite: bool = False, replace_stale: bool = False, progress: bool = True) -> Path:
    """Write the synthetic dataset to ``out`` (atomically) and return it; reuse it if already there.

    The sizes, balance, copies and slices left out are :class:`alzmri.config.Config`'s ``synth_*`` defaults.

    Args:
        out: the folder to write.
        n_per_class: mean original slices per class (the class imbalance spreads them).
        size: image side in pixels.
        seed: everything is drawn from it; the same arguments give byte-identical files.
        layout: ``v2`` (``data/val`` originals, ``data/train`` copies), ``v1`` or ``source`` (the source
            set's own slice-level ``train``/``test`` folders and file names, no copies).
        balance: ``original`` (the real set's class imbalance) or ``equal``.
        copies: augmented images per class, as a multiple of ``n_per_class``.
        slices: consecutive slices per subject.
        workers: processes that render subjects.
        overwrite: replace whatever is at ``out``.
        replace_stale: regenerate a synthetic set made with other parameters or an older generator (safe for
            a cache: it can always be made again); anything else at ``out`` is never touched.
        progress: show a progress bar.

    Returns:
        ``out``.
    """
    params = _checked_params(n_per_class, size, seed, layout, balance, copies, slices)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file, not a folder: choose another --out (it is never overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.parent / f".{out.name}.lock"):  # one writer at a time; readers see whole sets only
        if _reuse_existing(out, params, overwrite, replace_stale):
            return out
        _remove_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            _render(tmp, params, workers, progress)
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _checked_params(n_per_class: int | None, size: int | None, seed: int, layout: str, balance: str | None,
                    copies: float | None, slices: int | None) -> dict:
    """The set's parameters (as its metadata records them), the ones left out filled from :class:`Config`'s
    ``synth_*`` defaults; a SettingsError naming every one out of range, or an unknown layout."""
    defaults = Config()
    n_per_class = defaults.synth_n_per_class if n_per_class is None else n_per_class
    size = defaults.synth_size if size is None else size
    balance = defaults.synth_balance if balance is None else balance
    copies = defaults.synth_copies if copies is None else copies
    slices = defaults.synth_slices if slices is None else slices
    if layout not in LAYOUTS:
        raise SettingsError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    problems = range_problems({"synth_n_per_class": n_per_class, "synth_size": size, "seed": seed,
                               "synth_copies": copies, "synth_slices": slices})
    if problems:
        raise SettingsError("; ".join(problems))
    return dict(n_per_class=n_per_class, size=size, seed=seed, layout=layout, balance=balance, copies=copies,
                slices=slices, version=GENERATOR_VERSION)


def _reuse_existing(out: Path, params: dict, overwrite: bool, replace_stale: bool) -> bool:
    """Whether ``out`` already holds this very set, whole (to reuse). False where it is empty or may be replaced
    (a damaged copy of this set is said in a warning); an OutputExistsError where it holds anything else."""
    if not (out.exists() and any(out.iterdir())):
        return False
    existing = _read_params(out)
    if existing == params and not overwrite and _complete(out):
        return True
    if not (overwrite or (replace_stale and existing is not None)):
        raise OutputExistsError(f"{out} exists and is not this synthetic dataset ({params}); "
                                "choose another folder or pass overwrite=True (--force)")
    if existing == params and not overwrite:
        warnings.warn(f"The synthetic set in {out} is damaged (files missing or empty): generating it again",
                      UserWarning, stacklevel=3)
    return False


def _render(tmp: Path, params: dict, workers: int, progress: bool) -> None:
    """Render every subject into ``tmp`` (in ``workers`` processes), then write its manifest and metadata."""
    from tqdm.auto import tqdm

    jobs = _jobs(tmp, params["n_per_class"], params["size"], params["seed"], params["layout"], params["balance"],
                 params["copies"], params["slices"])
    bar = tqdm(total=len(jobs), desc="synthetic subjects", unit="subject", disable=not show_bars(progress))
    rows = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent) if workers > 1 else _Serial() as pool:
        for subject_rows in pool.map(_write_subject, jobs, chunksize=4):
            rows += subject_rows
            bar.update()
    bar.close()
    _write_metadata(tmp, rows, params)


def _complete(root: Path) -> bool:
    """Whether every file the manifest of a synthetic set lists is there and not empty."""
    manifest = read_manifest(root)
    if manifest is None or manifest.empty:
        return False
    try:
        return all((root / rel).stat().st_size > 0 for rel in [*manifest["path"], *manifest["mask"]])
    except OSError:
        return False


def _remove_leftovers(out: Path) -> None:
    """Delete the hidden half-written folders that a killed generation of ``out`` left beside it.

    Called with the generation lock held, so no living generator of ``out`` is writing one of them.
    """
    for leftover in out.parent.glob(f".{out.name}-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def _die_with_parent() -> None:
    """In a worker process: ask Linux to end it when its parent dies (SIGKILL included), so none is orphaned."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _Serial:
    """Stand-in for a process pool when ``workers == 1`` (keeps one code path)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, items, chunksize=1):
        return map(fn, items)


def _write_metadata(root: Path, rows: list[dict], params: dict) -> None:
    """Manifest (subject, slice position, the original of each copy), parameters and a SYNTHETIC label."""
    manifest = pd.DataFrame(rows)
    manifest["subset"] = [Path(p).parent.parent.as_posix() for p in manifest["path"]]
    manifest["mask"] = [f"{MASK_DIR}/{Path(p).with_suffix('.png').as_posix()}" for p in manifest["path"]]
    manifest["severity"] = manifest["severity"].round(4)
    manifest.to_csv(root / MANIFEST, index=False)
    (root / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")
    (root / "README.txt").write_text(
        "SYNTHETIC demo data generated by alzmri.data.synthetic -- not real MRI, not from any patient.\n"
        f"Parameters: {json.dumps(params)}\n"
        "manifest.csv gives every image's subject and slice position and every augmented image's original;\n"
        "_masks/ holds the evidence masks.\n")


def _read_params(root: Path) -> dict | None:
    """The parameters a synthetic dataset was generated with, or None if ``root`` is not one."""
    try:
        return json.loads((root / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return None


def read_manifest(root: str | Path) -> pd.DataFrame | None:
    """The manifest of a synthetic dataset (paths relative to ``root``), or None for other data."""
    path = Path(root) / MANIFEST
    return pd.read_csv(path, keep_default_na=False) if path.exists() else None


def load_mask(root: str | Path, rel_path: str) -> np.ndarray:
    """The evidence mask (bool array) of the synthetic image at ``rel_path``."""
    mask_path = Path(root) / MASK_DIR / Path(rel_path).with_suffix(".png")
    return np.asarray(Image.open(mask_path).convert("L")) > 127


def generate_from_config(out: str | Path, config, layout: str = "v2", overwrite: bool = False,
                         progress: bool = True) -> Path:
    """:func:`generate_dataset` with the sizes, balance, copies, slices and seed of ``config`` (its ``synth_*``
    fields and ``seed``).

    Args:
        out: the folder to write.
        config: the :class:`alzmri.config.Config` to take the settings from.
        layout: ``v2``, ``v1`` or ``source``.
        overwrite: replace an existing folder.
        progress: show a progress bar.

    Returns:
        The written dataset's root.
    """
    return generate_dataset(out, n_per_class=config.synth_n_per_class, size=config.synth_size, seed=config.seed,
                            layout=layout, balance=config.synth_balance, copies=config.synth_copies,
                            slices=config.synth_slices, overwrite=overwrite, progress=progress)
