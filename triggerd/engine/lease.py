"""A poll lease: which daemon polls a datastore schedule, and until when (``store/leases.py``).

Only the holder polls. It takes the lease (a write) only when it does not hold it or it is
about to expire; the heartbeat renews every lease a daemon holds in one statement. Every write
a poll makes checks the lease's fencing token, so a daemon that lost its lease while busy can
never overwrite its successor's snapshot. When the lease changes hands, what the poller
remembers of the folder may be stale: ``on_lost`` tells it to read the snapshot again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from triggerd.store import Store, leases

LEASE_TTL = timedelta(seconds=30)  # a poll lease not renewed this long goes to another daemon
LEASE_MARGIN = timedelta(seconds=5)  # a poll renews a lease this close to its expiry itself


class PollLease:
    def __init__(
        self,
        store: Store,
        schedule: str,
        *,
        owner: str,
        clock: Callable[[], datetime],
        on_lost: Callable[[], None],
    ) -> None:
        self.name = f"poll:{schedule}"  # the one place a poll lease is named
        self._store = store
        self.owner = owner
        self._clock = clock
        self._on_lost = on_lost
        self.token: int | None = None  # the fencing token, while held
        self._until: datetime | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    @property
    def fence(self) -> tuple[str, str, int]:
        """What a write under this lease checks: (name, owner, token)."""
        return self.name, self.owner, self.token or 0

    def take(self) -> bool:
        """Hold the lease for a poll: True when this daemon may poll now."""
        now = self._clock()
        if self.token is not None and self._until and now < self._until - LEASE_MARGIN:
            return True  # held and renewed by the heartbeat: no write (the fence still checks)
        token = self._store.write(leases.acquire, self.name, self.owner, now, LEASE_TTL)
        if token is None:
            if self.token is not None:
                self.lose()
            return False
        if token != self.token:
            self._on_lost()  # taken (again): read what the others wrote meanwhile
            self.token = token
        self._until = now + LEASE_TTL
        return True

    def renewed(self, token: int | None, now: datetime) -> None:
        """The heartbeat renewed this daemon's leases at ``now``: ``token`` is this one's, or
        None when another daemon took it over."""
        if self.token is None:
            return
        if token != self.token:
            self.lose()
        else:
            self._until = now + LEASE_TTL

    def lose(self) -> None:
        """Another daemon polls now."""
        self.token = None
        self._until = None
        self._on_lost()

    def release(self) -> None:
        if self.token is not None:
            self._store.write(leases.release, self.name, self.owner, self._clock())
            self.token = None
