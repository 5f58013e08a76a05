"""Daemon instances and their heartbeats: what `triggerd check` reads."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import Connection

from triggerd.store.tables import daemon_instances


class InstancesMixin:
    engine: Engine

    def reading(self) -> Connection:
        raise NotImplementedError

    def register_instance(self, now: datetime, pid: int) -> str:
        instance_id = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as conn:
            conn.execute(
                daemon_instances.insert().values(
                    id=instance_id,
                    hostname=socket.gethostname(),
                    pid=pid,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        return instance_id

    def heartbeat(self, instance_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(daemon_instances)
                .where(daemon_instances.c.id == instance_id)
                .values(heartbeat_at=now)
            )

    def stop_instance(self, instance_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(daemon_instances)
                .where(daemon_instances.c.id == instance_id)
                .values(stopped_at=now, heartbeat_at=now)
            )

    def ping(self) -> None:
        """Raises if the database cannot be reached."""
        with self.reading() as conn:
            conn.exec_driver_sql("SELECT 1")

    def latest_heartbeat(self) -> datetime | None:
        """The freshest heartbeat of a daemon that has not stopped."""
        with self.reading() as conn:
            value = conn.execute(
                select(func.max(daemon_instances.c.heartbeat_at)).where(
                    daemon_instances.c.stopped_at.is_(None)
                )
            ).scalar()
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates lose the column type
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
