"""What every config model shares: frozen, unknown keys rejected, null means not given; paths
relative to the file that defines them; secrets read from an environment variable or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from triggerd.config.problems import Invalid


class ConfigModel(BaseModel):
    """Base of every config section: frozen, unknown keys rejected, null = not given."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_none_string: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if value is not None and (value != "None" or key in cls.keep_none_string)
        }


def relative_to_file(value: Path | None, info: ValidationInfo) -> Path | None:
    base = (info.context or {}).get("base_dir")
    if value is None or value.is_absolute() or base is None:
        return value
    return tidy_path(Path(base) / value)


def tidy_path(path: Path) -> Path:
    """``path`` without ``name/..`` pairs (``/etc/triggerd/config/../data`` ->
    ``/etc/triggerd/data``), so that logs and messages show the folder meant. Symlinks are not
    resolved, and a ``..`` after a symlink stays: the system resolves the link first, so
    dropping the pair could name another folder."""
    parts: list[str] = []
    for part in path.parts:
        droppable = part == ".." and bool(parts) and parts[-1] not in ("..", path.anchor)
        if droppable and not Path(*parts).is_symlink():
            parts.pop()
            continue
        parts.append(part)
    return Path(*parts)


class SecretSource(ConfigModel):
    """A secret read from an environment variable or a file, never written into the config."""

    env: str | None = None
    file: Path | None = None

    _resolve_file = field_validator("file")(relative_to_file)

    @model_validator(mode="after")
    def _one_source(self) -> SecretSource:
        if (self.env is None) == (self.file is None):
            raise Invalid("give exactly one of env (a variable name) or file (a path)")
        return self
