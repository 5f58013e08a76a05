"""The daemons on a database: ``status --json`` (a documented contract). What each holds,
the config each runs on against the files on disk now, and each one's last reload."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from triggerd.config.digest import FilesChange, FilesOnDisk, files_on_disk
from triggerd.store import Store, instances
from triggerd.store.instances import Instance
from triggerd.views.common import Sources, iso

STOPPED_SHOWN = timedelta(hours=1)  # daemons stopped this recently are shown, marked stopped


def heartbeat_limit(heartbeat_interval: timedelta) -> timedelta:
    """How old a heartbeat may be for its daemon to count as healthy (as `check` counts)."""
    return heartbeat_interval * 3


def daemons_view(sources: Sources) -> dict[str, Any]:
    """:func:`status_view` of the sources' database and config files, at their clock (what
    ``/daemons`` and ``/api/daemons`` show)."""
    settings = sources.settings
    return status_view(sources.store, settings.config, settings.heartbeat_interval, sources.clock())


def status_view(
    store: Store, config_path: Path, heartbeat_interval: timedelta, now: datetime
) -> dict[str, Any]:
    """The daemons running, or stopped within the last hour, and the config files on disk;
    ``healthy`` if at least one daemon is."""
    with store.reading() as conn:
        daemons = instances.recent(conn, now - STOPPED_SHOWN)
        ids = [daemon.id for daemon in daemons]
        leases, claimed = instances.held_leases(conn, ids), instances.claimed_runs(conn, ids)
    disk = files_on_disk(config_path)
    limit = heartbeat_limit(heartbeat_interval)
    views = [
        daemon_view(d, leases[d.id], claimed[d.id], disk, now=now, limit=limit) for d in daemons
    ]
    return {
        "healthy": any(view["healthy"] for view in views),
        "heartbeat_limit_s": limit.total_seconds(),
        "config_path": str(config_path.absolute()),
        "disk": disk_view(disk),
        "daemons": views,
    }


def disk_view(disk: FilesOnDisk) -> dict[str, Any]:
    """The config files on disk now (a file that cannot be read has ``sha256`` null)."""
    return {
        "digest": disk.digest,
        "files": [{"path": path, "sha256": sha} for path, sha in sorted(disk.sha256s.items())],
        "problems": [str(problem) for problem in disk.problems],
    }


def daemon_view(
    daemon: Instance,
    leases: list[tuple[str, datetime]],
    claimed: list[tuple[int, str]],
    disk: FilesOnDisk,
    *,
    now: datetime,
    limit: timedelta,
) -> dict[str, Any]:
    """One daemon as `status --json` shows it."""
    age = now - daemon.heartbeat_at
    return {
        "id": daemon.id,
        "host": daemon.hostname,
        "pid": daemon.pid,
        "version": daemon.version,
        "started_at": iso(daemon.started_at),
        "heartbeat_at": iso(daemon.heartbeat_at),
        "heartbeat_age_s": round(age.total_seconds(), 1),
        "healthy": daemon.stopped_at is None and age <= limit,
        "stopped": daemon.stopped_at is not None,
        "stopped_at": iso(daemon.stopped_at),
        "leases": [{"name": name, "expires_at": iso(until)} for name, until in leases],
        "claimed_runs": {
            "count": len(claimed),
            "runs": [{"id": run_id, "schedule": schedule} for run_id, schedule in claimed],
        },
        "config": config_view(daemon.config, disk),
        "reload": daemon.reload,
    }


def config_view(recorded: dict[str, Any] | None, disk: FilesOnDisk) -> dict[str, Any] | None:
    """The config a daemon recorded it runs on, against the files on disk now."""
    if recorded is None:
        return None
    files = {item["path"]: item["sha256"] for item in recorded.get("files", [])}
    change = FilesChange.between(files, disk.sha256s)
    return {
        **recorded,
        "disk": "same" if change.same else "differs",
        "changed": change.changed,
        "added": change.added,
        "removed": change.removed,
    }
