"""Reporting: what people read. Every figure, and what the commands print.

- :mod:`alzmri.reporting.plots`: every figure (samples, training curves, evaluation figures, Grad-CAM overlays,
  the protocol comparison), and evaluating a run with its figures drawn while it is locked.
- :mod:`alzmri.reporting.reports`: what the commands print (the audit, an evaluation, the runs table, predictions,
  the comparison).

The model card and the provenance every answer carries are written by whoever finishes a run, so they live in
:mod:`alzmri.models` (``cards``, ``provenance``). May import anything below it (leaves, data, leakage, models,
explain, evaluation); only the CLI, the demo and the notebook helpers import it.
"""
