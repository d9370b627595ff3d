"""Leakage: which images are the same slice, which slices are the same person, and splits that keep them apart.

- :mod:`alzmri.leakage.similarity`: image descriptors and nearest-neighbour similarity (cached).
- :mod:`alzmri.leakage.copies`: augmented copies traced back to their originals; exact duplicates.
- :mod:`alzmri.leakage.subjects`: subjects recovered from file names or from the images themselves.
- :mod:`alzmri.leakage.protocols`: the split protocols (``subject``, ``image``, ``official``, ``naive``), the
  cross-validation folds over subjects, and identical images kept on one side.
- :mod:`alzmri.leakage.prepared`: the prepared data a run uses (images annotated with copies and subjects, then
  split), the held-out check, shuffled labels.
- :mod:`alzmri.leakage.saved_splits`: a run's own ``splits.csv``, written at training and read back, checked.
- :mod:`alzmri.leakage.library_splits`: the splits Keras, ImageDataGenerator and scikit-learn draw, reproduced.
- :mod:`alzmri.leakage.split_file`: a split made elsewhere (a file list, or a library's), matched to the data.
- :mod:`alzmri.leakage.audit`: the audit of a dataset, or of a split made elsewhere (the leak counts are
  :func:`alzmri.leakage.copies.leak_counts`).

May import: the top-level leaves and :mod:`alzmri.data`; within the package, in the order listed above.
Nothing here knows about models.
"""
