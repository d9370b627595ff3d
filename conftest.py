"""Test-session settings shared by the pytest suite and the notebooks nbval executes.

Tests and notebooks run on the fast ``smoke`` profile, and keep generated data and runs in a
temporary folder rather than the user's cache and ``saved_models/``. Notebook kernels inherit these
variables when nbval starts them.
"""

import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="alzmri-tests-")
os.environ["ALZMRI_PROFILE"] = "smoke"
os.environ["ALZMRI_CACHE"] = os.path.join(_scratch, "cache")
os.environ["ALZMRI_RUNS"] = os.path.join(_scratch, "runs")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from alzmri.tfenv import quiet_tensorflow  # noqa: E402  (after the variables above)

quiet_tensorflow()  # TensorFlow's CUDA lines on a CPU machine would bury the test output
