"""Models: the classifier, training it, and the run folder it is saved in.

- :mod:`alzmri.models.classifier`: the Keras classifier (backbone, preprocessing inside, head), freezing,
  model batches and predictions.
- :mod:`alzmri.models.runs`: the one owner of a run folder: the name of every file in it, metadata and
  metrics (read and written atomically), the lock, finding finished runs and their shuffled-label sibling,
  the list behind ``alzmri runs``, loading a run.
- :mod:`alzmri.models.input_check`: the check that flags slices unlike a run's training data.
- :mod:`alzmri.models.provenance`: which run answered and what it learnt from, in one line and as JSON.
- :mod:`alzmri.models.cards`: the model card of a run, written when training saves it and when an evaluation
  scores it (the card belongs to whoever finishes a run, not to reporting).
- :mod:`alzmri.models.emissions`: the energy and CO2 estimate of a training (CodeCarbon, offline).
- :mod:`alzmri.models.training`: the two training stages, resuming, saving a run.
- :mod:`alzmri.models.person`: the model of the person: one answer from a subject's whole stack of slices
  (``cv --model person``, or a run of its own: ``train --model person``), and a run's answers per slice.

May import: the top-level leaves (``metrics`` included), :mod:`alzmri.data` and :mod:`alzmri.leakage`;
within the package in the order listed above. Not evaluation, explain or reporting.
"""
