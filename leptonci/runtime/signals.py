"""Termination requests as interrupts: so that a cancelled CI run still cleans up, fast.

A cancelled GitHub Actions run sends SIGINT, then SIGTERM; a runner pod being deleted
gets SIGTERM. Within ``terminate_as_interrupt`` (the CLI runs every command in it) both
raise KeyboardInterrupt in the main thread, which ``finally`` blocks see (an upload
session is cancelled, a training Job deleted), and first cut every outside request in
flight on every thread (``adapters.deadline.interrupt_all``): worker threads pushing
blobs must not hold the exit up until their own deadlines. The CLI maps the interrupt
to exit 130.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from leptonci.adapters.deadline import clear_interrupt, interrupt_all


def _interrupt(signum: int, frame: FrameType | None) -> None:
    interrupt_all()
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM cut what is in flight and raise
    KeyboardInterrupt (main thread only; nested blocks are fine)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if previous[signal.SIGINT] is not _interrupt:  # the outermost block
            clear_interrupt()
