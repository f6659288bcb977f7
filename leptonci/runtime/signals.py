"""Termination requests as interrupts: so that a cancelled CI run still cleans up.

A cancelled GitHub Actions run sends SIGINT, then SIGTERM; a runner pod being deleted
gets SIGTERM. Python turns SIGINT into KeyboardInterrupt, which ``finally`` blocks see;
SIGTERM ends the process at once by default. While something outside has to be undone
(a training Job running on a cluster), SIGTERM is made a KeyboardInterrupt too.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
