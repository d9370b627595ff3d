"""Reporting: what people read. Every figure, and what the commands print, drawn and printed from what it is given.

- :mod:`alzmri.reporting.plots`: every figure (samples, training curves, evaluation figures, Grad-CAM galleries,
  the protocol comparison, cross-validation), each given its results and maps.
- :mod:`alzmri.reporting.overlays`: a Grad-CAM map drawn over its slice (resized to it, on the brain only).
- :mod:`alzmri.reporting.summaries`: results in words (the comparison's table and lesson, cross-validation's table,
  Grad-CAM's faithfulness and randomisation verdicts).
- :mod:`alzmri.reporting.reports`: what the commands print (the audit, an evaluation, the runs table, predictions,
  the comparison).

The evaluations, Grad-CAM maps, comparisons and cross-validations it shows are computed by its callers (the CLI,
the demo, the notebooks, with :mod:`alzmri.evaluation` and :mod:`alzmri.explain`). The model card and the provenance
every answer carries are written by whoever finishes a run, so they live in :mod:`alzmri.models` (``cards``,
``provenance``). May import the leaves (config, files, metrics, safe_text), data, leakage and models' runs and
provenance; never evaluation, explain, the classifier, training or TensorFlow (types for annotations excepted, under
``TYPE_CHECKING``; tests/test_layout.py checks it). Only the CLI, the demo, the notebook helpers and the server
import it.
"""
