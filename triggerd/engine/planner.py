"""Planning time fires: which slots of a timetable fire now, and why the others do not. Pure.

A *slot* is an instant at which a timetable (a recurrence or a cron expression) is due.
Planning looks at the slots after the schedule's cursor (the latest slot already decided) up to
``now`` and decides each one:

- a slot that came while the daemon was running fires (late by scheduler load or not: a fire is
  keyed by its slot, so lateness delays it but never drops it) — unless it is
  ``misfire_grace_time`` late or more, when it is recorded as missed;
- a slot that passed while the daemon was down — or that a forward step of the wall clock
  jumped over (``gaps``: the daemon never saw those instants) — is *missed* and made up
  according to the schedule's catch-up policy within the grace time: ``none`` makes up
  nothing, ``latest`` the newest missed slot (nothing if a slot is due right now anyway),
  ``all`` every one, capped by ``max_catchup_runs``;
- every slot of a disabled schedule is skipped.

Slots before the moment the daemon first saw the schedule never fire (Azure ML never makes up
runs from before a schedule existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triggerd.config.triggers import CatchupPolicy
from triggerd.humanize import human
from triggerd.timetable import Timetable

# Slots older than this (or the grace time, if longer) are not examined one by one after a
# long downtime: they could only ever be "missed", and listing a month of minutes is noise.
EXAMINE_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class SlotDecision:
    scheduled_for: datetime
    fire: bool
    reason: str | None = None  # why it does not fire


@dataclass(frozen=True)
class TimePlan:
    decisions: tuple[SlotDecision, ...]
    cursor: datetime | None  # the latest slot decided; None if nothing was due
    not_examined_before: datetime | None = None  # set when a long downtime was cut short

    @property
    def fires(self) -> list[datetime]:
        return [d.scheduled_for for d in self.decisions if d.fire]

    @property
    def skipped(self) -> list[SlotDecision]:
        return [d for d in self.decisions if not d.fire]


def plan_time_fires(
    recurrence: Timetable,
    *,
    first_seen: datetime,
    cursor: datetime | None,
    now: datetime,
    running_since: datetime,
    policy: CatchupPolicy,
    enabled: bool = True,
    gaps: Sequence[tuple[datetime, datetime]] = (),
    until: datetime | None = None,
) -> TimePlan:
    """Decide every slot in (cursor, until] (and never one before ``first_seen``).

    ``until`` (default ``now``) may lie a little ahead of ``now``: a pass prepared before its
    slot (``timepass.py``) decides the slot early and commits it once it has come; lateness is
    measured from ``now`` either way. ``gaps``: spans (start, end] of wall time that a clock
    step jumped over."""
    lower = first_seen - timedelta(microseconds=1)
    if cursor is not None and cursor > lower:
        lower = cursor
    horizon = now - max(policy.grace, EXAMINE_HORIZON)
    cut_short = horizon if horizon > lower else None
    start = max(lower, horizon)
    slots = recurrence.fire_times_between(start, now if until is None else until, anchor=first_seen)
    if not slots:
        return TimePlan((), cursor, cut_short)
    if not enabled:
        disabled = tuple(SlotDecision(s, False, "schedule disabled") for s in slots)
        return TimePlan(disabled, slots[-1], cut_short)

    decisions_by_slot: dict[datetime, SlotDecision] = {}
    missed_in_grace: list[datetime] = []
    for slot in slots:
        late = now - slot
        if late >= policy.grace:
            reason = f"missed: {human(late)} late, beyond misfire_grace_time {human(policy.grace)}"
            decisions_by_slot[slot] = SlotDecision(slot, False, reason)
        elif slot >= running_since and not any(start < slot <= end for start, end in gaps):
            decisions_by_slot[slot] = SlotDecision(slot, True)
        else:
            missed_in_grace.append(slot)
    live_fires = any(d.fire for d in decisions_by_slot.values())
    for decision in _catch_up(missed_in_grace, policy, superseded=live_fires):
        decisions_by_slot[decision.scheduled_for] = decision
    return TimePlan(tuple(decisions_by_slot[s] for s in slots), slots[-1], cut_short)


def _catch_up(
    missed: list[datetime], policy: CatchupPolicy, *, superseded: bool
) -> list[SlotDecision]:
    """Apply the catch-up policy to slots that passed while the daemon was down.

    ``superseded``: a newer slot fires now anyway, so ``latest`` has nothing to make up.
    """
    if policy.mode == "none":
        reason = "missed: the daemon was not running (catchup: none)"
        return [SlotDecision(s, False, reason) for s in missed]
    if policy.mode == "latest":
        keep = [] if superseded else missed[-1:]
        why = "missed: superseded by a later slot (catchup: latest)"
        return [SlotDecision(s, s in keep, None if s in keep else why) for s in missed]
    keep = missed[-policy.max_runs :]
    capped = f"missed: more than max_catchup_runs ({policy.max_runs}) slots to make up"
    return [SlotDecision(s, s in keep, None if s in keep else capped) for s in missed]
