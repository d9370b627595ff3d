"""Explain: Grad-CAM maps and how far to trust them.

- :mod:`alzmri.explain.gradcam`: Grad-CAM on the last feature map, random and centre baselines (drawn over the
  slices by :mod:`alzmri.reporting.overlays`).
- :mod:`alzmri.explain.faithfulness`: deletion/insertion curves, the model-randomisation check, mask overlap.

May import: the leaves (``metrics`` for intervals), :mod:`alzmri.data` and :mod:`alzmri.models`; not
evaluation or reporting.
"""
