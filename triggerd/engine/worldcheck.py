"""``validate --strict``, and the warnings of ``triggerd run`` at start: does the world the config
names exist?

A valid config can still fail at its first run or poll: a folder that is not there, a container
that cannot be listed, a command that is not installed, a working directory that is gone, a
secret whose variable is unset or whose file is empty. ``check_world`` finds those, each as a
``ConfigProblem`` naming the file, the key and the problem, as config problems do. No message
holds a secret's value: a variable or file is named, never read out.

What is checked (everything the config defines, used by a schedule or not):

- a ``local`` datastore's folder, and each datastore schedule's ``path_on_datastore`` in it:
  it exists and can be listed (one ``scandir`` that reads its first entries, per folder);
- an ``azure_blob`` datastore: its connection string or credential is there, and the container
  can be listed (one request for one blob, no retries, ``timeout`` seconds at most); with
  ``events:``, its queue can be read (one peek);
- a ``command`` pipeline: its ``cwd`` is a folder; ``argv[0]`` is found as the submitter starts
  it (a name on the ``PATH`` the command gets, a path relative to its ``cwd``) and is an
  executable file (an ``argv[0]`` with a ``{placeholder}`` is not checked);
- every secret read from ``env`` or ``file`` (a bearer token, a header, a SAS token or account
  key): the variable is set and not empty; the file is a readable regular file, not empty.

An ``azure`` auth (DefaultAzureCredential) is not tried: it has nothing configured to check.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from triggerd.config import Config
from triggerd.config.base import SecretSource
from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.config.pipelines import BearerAuth, CommandPipeline, HttpPipeline
from triggerd.config.triggers import DatastoreTrigger
from triggerd.config.where import KeyPath, Places
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.errors import ConfigProblem, ListingError, QueueError
from triggerd.observability.logging import get_logger

BLOB_TIMEOUT = 10.0  # seconds a container check may take
BLOB_CHECKS_AT_ONCE = 16

Found = tuple[KeyPath, str]  # the key below the part, and the problem


def check_world(
    config: Config, config_path: Path, *, blob_timeout: float = BLOB_TIMEOUT
) -> list[ConfigProblem]:
    """Every problem of the world ``config`` (loaded from ``config_path``) names, in config
    order: datastores, then datastore schedules, then pipelines."""
    places = Places(config_path)
    folders: dict[str, str | None] = {}  # a folder's problem, each folder checked once
    return [
        *_datastores(config, places, folders, blob_timeout),
        *_watched_folders(config, places, folders),
        *_pipelines(config, places),
    ]


def _datastores(
    config: Config, places: Places, folders: dict[str, str | None], blob_timeout: float
) -> Iterator[ConfigProblem]:
    blob = {n: d for n, d in config.datastores.items() if isinstance(d, AzureBlobDatastore)}
    blob_found = _blob_problems(blob, blob_timeout)
    for name, datastore in config.datastores.items():
        if isinstance(datastore, LocalDatastore):
            found = _folder(folders, datastore.path)
            if found:
                yield places.datastore(name, ("path",), found)
        else:
            yield from (places.datastore(name, k, m) for k, m in blob_found.get(name, []))


def _watched_folders(
    config: Config, places: Places, folders: dict[str, str | None]
) -> Iterator[ConfigProblem]:
    """The ``path_on_datastore`` of each schedule on a local datastore whose folder is there
    (a missing datastore folder is the datastore's problem, not each schedule's)."""
    for schedule in config.schedules.values():
        trigger = schedule.trigger
        if not isinstance(trigger, DatastoreTrigger):
            continue
        datastore = config.datastores.get(trigger.datastore)
        prefix = _prefix(trigger.path_on_datastore)
        if not isinstance(datastore, LocalDatastore) or prefix is None:
            continue
        if _folder(folders, datastore.path) is None:
            found = _folder(folders, datastore.path / prefix)
            if found:
                yield places.schedule(schedule, ("path_on_datastore",), found)


def _pipelines(config: Config, places: Places) -> Iterator[ConfigProblem]:
    for name, pipeline in config.pipelines.items():
        if isinstance(pipeline, CommandPipeline):
            found = list(_command_problems(pipeline))
        else:
            found = list(_remote_secrets(pipeline))
        yield from (places.pipeline(name, k, m) for k, m in found)


# --- folders ------------------------------------------------------------------------------


def _prefix(path_on_datastore: str | None) -> str | None:
    try:
        return normalise_path_on_datastore(path_on_datastore)
    except ValueError:  # refused by validation already
        return None


def _folder(seen: dict[str, str | None], path: Path) -> str | None:
    key = os.fspath(path)
    if key not in seen:
        seen[key] = folder_problem(path)
    return seen[key]


def folder_problem(path: Path) -> str | None:
    """Why the folder ``path`` cannot be listed (None if it can). Reads its first entries only."""
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except FileNotFoundError:
        return f"folder {path} does not exist"
    except NotADirectoryError:
        return f"{path} is not a folder"
    except OSError as exc:
        return f"cannot list folder {path}: {exc.strerror or type(exc).__name__}"
    return None


# --- blob containers ----------------------------------------------------------------------


def _blob_problems(
    datastores: dict[str, AzureBlobDatastore], timeout: float
) -> dict[str, list[Found]]:
    """Each blob datastore's problems: its secrets, then its container (checked side by side,
    ``BLOB_CHECKS_AT_ONCE`` at a time, each given ``timeout`` seconds)."""
    found: dict[str, list[Found]] = {}
    listable: list[str] = []
    for name, datastore in datastores.items():
        secrets = list(_blob_secrets(datastore))
        found[name] = secrets
        if not secrets:
            listable.append(name)
    for start in range(0, len(listable), BLOB_CHECKS_AT_ONCE):
        batch = listable[start : start + BLOB_CHECKS_AT_ONCE]
        answers = _at_once({n: _container_check(datastores[n], timeout) for n in batch}, timeout)
        for name in batch:
            reason = answers.get(name, f"no answer within {timeout:g} s")
            if reason is not None:
                found[name].append((("container",), f"cannot list the container: {reason}"))
        queued = [n for n in batch if datastores[n].events is not None]
        answers = _at_once({n: _queue_check(datastores[n], timeout) for n in queued}, timeout)
        for name in queued:
            reason = answers.get(name, f"no answer within {timeout:g} s")
            if reason is not None:
                found[name].append((("events", "queue"), f"cannot read the queue: {reason}"))
    return found


def _queue_check(datastore: AzureBlobDatastore, timeout: float) -> Callable[[], str | None]:
    def check() -> str | None:
        from triggerd.datastores.event_queue import EventQueue  # the SDK only when configured

        try:
            queue = EventQueue.for_datastore(datastore, timeout=timeout)
        except QueueError as exc:
            return str(exc)
        try:
            queue.probe()
        except QueueError as exc:
            return str(exc)
        finally:
            queue.close()
        return None

    return check


def _container_check(datastore: AzureBlobDatastore, timeout: float) -> Callable[[], str | None]:
    def check() -> str | None:
        from triggerd.datastores import azure_blob  # the Azure SDK only when it is configured
        from triggerd.datastores.filters import FileFilter

        try:
            container = azure_blob.container_client(datastore, timeout=timeout)
        except ListingError as exc:
            return str(exc)
        try:
            azure_blob.AzureBlobLister(container, None, FileFilter()).probe()
        except ListingError as exc:
            return str(exc)
        finally:
            azure_blob.close_container(container)
        return None

    return check


def _at_once(checks: dict[str, Callable[[], str | None]], timeout: float) -> dict[str, str | None]:
    """Run the checks in threads of their own; the answers that came within ``timeout`` (plus
    a second). A check that hangs is left behind (a daemon thread), not waited for."""
    answers: dict[str, str | None] = {}

    def run(name: str, check: Callable[[], str | None]) -> None:
        try:
            answers[name] = check()
        except Exception as exc:  # a bug, or an SDK surprise: a problem, never a crash
            answers[name] = f"{type(exc).__name__}"

    threads = [
        threading.Thread(target=run, args=(n, c), name=f"check-{n}", daemon=True)
        for n, c in checks.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return dict(answers)


def _blob_secrets(datastore: AzureBlobDatastore) -> Iterator[Found]:
    variable = datastore.connection_string_env
    if variable is not None and _unset(variable):
        yield (("connection_string_env",), _unset_message(variable))
    credential = datastore.credential
    if isinstance(credential, SecretSource):
        yield from _secret(credential, ("credential",))


# --- commands and secrets -----------------------------------------------------------------


def _command_problems(pipeline: CommandPipeline) -> Iterator[Found]:
    cwd = pipeline.cwd
    if cwd is not None and not cwd.is_dir():
        what = "is not a folder" if cwd.exists() else "does not exist"
        yield (("cwd",), f"working directory {cwd} {what}")
        return  # argv[0] may be relative to it
    program = pipeline.argv[0]
    if "{" in program:  # filled in per run
        return
    problem = program_problem(program, cwd, pipeline.env.get("PATH"))
    if problem:
        yield (("argv", 0), problem)


def program_problem(program: str, cwd: Path | None, path_variable: str | None) -> str | None:
    """Why ``program`` would not start (None if it would), found as ``subprocess.Popen`` finds
    it: with a ``/``, relative to ``cwd``; else on ``PATH`` (the pipeline's own, if it sets
    one, else the daemon's)."""
    if "/" in program:
        path = Path(program) if cwd is None else cwd / program
        if not path.exists():
            return f"{program!r} does not exist" + (f" (in {cwd})" if cwd is not None else "")
        if path.is_dir() or not os.access(path, os.X_OK):
            return f"{program!r} is not an executable file"
        return None
    search = path_variable if path_variable is not None else os.environ.get("PATH", os.defpath)
    if shutil.which(program, path=search) is None:
        whose = "the PATH of the pipeline's env" if path_variable is not None else "PATH"
        return f"{program!r} is not found on {whose}"
    return None


def _remote_secrets(pipeline: object) -> Iterator[Found]:
    auth = getattr(pipeline, "auth", None)
    if isinstance(auth, BearerAuth):
        if auth.token_env is not None:
            if _unset(auth.token_env):
                yield (("auth", "token_env"), _unset_message(auth.token_env))
        elif auth.token_file is not None:
            problem = secret_file_problem(auth.token_file)
            if problem:
                yield (("auth", "token_file"), problem)
    if isinstance(pipeline, HttpPipeline):
        for header, value in pipeline.headers.items():
            if isinstance(value, SecretSource):
                yield from _secret(value, ("headers", header))


def _secret(source: SecretSource, key: KeyPath) -> Iterator[Found]:
    if source.env is not None:
        if _unset(source.env):
            yield ((*key, "env"), _unset_message(source.env))
    elif source.file is not None:
        problem = secret_file_problem(source.file)
        if problem:
            yield ((*key, "file"), problem)


def _unset(variable: str) -> bool:
    return not os.environ.get(variable, "").strip()


def _unset_message(variable: str) -> str:
    return f"environment variable {variable} is not set or empty"


def secret_file_problem(path: Path) -> str | None:
    """Why the secret file ``path`` cannot be used (None if it can); its content is never
    shown. Not a regular file (a FIFO would block) is a problem before anything is read."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            return f"{path} is not a regular file"
        with path.open("rb") as file:
            text = file.read(64 * 1024)
    except FileNotFoundError:
        return f"file {path} does not exist"
    except OSError as exc:
        return f"cannot read file {path}: {exc.strerror or type(exc).__name__}"
    if not text.strip():
        return f"file {path} is empty"
    return None


def warn_about_the_world(
    config: Config, config_path: Path, *, blob_timeout: float = BLOB_TIMEOUT
) -> threading.Thread:
    """``triggerd run``, once it is ready: the same checks, in a thread of their own (a slow
    storage account never holds up the start), each problem a ``config.check_failed`` warning.
    The daemon runs on: a folder may yet appear, a poll or run reports its own failure."""

    def check() -> None:
        log = get_logger()
        try:
            problems = check_world(config, config_path, blob_timeout=blob_timeout)
        except Exception as exc:  # a bug here must not touch the daemon
            log.warning(
                "config.check_failed",
                file=str(config_path),
                line=None,
                key="",
                problem=f"the checks could not finish: {type(exc).__name__}",
            )
            return
        for problem in problems:
            log.warning(
                "config.check_failed",
                file=problem.file,
                line=problem.line,
                key=problem.key,
                problem=problem.message,
            )

    thread = threading.Thread(target=check, name="config-check", daemon=True)
    thread.start()
    return thread
