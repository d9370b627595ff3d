"""alzmri: leakage-aware transfer learning and Grad-CAM for Alzheimer's MRI slices.

A teaching and research baseline, not a medical device: nothing it prints is a diagnosis.
"""

__version__ = "0.1.0"

from alzmri.config import CLASS_NAMES, SEVERITY_RANK, Config, get_config  # noqa: E402

__all__ = ["CLASS_NAMES", "SEVERITY_RANK", "Config", "get_config", "__version__"]
