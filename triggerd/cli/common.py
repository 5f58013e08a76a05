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

from triggerd.errors import ConfigError, DatabaseMissing, TriggerdError
from triggerd.settings import Settings
from triggerd.store import Store, open_store
from triggerd.store.db import store_error

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


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def table(rows: list[list[str]], headers: list[str]) -> None:
    """A plain aligned table, the way `kubectl get` prints one."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
