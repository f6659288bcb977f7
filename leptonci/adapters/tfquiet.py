"""Keeping TensorFlow's C++ log lines out of leptonci's output, for every adapter that loads it."""

from __future__ import annotations

import os
import sys

# Set by the user: then TensorFlow logs as they asked, and nothing is hidden.
_USER_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ log lines out of leptonci's output.

    Level 3 also hides the harmless ERROR-level notices TF prints during fit (failures
    still raise Python exceptions). absl writes its pre-initialisation lines (and the
    oneDNN notice) straight to file descriptor 2 while TensorFlow loads, whatever the
    level, so that import runs with fd 2 pointed at /dev/null. Set TF_CPP_MIN_LOG_LEVEL
    yourself to see everything.
    """
    if _USER_TF_LOG_LEVEL or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass  # reported, with its message, where the model imports it
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
