"""When to try a run again after a transient failure. Pure.

Exponential backoff from ``initial_backoff`` (doubling per attempt, at most 10 minutes), with
"equal jitter" (the second half of each step is random, so replicas and bursts spread out),
never sooner than the server's ``Retry-After``. A run is not retried once it has had
``max_attempts`` attempts or the next attempt would start ``max_elapsed`` after its first attempt.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from triggerd.config.pipelines import RetryPolicy
from triggerd.humanize import human

MAX_STEP = timedelta(minutes=10)
NO_RETRY = RetryPolicy(max_attempts=1)
"""One attempt: for a run that cannot be resolved to a pipeline (and so has no retry settings)."""


def next_attempt_at(
    policy: RetryPolicy,
    *,
    attempts: int,
    recorded_at: datetime,  # when the first attempt started
    now: datetime,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to make attempt ``attempts + 1``; None when the run has had its chances."""
    if attempts >= policy.max_attempts:
        return None
    step = min(policy.initial_backoff * (1 << min(max(attempts - 1, 0), 20)), MAX_STEP)
    fraction = (rng or random).random()
    delay = step / 2 + step / 2 * fraction
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    at = now + delay
    if at - recorded_at > policy.max_elapsed:
        return None
    return at


def describe_exhausted(policy: RetryPolicy, attempts: int, error: str) -> str:
    if attempts >= policy.max_attempts:
        return f"retries exhausted after {attempts} attempts: {error}"
    return f"retries exhausted: max_elapsed {human(policy.max_elapsed)} reached: {error}"
