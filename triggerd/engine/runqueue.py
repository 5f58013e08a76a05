"""The dispatcher's side of the store: the run outbox as a queue it claims from and reports to.

``RunQueue`` is the seam: the dispatcher asks only this, so its decisions (which error becomes
which state) are tested with a fake queue and fake submitters; ``StoreQueue`` is the real one,
each call one transaction of ``store/outbox.py``, ``store/claims.py`` (a batch of claims, or of
ends) or ``store/queries.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from triggerd.runs import RunRecord
from triggerd.store import Store, claims, meta, outbox, queries
from triggerd.store.follows import start_values
from triggerd.submitters import RunOutcome

FIRST_CHECK = timedelta(seconds=15)  # TRIGGERD_FOLLOW_INTERVAL's default


class RunQueue(Protocol):
    def claim(self, owner: str, now: datetime, *, blocked: Collection[str]) -> RunRecord | None:
        """The oldest due pending run, now ``running`` under ``owner``; None if there is none."""
        ...

    def claim_many(
        self,
        owner: str,
        now: datetime,
        *,
        limit: int,
        blocked: Collection[str],
        caps: Mapping[str, int],
    ) -> list[RunRecord]:
        """Up to ``limit`` of the oldest due pending runs, oldest first, now ``running`` under
        ``owner`` (one transaction); at most ``caps[s]`` of a schedule ``s``."""
        ...

    def running_counts(self) -> dict[str, int]:
        """Runs in flight per schedule (for the overlap limits)."""
        ...

    def skip_waiting(self, schedule: str, *, reason: str, now: datetime) -> list[str]:
        """The schedule's fires not yet attempted become skipped; their fire keys."""
        ...

    def finish(self, run: RunRecord, outcome: RunOutcome, *, now: datetime, owner: str) -> bool:
        """Record how the run ended; False when ``owner`` no longer holds it."""
        ...

    def finish_many(
        self, done: Sequence[tuple[RunRecord, RunOutcome]], *, now: datetime, owner: str
    ) -> list[bool]:
        """``finish`` for several runs in one transaction; per run, whether ``owner`` still
        held it."""
        ...

    def hand_back(self, run_id: int, *, error: str) -> None:
        """Pending again, the interrupted attempt not counted (a shutdown)."""
        ...

    def retry_at(self, run_id: int, *, at: datetime, error: str) -> None:
        """Pending again, due at ``at`` (a transient failure)."""
        ...

    def add_note(self, run_id: int, note: str) -> None: ...

    def record_process(self, run_id: int, process: dict[str, Any], *, owner: str) -> None: ...

    def store_id(self) -> str:
        """The database's own id (in ``TRIGGERD_RUN_MARKER``)."""
        ...


class StoreQueue:
    """``RunQueue`` over the store: each call is one transaction."""

    def __init__(self, store: Store, *, first_check: timedelta = FIRST_CHECK) -> None:
        """``first_check``: how long after its submission a followed run is first checked."""
        self._store = store
        self._first_check = first_check

    def _follow(self, outcome: RunOutcome, now: datetime) -> dict[str, Any] | None:
        if outcome.status != "submitted":
            return None
        return start_values(
            now=now,
            first_check=self._first_check,
            follow_for=outcome.follow_for,
            remote_id=outcome.remote_id,
            remote_url=outcome.remote_url,
        )

    def claim(self, owner: str, now: datetime, *, blocked: Collection[str]) -> RunRecord | None:
        return self._store.write(outbox.claim_next, owner, now, blocked=blocked)

    def claim_many(
        self,
        owner: str,
        now: datetime,
        *,
        limit: int,
        blocked: Collection[str],
        caps: Mapping[str, int],
    ) -> list[RunRecord]:
        return self._store.write(
            claims.claim_batch, owner, now, limit=limit, blocked=blocked, caps=caps
        )

    def running_counts(self) -> dict[str, int]:
        return self._store.read(queries.running_counts)

    def skip_waiting(self, schedule: str, *, reason: str, now: datetime) -> list[str]:
        return self._store.write(outbox.skip_waiting, schedule, reason=reason, now=now)

    def finish(self, run: RunRecord, outcome: RunOutcome, *, now: datetime, owner: str) -> bool:
        return self._store.write(
            outbox.finish,
            run.id,
            status=outcome.status,
            now=now,
            exit_code=outcome.exit_code,
            error=outcome.error,
            output=outcome.output or None,
            external_id=outcome.external_id,
            owner=owner,
            follow=self._follow(outcome, now),
        )

    def finish_many(
        self, done: Sequence[tuple[RunRecord, RunOutcome]], *, now: datetime, owner: str
    ) -> list[bool]:
        ended = [(run.id, self._ended(outcome, now)) for run, outcome in done]
        return self._store.write(claims.finish_batch, ended, owner=owner)

    def _ended(self, outcome: RunOutcome, now: datetime) -> dict[str, Any]:
        """The columns ``finish`` sets for ``outcome``."""
        return {
            "status": outcome.status,
            "finished_at": now,
            "exit_code": outcome.exit_code,
            "error": outcome.error,
            "output": outcome.output or None,
            "external_id": outcome.external_id,
            **(self._follow(outcome, now) or {}),
        }

    def hand_back(self, run_id: int, *, error: str) -> None:
        self._store.write(outbox.hand_back, run_id, error=error)

    def retry_at(self, run_id: int, *, at: datetime, error: str) -> None:
        self._store.write(outbox.schedule_retry, run_id, at=at, error=error)

    def add_note(self, run_id: int, note: str) -> None:
        self._store.write(outbox.add_note, run_id, note)

    def record_process(self, run_id: int, process: dict[str, Any], *, owner: str) -> None:
        self._store.write(outbox.record_process, run_id, process, owner=owner)

    @functools.cache  # noqa: B019 - one queue per daemon; the id never changes
    def store_id(self) -> str:
        return self._store.read(meta.store_id) or self._store.write(meta.make_store_id)
