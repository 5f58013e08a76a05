"""Planning datastore fires: what a settled poll records. Pure.

``settle`` (``datastores/settle.py``) decides which files are new or changed and finished; this
turns that into runs, beside ``planner.plan_time_fires`` for slots:

- a file that fires is a pending run keyed by its path and version (``schedule disabled``: a
  skipped one);
- a file whose name the store cannot hold (not UTF-8, too long) is taken out of what the poll
  tracks, so the rest of the folder goes on as usual, and is recorded once per version as a
  skipped fire with the reason — unless it is part of the first poll's baseline, where it would
  not have fired anyway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triggerd.datastores.names import shown, unstorable
from triggerd.datastores.settle import SettleResult
from triggerd.runs import (
    DataPath,
    NewRun,
    RunStatus,
    TriggerKind,
    datastore_fire_key,
    refused_fire_key,
)


@dataclass(frozen=True)
class Refusal:
    """A file whose name the store cannot hold: what a poll took out of its result."""

    result: SettleResult  # the poll's result without the refused files
    runs: list[NewRun] = field(default_factory=list)  # one skipped fire per new refusal
    versions: dict[str, str] = field(default_factory=dict)  # path -> version newly refused
    reasons: dict[str, str] = field(default_factory=dict)  # path (shown) -> why, newly refused
    present: dict[str, str] = field(default_factory=dict)  # every refused path listed -> why


def refuse_unstorable(
    result: SettleResult,
    *,
    schedule: str,
    datastore: str,
    parameters: Mapping[str, Any],
    now: datetime,
    refused_before: Mapping[str, str],
    baseline: bool,
) -> Refusal:
    """``result`` without the files the store cannot hold, and the skipped fires of those not
    refused before (``refused_before``: path -> the version already refused)."""
    found = unstorable([*result.inserts, *result.updates]) if result.writes else {}
    if not found:
        return Refusal(result)
    inserts = {p: s for p, s in result.inserts.items() if p not in found}
    updates = {p: s for p, s in result.updates.items() if p not in found}
    states = {**result.inserts, **result.updates}
    kept = dataclasses.replace(
        result,
        fire=[(path, entry) for path, entry in result.fire if path not in found],
        inserts=inserts,
        updates=updates,
    )
    refusal = Refusal(kept, present=found)
    for path, reason in found.items():
        entry = states[path].last_seen
        assert entry is not None
        if refused_before.get(path) == entry.version:
            continue  # recorded (or logged) already
        refusal.versions[path] = entry.version
        refusal.reasons[shown(path)] = reason
        if baseline:
            continue
        refusal.runs.append(
            NewRun(
                schedule=schedule,
                trigger=TriggerKind.DATASTORE,
                fire_key=refused_fire_key(schedule, path, entry.version),
                scheduled_for=now,
                parameters=dict(parameters),
                data_path=DataPath(datastore, shown(path)),
                status=RunStatus.SKIPPED,
                reason=f"not fired: {reason}",
            )
        )
    return refusal


def plan_datastore_fires(
    result: SettleResult,
    *,
    schedule: str,
    datastore: str,
    parameters: Mapping[str, Any],
    now: datetime,
    enabled: bool,
) -> list[NewRun]:
    """One run per file of ``result`` that fires: pending, or skipped while the schedule is
    disabled."""
    status = RunStatus.PENDING if enabled else RunStatus.SKIPPED
    reason = None if enabled else "schedule disabled"
    return [
        NewRun(
            schedule=schedule,
            trigger=TriggerKind.DATASTORE,
            fire_key=datastore_fire_key(schedule, path, entry.version),
            scheduled_for=now,
            parameters=dict(parameters),
            data_path=DataPath(datastore, path),
            status=status,
            reason=reason,
        )
        for path, entry in result.fire
    ]
