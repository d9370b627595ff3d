"""Reporting: what people read. Figures, terminal reports, model cards, and the provenance every answer carries.

- :mod:`alzmri.models.provenance`: which run answered and what it learnt from, in one line and as JSON.
- :mod:`alzmri.reporting.predictions`: predictions on files as a report (table, warnings, disclaimer).
- :mod:`alzmri.reporting.plots`: every figure.
- :mod:`alzmri.models.cards`: the model card of a run.
- :mod:`alzmri.reporting.reports`: what the commands print.

May import anything below it (leaves, data, leakage, models, explain, evaluation); only the CLI, the demo
and the notebook helpers import it.
"""
