"""The store: schedule state and the run outbox, on SQLite (default) or PostgreSQL."""

from triggerd.store import polls
from triggerd.store.configrecord import RecordedConfig
from triggerd.store.db import open_store
from triggerd.store.states import ScheduleState
from triggerd.store.store import Store

__all__ = ["RecordedConfig", "ScheduleState", "Store", "open_store", "polls"]
