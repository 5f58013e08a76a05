"""What every command shares: the --config/--database options, the store, JSON and time parsing.

Errors end a command with one line on stderr, never a traceback: an invalid config exits 2
(one line per problem); an error triggerd raises on purpose exits 1, among them a database
that cannot be reached or opened, and any database error later in the command (the URL without
its password, and the cause).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from triggerd.config import Config, load_config, load_config_from_texts
from triggerd.errors import ConfigError, DatabaseMissing, TriggerdError
from triggerd.settings import Settings
from triggerd.store import RecordedConfig, Store, configrecord, open_store
from triggerd.store.db import store_error
from triggerd.views.common import events_view as events_view  # for the CLI's older callers
from triggerd.views.common import iso as iso

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """``--config``, ``--database`` and ``--state-dir`` on every command (they override env)."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        help="A YAML file or a directory of them [env: TRIGGERD_CONFIG; default: ./config]",
    )
    @click.option(
        "--database",
        "database_url",
        help="SQLAlchemy URL [env: TRIGGERD_DATABASE_URL; default: SQLite in the state dir]",
    )
    @click.option(
        "--state-dir",
        type=click.Path(path_type=Path),
        help="Where the SQLite database lives [env: TRIGGERD_STATE_DIR; default: ./.triggerd]",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        config_path: Path | None,
        database_url: str | None,
        state_dir: Path | None,
        **kwargs: Any,
    ) -> Any:
        overrides = {"config": config_path, "database_url": database_url, "state_dir": state_dir}
        settings = load_settings({k: v for k, v in overrides.items() if v is not None})
        try:
            return func(*args, settings=settings, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(2)
        except DatabaseMissing as exc:
            raise click.ClickException(missing_database(exc.path)) from exc
        except TriggerdError as exc:
            raise click.ClickException(str(exc)) from exc
        except SQLAlchemyError as exc:  # the database failed after it was opened
            url = settings.effective_database_url
            raise click.ClickException(str(store_error(url, exc))) from exc

    return wrapper  # type: ignore[return-value]


def load_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from TRIGGERD_* variables and flags; a bad value exits 2 naming the variable."""
    try:
        return Settings.model_validate(overrides)
    except ValidationError as exc:
        for error in exc.errors():
            name = "TRIGGERD_" + "_".join(str(part) for part in error["loc"]).upper()
            click.echo(f"{name}: {error['msg']}", err=True)
        sys.exit(2)


def open_cli_store(settings: Settings, *, create: bool = False) -> Store:
    """The store of ``settings``. Only commands that record something pass ``create=True``;
    the others never create a database (a missing one is :class:`DatabaseMissing`)."""
    return open_store(settings.effective_database_url, create=create)


def cli_config(settings: Settings) -> Config:
    """The config on disk; if it is invalid, the last valid config a daemon recorded on the
    database, after a ``warning:`` line per problem on stderr (so that a broken file does not
    keep an operator from reading or changing state during an incident). Without a recorded
    one, the ConfigError (the command exits 2)."""
    try:
        return load_config(settings.config)
    except ConfigError as error:
        recorded = _recorded_config(settings)
        if recorded is None:
            raise
        try:
            config = load_config_from_texts(recorded.texts)
        except ConfigError:
            raise error from None
        for problem in error.problems:
            click.echo(f"warning: {problem}", err=True)
        click.echo(
            f"warning: the config on disk is invalid; using the last valid config the daemon "
            f"recorded at {recorded.loaded_at.isoformat(timespec='seconds')} "
            f"({_files(len(recorded.texts))}, loaded by {recorded.loaded_by})",
            err=True,
        )
        return config


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _recorded_config(settings: Settings) -> RecordedConfig | None:
    try:
        with open_cli_store(settings) as store:
            return store.read(configrecord.recorded)
    except (TriggerdError, SQLAlchemyError):  # no database, or none to be reached: as before
        return None


def missing_database(path: str) -> str:
    """Where a command looked for the database, and how to point it elsewhere."""
    return (
        f"no triggerd database at {path}: the daemon creates it when it first starts; to use "
        "another, give --state-dir DIR or --database URL (or set TRIGGERD_STATE_DIR or "
        "TRIGGERD_DATABASE_URL)"
    )


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from the command line; no offset means UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date and time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(moment: datetime | None) -> str:
    """A time in a table: UTC to the second, ``2026-12-01 11:23:05Z``; ``-`` for none."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def table(rows: list[list[str]], headers: list[str]) -> None:
    """A plain aligned table, the way `kubectl get` prints one."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
