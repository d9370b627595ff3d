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


def pytest_configure(config):
    """Load TensorFlow quietly (its CUDA lines on a CPU machine would bury the test output) where tests run: each
    pytest-xdist worker, or the one process of ``-n 0``; the controller that only hands out tests never loads it,
    so the workers start sooner."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", default=None):
        quiet_tensorflow()


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist, hand out whole test modules (their module fixtures are built once) and all the notebooks
    as one unit, in order: 03 and 04 use the run 02 trained, on the worker that trained it."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndNotebooks(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "notebooks" if nodeid.startswith("notebooks/") else super()._split_scope(nodeid)

    return ModulesAndNotebooks(config, log)
