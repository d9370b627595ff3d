"""Evaluation: scoring a saved run, the classical baselines, the comparison of split protocols, cross-validation.

- :mod:`alzmri.evaluation.evaluate`: a run scored on a held-out split, with subject-level intervals and the
  leaked/clean breakdown, and the Grad-CAM maps its figures show (the gallery, the randomisation cascade).
- :mod:`alzmri.evaluation.predict`: predictions on image files, per slice or per subject, with the input check.
- :mod:`alzmri.evaluation.subjects`: which slices are one person (in a split, sub-folders, similarity) and what
  is chosen on validation (position weights, any-dementia cut-offs): the subject-level and any-dementia blocks.
- :mod:`alzmri.evaluation.baselines`: the 1-NN probe, the thumbnail and the atrophy baselines.
- :mod:`alzmri.evaluation.compare`: every protocol scored with true and with subject-shuffled labels.
- :mod:`alzmri.evaluation.cv`: k-fold cross-validation over subjects, every subject tested once, scored per
  slice and per subject.

The metric arithmetic itself is the top-level leaf :mod:`alzmri.metrics`. May import: the leaves,
:mod:`alzmri.data`, :mod:`alzmri.leakage`, :mod:`alzmri.models` and :mod:`alzmri.explain`; not reporting.
"""
