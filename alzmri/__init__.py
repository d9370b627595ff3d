"""alzmri: leakage-aware transfer learning and Grad-CAM for Alzheimer's MRI slices.

A teaching and research baseline, not a medical device: nothing it prints is a diagnosis.

Where things live (data flows down this list; nothing imports what sits below it):

- top-level leaves: :mod:`~alzmri.config` (every setting and default), :mod:`~alzmri.errors` (every error),
  :mod:`~alzmri.files`, :mod:`~alzmri.timing`, :mod:`~alzmri.progress`, :mod:`~alzmri.tfenv`,
  :mod:`~alzmri.safe_text`, :mod:`~alzmri.metrics` (the metric arithmetic, the subject bootstrap, the any-dementia
  view), :mod:`~alzmri.voting` (a subject's slices combined into one answer);
- :mod:`alzmri.data`: finding, downloading and checking files; parquet; the synthetic set; tf.data;
- :mod:`alzmri.leakage`: image similarity, copies, subjects, split protocols, the audit and its leak counts;
- :mod:`alzmri.models`: the classifier, the run folder (:mod:`alzmri.models.runs`), the input check, provenance,
  model cards, training and its energy estimate;
- :mod:`alzmri.explain`: Grad-CAM and its faithfulness;
- :mod:`alzmri.evaluation`: scoring a run per slice and per subject, the baselines, the protocol comparison,
  cross-validation over subjects;
- :mod:`alzmri.reporting`: figures and what the commands print;
- on top: :mod:`alzmri.cli` (``python -m alzmri``), :mod:`alzmri.demo`, :mod:`alzmri.notebook`, :mod:`alzmri.serve`
  (the HTTP API and its page, ``python -m alzmri serve``).
"""

__version__ = "0.1.0"

from alzmri.config import CLASS_NAMES, SEVERITY_RANK, Config, get_config  # noqa: E402

__all__ = ["CLASS_NAMES", "SEVERITY_RANK", "Config", "get_config", "__version__"]
