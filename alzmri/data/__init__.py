"""Data: finding, downloading and checking image files; the Hugging Face parquet; the synthetic set; tf.data.

- :mod:`alzmri.data.datasets`: find class folders at any depth, download (kagglehub, Hugging Face), convert
  parquet rows to files, index and fingerprint a dataset, skip unreadable files with a reason.
- :mod:`alzmri.data.synthetic`: the deterministic synthetic demo set (subjects of consecutive slices, masks).
- :mod:`alzmri.data.pipeline`: reading, checking and resizing images; ``tf.data`` pipelines; class weights.

May import: the top-level leaves (``config``, ``errors``, ``files``, ``progress``, ``safe_text``, ``timing``)
and each other in that order (``synthetic`` → ``datasets`` → ``pipeline``); nothing above (leakage, models, ...).
"""
