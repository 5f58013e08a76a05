"""The retry schedule: exponential backoff with jitter, Retry-After, attempt and time limits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from triggerd.config.pipelines import RetryPolicy
from triggerd.engine.retries import NO_RETRY, describe_exhausted, next_attempt_at

T0 = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, max_elapsed=timedelta(hours=1))


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (4, 8.0, 16.0)],
)
def test_backoff_doubles_with_jitter_in_the_upper_half(
    attempts: int, low: float, high: float
) -> None:
    delays = {
        (
            next_attempt_at(POLICY, attempts=attempts, recorded_at=T0, now=T0, rng=random.Random(s))
            - T0
        ).total_seconds()  # type: ignore[operator]
        for s in range(20)
    }
    assert all(low <= d <= high for d in delays)
    assert len(delays) > 1  # jittered


def test_retry_after_wins_when_longer() -> None:
    at = next_attempt_at(
        POLICY, attempts=1, recorded_at=T0, now=T0, retry_after=timedelta(seconds=30)
    )
    assert at == T0 + timedelta(seconds=30)


def test_no_attempt_past_max_attempts() -> None:
    assert next_attempt_at(POLICY, attempts=5, recorded_at=T0, now=T0) is None
    assert describe_exhausted(POLICY, 5, "HTTP 503") == (
        "retries exhausted after 5 attempts: HTTP 503"
    )


def test_no_attempt_past_max_elapsed() -> None:
    late = T0 + timedelta(minutes=59, seconds=59)
    assert next_attempt_at(POLICY, attempts=2, recorded_at=T0, now=late) is None


def test_a_single_attempt_policy_never_retries() -> None:
    assert next_attempt_at(NO_RETRY, attempts=1, recorded_at=T0, now=T0) is None
