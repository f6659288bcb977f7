"""The one retry loop: what it retries, how long it waits, and what it raises at the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leptonci.adapters.retrying import FailedAttempt, retry_call
from leptonci.core.backoff import Backoff
from leptonci.core.errors import (
    ConfigError,
    GitError,
    GitHubUnavailable,
    OutsideError,
    PushRejected,
    TransientError,
)

FOUR = Backoff(attempts=4, base_delay=1.0, max_delay=8.0)


class FakeClock:
    """A clock that moves only when the loop sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(errors: list[Exception], result: str = "done") -> Callable[[], str]:
    """A call that raises each of errors in turn, then returns result."""
    calls = iter(errors)

    def call() -> str:
        for exc in calls:
            raise exc
        return result

    return call


def test_retryable_errors_are_retried_until_the_call_succeeds() -> None:
    clock = FakeClock()
    call = failing([TransientError("reset"), TransientError("reset")])
    assert retry_call(call, what="x", schedule=FOUR, sleep=clock.sleep, clock=clock) == "done"
    assert len(clock.sleeps) == 2


def test_the_backoff_doubles_with_jitter_and_is_capped() -> None:
    clock = FakeClock()
    call = failing([TransientError("reset")] * 5)
    schedule = Backoff(attempts=6, base_delay=1.0, max_delay=4.0)
    retry_call(call, what="x", schedule=schedule, sleep=clock.sleep, clock=clock)
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(clock.sleeps) == len(ceilings)
    for slept, ceiling in zip(clock.sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling


def test_permanent_errors_are_raised_at_once_untouched() -> None:
    clock = FakeClock()
    refused = OutsideError("403 forbidden")
    with pytest.raises(OutsideError) as info:
        retry_call(failing([refused]), what="x", schedule=FOUR, sleep=clock.sleep, clock=clock)
    assert info.value is refused and clock.sleeps == []


def test_errors_outside_the_tree_are_never_retried() -> None:
    clock = FakeClock()
    with pytest.raises(KeyError):
        retry_call(failing([KeyError("bug")]), what="x", schedule=FOUR, sleep=clock.sleep)
    assert clock.sleeps == []


def test_an_instance_can_mark_itself_retryable() -> None:
    clock = FakeClock()
    flaky = OutsideError("503")
    flaky.retryable = True
    retry_call(failing([flaky]), what="x", schedule=FOUR, sleep=clock.sleep, clock=clock)
    assert len(clock.sleeps) == 1


def test_the_last_error_is_raised_when_tries_run_out() -> None:
    clock = FakeClock()
    errors: list[Exception] = [TransientError(f"reset {n}") for n in range(1, 6)]
    with pytest.raises(TransientError, match="reset 4"):
        retry_call(failing(errors), what="x", schedule=FOUR, sleep=clock.sleep, clock=clock)
    assert len(clock.sleeps) == 3  # no wait after the last try


def test_give_up_words_the_final_error_and_chains_the_last() -> None:
    clock = FakeClock()

    def give_up(last: Exception, tries: int) -> Exception:
        return GitError(f"fetch kept failing after {tries} attempts: {last}")

    with pytest.raises(GitError, match="after 4 attempts: reset") as info:
        retry_call(
            failing([TransientError("reset")] * 9),
            what="x",
            schedule=FOUR,
            give_up=give_up,
            sleep=clock.sleep,
            clock=clock,
        )
    assert isinstance(info.value.__cause__, TransientError)
    assert not info.value.retryable  # an outer loop must not multiply the tries


def test_give_up_may_hand_the_last_error_back() -> None:
    clock = FakeClock()
    last = TransientError("reset")
    with pytest.raises(TransientError) as info:
        retry_call(
            failing([last] * 4),
            what="x",
            schedule=FOUR,
            give_up=lambda exc, tries: exc,
            sleep=clock.sleep,
            clock=clock,
        )
    assert info.value is last and info.value.__cause__ is None


def test_a_server_given_wait_replaces_the_backoff_and_is_capped() -> None:
    clock = FakeClock()
    errors: list[Exception] = [
        GitHubUnavailable("429", retry_after=7.0),
        GitHubUnavailable("403 rate limit", retry_after=3600.0),
        GitHubUnavailable("403 rate limit", retry_after=0.0),
    ]
    retry_call(
        failing(errors), what="x", schedule=FOUR, max_wait=30, sleep=clock.sleep, clock=clock
    )
    assert clock.sleeps == [7.0, 30.0, 0.0]


def test_the_backoff_is_capped_by_max_wait_too() -> None:
    clock = FakeClock()
    schedule = Backoff(attempts=3, base_delay=100.0, max_delay=100.0)
    retry_call(
        failing([TransientError("reset")] * 2),
        what="x",
        schedule=schedule,
        max_wait=5.0,
        sleep=clock.sleep,
        clock=clock,
    )
    assert clock.sleeps == [5.0, 5.0]


def test_a_deadline_stops_before_a_wait_that_would_pass_it() -> None:
    clock = FakeClock()
    tries: list[float] = []

    def call() -> str:
        tries.append(clock.now)
        clock.sleep(3.0)  # each try takes 3 s: a hung server cut by the request guard
        raise GitHubUnavailable("timed out")

    schedule = Backoff(attempts=100, base_delay=1.0, max_delay=1.0)
    with pytest.raises(GitHubUnavailable):
        retry_call(call, what="x", schedule=schedule, deadline=10.0, sleep=clock.sleep, clock=clock)
    # jittered waits of 0.5-1 s: a try begins at about 100, 103.5-104, 107-108; a
    # fourth would start past 110
    assert len(tries) == 3 and tries[0] == 100.0 and tries[2] <= 108.0


def test_waits_the_server_asked_for_do_not_count_against_the_deadline() -> None:
    """A rate limit is an answer, not a hang: its Retry-After extends the deadline."""
    clock = FakeClock()
    tries: list[float] = []

    def call() -> str:
        tries.append(clock.now)
        raise GitHubUnavailable("403 rate limited", retry_after=30.0)

    schedule = Backoff(attempts=3, base_delay=1.0, max_delay=1.0)
    with pytest.raises(GitHubUnavailable):
        retry_call(call, what="x", schedule=schedule, deadline=10.0, sleep=clock.sleep, clock=clock)
    assert tries == [100.0, 130.0, 160.0]


def test_before_retry_hears_each_failed_try_and_its_wait() -> None:
    clock = FakeClock()
    heard: list[FailedAttempt] = []
    first, second = PushRejected("moved"), PushRejected("moved again")
    result = retry_call(
        failing([first, second]),
        what="push to origin main",
        schedule=FOUR,
        retry_if=lambda exc: isinstance(exc, PushRejected),
        before_retry=heard.append,
        sleep=clock.sleep,
        clock=clock,
    )
    assert result == "done"
    assert [(h.what, h.number, h.error) for h in heard] == [
        ("push to origin main", 1, first),
        ("push to origin main", 2, second),
    ]
    assert [h.delay for h in heard] == clock.sleeps


def test_a_custom_test_decides_what_is_retried() -> None:
    clock = FakeClock()
    with pytest.raises(TransientError):
        retry_call(
            failing([TransientError("reset")]),
            what="x",
            schedule=FOUR,
            retry_if=lambda exc: isinstance(exc, ConfigError),
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == []


def test_one_attempt_means_no_retry() -> None:
    clock = FakeClock()
    with pytest.raises(TransientError):
        retry_call(
            failing([TransientError("reset")]),
            what="x",
            schedule=Backoff(attempts=1),
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == []


def test_interrupts_pass_through_at_once() -> None:
    clock = FakeClock()

    def call() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retry_call(call, what="x", schedule=FOUR, retry_if=lambda exc: True, sleep=clock.sleep)
    assert clock.sleeps == []
