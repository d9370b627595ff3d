"""Import TensorFlow without the CUDA noise it prints on a machine that has no GPU.

On a CPU-only machine TensorFlow's C++ side writes lines such as ``failed call to cuInit: CUDA error`` and
``Could not find cuda drivers`` straight to the process's standard error while it loads, before Python's
logging or ``TF_CPP_MIN_LOG_LEVEL`` can stop all of them. Users read them as errors. This module loads
TensorFlow once with standard error captured at the file-descriptor level, drops the lines known to be
harmless noise and writes everything else back, so a real problem is still shown.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

#: Lines TensorFlow prints while loading that say nothing to a user (the GPU lines only where none is used).
NOISE = re.compile(r"cuInit|cudart_stub|cuda drivers|All log messages before absl::InitializeLog|oneDNN custom "
                   r"operations|TF_ENABLE_ONEDNN_OPTS|computation placer already registered|Unable to register "
                   r"cu(DNN|FFT|BLAS) factory|This TensorFlow binary is optimized|rebuild TensorFlow with")


def quiet_tensorflow():
    """Import TensorFlow (once) and find its devices with the known loading noise filtered out.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` (warnings and info hidden) unless the user chose a level.

    Returns:
        The ``tensorflow`` module.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with tempfile.TemporaryFile(mode="w+b") as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery prints its CUDA lines here, not later
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines()
                    if line.strip() and not NOISE.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
    return tf
