"""The fuzz property: success or the documented error for the input's kind, in time.

``outcome`` runs one parse under a time bound and names how it ended: "ok", or the
class of the ``LeptonError`` it raised. A user's file must give exit 2 naming the file
(and the line where its error shape has one); an outside system's reply must give
exit 3. Any other exception (a bug: exit 70) or a run past the bound fails the test,
and hypothesis shrinks the input that did it. ``TALLY`` counts the endings per parser
for the summary ``make fuzz`` prints.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, settings

from leptonci.core.errors import ConfigError, ExitCode, LeptonError

# One parse of one small document, in CPU seconds of this process (a loop spends them);
# the wall clock gets WALL times as long (a wait spends none), so other work on a shared
# machine, or `nice`, slows a case without failing it.
SECONDS = float(os.environ.get("LEPTONCI_FUZZ_SECONDS", "5"))
WALL = 12
TALLY: defaultdict[str, Counter[str]] = defaultdict(Counter)

_LONG = os.environ.get("LEPTONCI_FUZZ_EXAMPLES")
settings.register_profile(
    "ci",  # the fixed-seed run in the suite: the same cases every time
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",  # make fuzz: a long random run
    derandomize=False,
    database=None,
    deadline=None,
    max_examples=int(_LONG or 0) or 1,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz_settings(ci_examples: int) -> settings:
    """The settings of one fuzz test: ci_examples fixed cases, or the long run's count."""
    if _LONG:
        return settings(settings.get_profile("fuzz"))
    return settings(settings.get_profile("ci"), max_examples=ci_examples)


class Hang(AssertionError):
    pass


@contextmanager
def time_bound(seconds: float = SECONDS) -> Iterator[None]:
    """Raise Hang in the block past `seconds` of CPU time or WALL times that of wall time."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        clock = "CPU" if signum == signal.SIGPROF else "wall-clock"
        limit = seconds if signum == signal.SIGPROF else seconds * WALL
        raise Hang(f"one parse took more than {limit:g}s of {clock} time")

    old = {sig: signal.signal(sig, alarm) for sig in (signal.SIGPROF, signal.SIGALRM)}
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_PROF, seconds)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds * WALL)  # pytest-timeout's
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if outer:  # the whole test's timeout goes on, less the time spent here
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))


def outcome(
    parser: str,
    call: Callable[[], Any],
    *,
    file: str | None = None,
    line: bool = False,
    code: ExitCode = ExitCode.BAD_INPUT,
) -> str:
    """How call ended: "ok" or the documented error's class name (else the test fails).

    file: a user's file, whose errors must name it (and its line, with line=True);
    code: the exit code every error of this kind must map to.
    """
    try:
        with time_bound():
            call()
    except LeptonError as exc:
        assert exc.exit_code == code, f"{type(exc).__name__} exits {exc.exit_code}: {exc}"
        if file is not None:
            assert isinstance(exc, ConfigError), f"{type(exc).__name__}: {exc}"
            assert exc.file == file, f"names {exc.file!r}, not {file!r}: {exc}"
            assert not line or exc.line is not None, f"no line: {exc}"
        kind = type(exc).__name__
    else:
        kind = "ok"
    TALLY[parser][kind] += 1
    return kind
