"""The ``leases`` table: one daemon at a time polls a datastore schedule; fencing tokens guard
its writes (functions over a Connection)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, select, update
from sqlalchemy.engine import Connection

from triggerd.errors import LeaseLost
from triggerd.store.sql import chunks, insert
from triggerd.store.tables import leases


def acquire(conn: Connection, name: str, owner: str, now: datetime, ttl: timedelta) -> int | None:
    """Take or renew the lease ``name`` until ``now + ttl``; its fencing token, or None
    while another daemon holds it. The token grows whenever the lease changes hands."""
    values = insert(conn.dialect, leases).values(
        name=name, owner=owner, expires_at=now + ttl, token=1
    )
    stmt = values.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "owner": owner,
            "expires_at": now + ttl,
            "token": case((leases.c.owner == owner, leases.c.token), else_=leases.c.token + 1),
        },
        where=(leases.c.owner == owner) | (leases.c.expires_at < now),
    ).returning(leases.c.token)
    token = conn.execute(stmt).scalar()
    return None if token is None else int(token)


def renew(
    conn: Connection, names: list[str], owner: str, now: datetime, ttl: timedelta
) -> dict[str, int]:
    """Extend the leases ``owner`` holds among ``names`` until ``now + ttl`` (a daemon renews
    all of its leases with each heartbeat, in one transaction); the fencing token of each lease
    it still holds. A lease another daemon took over is not in the answer."""
    held: dict[str, int] = {}
    for part in chunks(names):
        rows = conn.execute(
            update(leases)
            .where(leases.c.name.in_(part), leases.c.owner == owner)
            .values(expires_at=now + ttl)
            .returning(leases.c.name, leases.c.token)
        )
        held.update((name, int(token)) for name, token in rows)
    return held


def release(conn: Connection, name: str, owner: str, now: datetime) -> None:
    """Let another daemon take the lease at once (a clean shutdown)."""
    conn.execute(
        update(leases).where(leases.c.name == name, leases.c.owner == owner).values(expires_at=now)
    )


def holder(conn: Connection, name: str) -> tuple[str, datetime, int] | None:
    """Who holds the lease ``name``, until when, with which token; None if it was never taken."""
    row = conn.execute(
        select(leases.c.owner, leases.c.expires_at, leases.c.token).where(leases.c.name == name)
    ).first()
    return None if row is None else (row[0], row[1], int(row[2]))


def check_fence(conn: Connection, name: str, owner: str, token: int) -> None:
    """Inside a write transaction: raise LeaseLost unless ``owner`` still holds ``token``.

    The row is locked (FOR UPDATE) until the transaction ends, so the lease cannot change hands
    between this check and the commit."""
    row = conn.execute(
        select(leases.c.token)
        .where(and_(leases.c.name == name, leases.c.owner == owner, leases.c.token == token))
        .with_for_update()
    ).first()
    if row is None:
        raise LeaseLost(f"lease {name!r} was taken over; this poll's results are dropped")
