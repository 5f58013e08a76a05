"""Daemon settings: ``TRIGGERD_*`` environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from triggerd.config.durations import parse_duration


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; otherwise state lives next to where the
    # daemon was started, which is what `make run` wants.
    return Path(os.environ.get("STATE_DIRECTORY", ".triggerd"))


class Settings(BaseSettings):
    """Everything about the daemon itself (not the schedules: those live in the config files)."""

    # hide_input_in_errors: a ValidationError's text never quotes a value (the token is one).
    model_config = SettingsConfigDict(
        env_prefix="TRIGGERD_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    config: Path = Field(default=Path("config"), description="a YAML file or a directory of them")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the state directory"
    )
    state_dir: Path = Field(default_factory=_default_state_dir)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    concurrency: int = Field(default=4, ge=1, description="runs submitted at the same time")
    shutdown_grace: timedelta = Field(
        default=timedelta(seconds=30), description="how long SIGTERM waits for runs in flight"
    )
    heartbeat_interval: timedelta = timedelta(seconds=5)
    follow_interval: timedelta = Field(
        default=timedelta(seconds=15),
        description="the first wait between status checks of a followed remote run",
    )
    http_address: str = Field(
        default="127.0.0.1:9464",
        description="host:port of /healthz, /readyz and /metrics; 'off' disables them",
    )
    # A secret: SecretStr shows as '**********' in a repr, and exclude keeps it out of dumps.
    http_token: SecretStr | None = Field(
        default=None,
        exclude=True,
        description="the bearer token the HTTP pages and /api/ need (not the probes, /metrics)",
    )

    @field_validator("shutdown_grace", "heartbeat_interval", "follow_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        """Whole seconds (``30``) or a string with a unit (``"30s"``, ``"2m"``)."""
        # [0-9], not str.isdigit(): that is also true of "١٢" and "²" (not ASCII digits).
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,15}", value.strip(" \t")):
            value = int(value)
        return parse_duration(value, unit="s")

    @field_validator("http_address")
    @classmethod
    def _address(cls, value: str) -> str:
        from triggerd.observability.httpserver import parse_address

        if not value.isascii():  # the port's digits: 0-9 only, not "٩٤٦٤"
            raise ValueError("the HTTP address must be host:port in ASCII, e.g. 127.0.0.1:9464")
        parse_address(value)  # raises ValueError with what is wrong
        return value

    @field_validator("http_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        """Empty is no token; else printable ASCII, no spaces: it travels in a header."""
        # The messages never quote the value: a bad setting is printed, and this one is secret.
        text = value.get_secret_value().strip() if value is not None else ""
        if not text:
            return None
        if not all("!" <= char <= "~" for char in text):
            raise ValueError("the token must be printable ASCII without spaces")
        return SecretStr(text)

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        # URL.create escapes what a URL would read otherwise: '?', '#' or '%' in the path.
        path = (self.state_dir / "triggerd.db").resolve()
        return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)
