"""Which schedules a blob event fires, or why it fires none. Pure.

A queue may carry the events of a whole storage account; each schedule it feeds watches one
folder of one container, non-recursively, with include/exclude patterns. An event fires a
schedule when it is a ``BlobCreated`` of a committed blob directly in that folder whose name the
patterns accept — the rules of a listing, so an event and a poll agree on what fires. When it
fires none, the reason given is the one of the schedule it came closest to (an excluded name
says more than "another container").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from triggerd.datastores.blob_events import BLOB_DELETED, BlobEvent
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.names import MAX_PATH, unrepresentable

# Why an event fires nothing, from the farthest miss to the closest.
NOT_CREATED = "not_created"  # another event type
DELETED = "deleted"  # deletions fire nothing (as in a poll)
CREATE_FILE = "create_file"  # ADLS Gen2's zero-length CreateFile: the file is not written yet
OTHER_ACCOUNT = "other_account"
OTHER_CONTAINER = "other_container"
OTHER_FOLDER = "other_folder"
SUBFOLDER = "subfolder"
EXCLUDED = "excluded"
UNREPRESENTABLE = "unrepresentable"
ALREADY_SEEN = "already_seen"  # decided with the snapshot, in the store
_CLOSENESS = (OTHER_ACCOUNT, OTHER_CONTAINER, OTHER_FOLDER, SUBFOLDER, EXCLUDED, UNREPRESENTABLE)
REASONS = (NOT_CREATED, DELETED, CREATE_FILE, *_CLOSENESS, ALREADY_SEEN)


@dataclass(frozen=True)
class Watched:
    """A schedule a queue feeds: the folder it watches."""

    schedule: str
    datastore: str
    account: str | None  # the datastore's storage account (lower case); None: not known
    container: str
    prefix: str  # the folder, "" for the container's top
    file_filter: FileFilter

    @property
    def head(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""


def route(event: BlobEvent, watched: Sequence[Watched]) -> tuple[list[Watched], str | None]:
    """The schedules ``event`` fires (then None), or none and why."""
    if not event.created:
        return [], DELETED if event.event_type == BLOB_DELETED else NOT_CREATED
    if event.adls_create_file:
        return [], CREATE_FILE
    fires: list[Watched] = []
    closest = -1
    for target in watched:
        miss = _miss(event, target)
        if miss is None:
            fires.append(target)
        else:
            closest = max(closest, _CLOSENESS.index(miss))
    if fires:
        return fires, None
    return [], _CLOSENESS[closest] if closest >= 0 else OTHER_CONTAINER


def _miss(event: BlobEvent, target: Watched) -> str | None:
    if None not in (event.account, target.account) and event.account != target.account:
        return OTHER_ACCOUNT
    if event.container != target.container:
        return OTHER_CONTAINER
    head = target.head
    if not event.name.startswith(head):
        return OTHER_FOLDER
    name = event.name[len(head) :]
    if not name:
        return OTHER_FOLDER  # the folder's own marker blob ("incoming/")
    if "/" in name:
        return SUBFOLDER
    if target.file_filter.match(name) is None:
        return EXCLUDED
    if (not event.name.isascii() or len(event.name) > MAX_PATH) and unrepresentable(event.name):
        return UNREPRESENTABLE
    return None
