"""The fuzz tests' time bound: CPU time for a loop, a longer wall clock for a wait."""

from __future__ import annotations

import signal
import time

import pytest

from tests.fuzz.outcome import WALL, Hang, time_bound


def test_a_loop_is_stopped_by_its_cpu_time() -> None:
    with pytest.raises(Hang, match=r"0\.2s of CPU time"), time_bound(0.2):
        while True:
            pass


def test_a_wait_is_stopped_by_the_wall_clock_later() -> None:
    start = time.monotonic()
    with pytest.raises(Hang, match="wall-clock"), time_bound(0.05):
        time.sleep(30)
    assert time.monotonic() - start >= 0.05 * WALL


def test_the_bound_restores_the_handlers_and_the_outer_timer() -> None:
    """The whole test's timeout (pytest-timeout's SIGALRM) still runs after each case."""
    before = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)
    outer = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        with time_bound(0.5):
            pass
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
        assert 99 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
        assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGPROF)) == before
    finally:
        signal.setitimer(signal.ITIMER_REAL, *outer)
