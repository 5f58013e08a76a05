"""What a valid config says that will not do what it seems to: ``validate`` prints each as a
``warning:`` line (file, key and line, as a problem) and still exits 0.

- ``polling_interval`` on a schedule whose datastore is fed by blob events: the folder is not
  listed at that interval; the reconciling listing runs every ``events.reconcile_interval``.
"""

from __future__ import annotations

from collections.abc import Iterator

from triggerd.config.models import Config
from triggerd.config.triggers import DatastoreTrigger
from triggerd.config.where import Places
from triggerd.errors import ConfigProblem
from triggerd.humanize import human


def notices(config: Config, places: Places) -> Iterator[ConfigProblem]:
    for schedule in config.schedules.values():
        events = config.events_of(schedule)
        trigger = schedule.trigger
        if events is None or not isinstance(trigger, DatastoreTrigger):
            continue
        if "polling_interval" in trigger.model_fields_set:
            yield places.schedule(
                schedule,
                ("polling_interval",),
                f"not used: datastore {trigger.datastore} is fed by blob events (queue "
                f"{events.queue}); its folder is listed every reconcile_interval "
                f"({human(events.reconcile_interval)}) to reconcile",
            )
