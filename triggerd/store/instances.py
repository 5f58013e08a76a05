"""The ``daemon_instances`` table: daemons, their heartbeats, the config each runs on and its
last reload, and what each holds; what `triggerd check` and `triggerd status` read (functions
over a Connection)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection

from triggerd import __version__
from triggerd.config.digest import ConfigFiles
from triggerd.runs import RunStatus
from triggerd.store.sql import chunks
from triggerd.store.tables import daemon_instances, leases, runs


class ReloadResult(StrEnum):
    OK = "ok"  # the config was replaced
    REFUSED = "refused"  # a problem in the files, or the database refused: the old one stays
    UNCHANGED = "unchanged"  # the files are the ones in force


@dataclass(frozen=True)
class Instance:
    """A daemon as its row has it; ``config`` and ``reload`` as recorded (JSON), or None."""

    id: str
    hostname: str
    pid: int
    version: str | None
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    config: dict[str, Any] | None
    reload: dict[str, Any] | None


def register(conn: Connection, now: datetime, pid: int, *, version: str = __version__) -> str:
    """Record a daemon that starts; its instance id (host, pid and a random part)."""
    instance_id = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
    conn.execute(
        daemon_instances.insert().values(
            id=instance_id,
            hostname=socket.gethostname(),
            pid=pid,
            started_at=now,
            heartbeat_at=now,
            version=version,
        )
    )
    return instance_id


def config_loaded(conn: Connection, instance_id: str, files: ConfigFiles, now: datetime) -> None:
    """The daemon runs on the config of ``files`` since ``now`` (at start, at each reload)."""
    listed = [{"path": path, "sha256": sha} for path, sha in sorted(files.sha256s.items())]
    value = {"digest": files.digest, "loaded_at": now.isoformat(), "files": listed}
    conn.execute(
        update(daemon_instances).where(daemon_instances.c.id == instance_id).values(config=value)
    )


def reload_attempted(
    conn: Connection,
    instance_id: str,
    now: datetime,
    result: ReloadResult,
    problems: Sequence[str] = (),
) -> None:
    """The daemon tried to reload its config at ``now``: the result, and why it was refused."""
    value = {"at": now.isoformat(), "result": str(result), "problems": list(problems)}
    conn.execute(
        update(daemon_instances).where(daemon_instances.c.id == instance_id).values(reload=value)
    )


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


def recent(conn: Connection, stopped_since: datetime) -> list[Instance]:
    """The daemons that have not stopped, and those that stopped at or after ``stopped_since``,
    oldest first."""
    c = daemon_instances.c
    rows = conn.execute(
        select(daemon_instances)
        .where(or_(c.stopped_at.is_(None), c.stopped_at >= stopped_since))
        .order_by(c.started_at, c.id)
    ).all()
    return [
        Instance(
            id=row.id,
            hostname=row.hostname,
            pid=row.pid,
            version=row.version,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at,
            config=row.config,
            reload=row.reload,
        )
        for row in rows
    ]


def held_leases(conn: Connection, owners: Sequence[str]) -> dict[str, list[tuple[str, datetime]]]:
    """The leases each of ``owners`` holds (expired ones too, until taken): (name, expiry),
    by name."""
    held: dict[str, list[tuple[str, datetime]]] = {owner: [] for owner in owners}
    for part in chunks(owners):
        rows = conn.execute(
            select(leases.c.owner, leases.c.name, leases.c.expires_at)
            .where(leases.c.owner.in_(part))
            .order_by(leases.c.name)
        )
        for owner, name, expires_at in rows:
            held[owner].append((name, expires_at))
    return held


def claimed_runs(conn: Connection, owners: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
    """The running runs each of ``owners`` has claimed: (id, schedule), by id."""
    claimed: dict[str, list[tuple[int, str]]] = {owner: [] for owner in owners}
    for part in chunks(owners):
        rows = conn.execute(
            select(runs.c.claimed_by, runs.c.id, runs.c.schedule)
            .where(runs.c.claimed_by.in_(part), runs.c.status == RunStatus.RUNNING.value)
            .order_by(runs.c.id)
        )
        for owner, run_id, schedule in rows:
            claimed[owner].append((int(run_id), schedule))
    return claimed
