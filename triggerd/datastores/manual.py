"""Which file a manual run (`triggerd schedules trigger --data-path`) may bind, and why not.

The rule is the poll's own: the path must be in what the schedule's lister lists, built exactly
as the poller builds it (the datastore, ``path_on_datastore``, include/exclude). So a manual
run never binds a file that a poll could not fire: nothing outside the datastore (``..``), in a
sub-folder (polls are not recursive), a FIFO, a folder, a symlink that leads out of the watched
folder, a name the patterns refuse, or a name the store cannot hold. When the path is not
listed, the reason is worked out afterwards (an ``lstat`` for a local folder).
"""

from __future__ import annotations

import fnmatch
import stat
from pathlib import Path

from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.config.triggers import DatastoreTrigger
from triggerd.datastores.factory import build_lister
from triggerd.datastores.filters import FileFilter, watch_filter
from triggerd.datastores.listers import Lister
from triggerd.datastores.local import LocalLister
from triggerd.datastores.names import shown, unrepresentable
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.snapshot import Listing
from triggerd.errors import TriggerdError


class DataPathRefused(TriggerdError):
    """The given data path is not a file a poll of the schedule would fire."""


def normalise_data_path(value: str) -> str:
    """``"./incoming//a.csv"`` -> ``"incoming/a.csv"``; refuses absolute paths and ``..``."""
    if value.startswith("/"):
        raise DataPathRefused(
            f"{shown(value)!r} is an absolute path; give the path relative to the datastore root"
        )
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DataPathRefused(f"{shown(value)!r} leaves the datastore ('..')")
    if not parts:
        raise DataPathRefused(f"{value!r} names no file")
    return "/".join(parts)


def check_data_path(
    watch: DatastoreTrigger, datastore: LocalDatastore | AzureBlobDatastore, value: str
) -> str:
    """The path a poll of the trigger ``watch`` would list for ``value`` (relative to the
    datastore root).

    Raises DataPathRefused when a poll would never fire it, and ListingError when the folder
    cannot be listed at all.
    """
    relative = normalise_data_path(value)
    problem = unrepresentable(relative)
    if problem:
        raise DataPathRefused(f"{shown(relative)!r} cannot be stored: {problem}")
    file_filter = watch_filter(watch)
    lister = build_lister(datastore, watch.path_on_datastore, file_filter)
    try:
        listing = lister.list()
        if relative in listing:
            return relative
        raise DataPathRefused(_why_not(watch, lister, file_filter, listing, relative))
    finally:
        lister.close()


def _why_not(
    watch: DatastoreTrigger,
    lister: Lister,
    file_filter: FileFilter,
    listing: Listing,
    relative: str,
) -> str:
    head = normalise_path_on_datastore(watch.path_on_datastore)
    folder, _, name = relative.rpartition("/")
    where = lister.description
    if folder != (head or ""):
        if head is None or folder.startswith(head + "/"):
            return (
                f"{relative!r} is in a sub-folder of the watched folder ({where}); "
                "polls are not recursive, so it never fires"
            )
        hint = ""
        if head is not None and f"{head}/{relative}" in listing:
            hint = f"; did you mean '{head}/{relative}'? (the path is relative to the datastore)"
        return f"{relative!r} is not in the folder the schedule watches ({where}){hint}"
    if isinstance(lister, LocalLister):
        local = _local_reason(lister, relative)
        if local is not None:
            return local
    if not file_filter.accepts(name):
        return _filter_reason(watch, file_filter, name)
    if isinstance(lister, LocalLister):
        return f"{relative!r} was not in the listing of {where} (changed or removed meanwhile?)"
    return f"no blob {relative!r} directly in {where}"


def _local_reason(lister: LocalLister, relative: str) -> str | None:
    """Why a file of the watched local folder is not listed, judged by its ``lstat``."""
    path = lister.root.joinpath(*relative.split("/"))
    try:
        st = path.lstat()
    except FileNotFoundError:
        return f"there is no file {path}"
    except OSError as exc:
        return f"cannot look at {path}: {exc.strerror or type(exc).__name__}"
    if stat.S_ISLNK(st.st_mode):
        return _symlink_reason(lister, path)
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a folder, not a file (polls are not recursive)"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is {_kind(st.st_mode)}, not a regular file; polls list regular files only"
    return None


def _symlink_reason(lister: LocalLister, path: Path) -> str | None:
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return f"{path} is a symlink to nothing (its target does not exist)"
    except (OSError, RuntimeError):
        return f"{path} is a symlink that cannot be followed (a loop?)"
    inside = lister.folder.resolve()
    if target == inside or not target.is_relative_to(inside):
        return f"{path} is a symlink to {target}, outside the watched folder {lister.folder}"
    if not target.is_file():
        return f"{path} is a symlink to {target}, which is not a regular file"
    return None  # listed like its target, so the patterns must have refused its name


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _filter_reason(watch: DatastoreTrigger, file_filter: FileFilter, name: str) -> str:
    if not any(fnmatch.fnmatchcase(name, p) for p in file_filter.include):
        patterns = ", ".join(repr(p) for p in file_filter.include)
        return f"{name!r} matches none of the schedule's include patterns ({patterns})"
    pattern = next(p for p in file_filter.exclude if fnmatch.fnmatchcase(name, p))
    where = "exclude" if watch.exclude is not None else "the default exclude list"
    return f"{name!r} matches {pattern!r} in {where}, so polls never fire it"
