"""The ``daemon_instances`` table: daemons and their heartbeats, what `triggerd check` reads
(functions over a Connection)."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from triggerd.store.tables import daemon_instances


def register(conn: Connection, now: datetime, pid: int) -> str:
    """Record a daemon that starts; its instance id (host, pid and a random part)."""
    instance_id = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
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


def heartbeat(conn: Connection, instance_id: str, now: datetime) -> None:
    """The daemon is alive at ``now``."""
    conn.execute(
        update(daemon_instances)
        .where(daemon_instances.c.id == instance_id)
        .values(heartbeat_at=now)
    )


def stop(conn: Connection, instance_id: str, now: datetime) -> None:
    """The daemon stopped at ``now``."""
    conn.execute(
        update(daemon_instances)
        .where(daemon_instances.c.id == instance_id)
        .values(stopped_at=now, heartbeat_at=now)
    )


def ping(conn: Connection) -> None:
    """Raises if the database cannot be reached."""
    conn.exec_driver_sql("SELECT 1")


def latest_heartbeat(conn: Connection) -> datetime | None:
    """The freshest heartbeat of a daemon that has not stopped."""
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
