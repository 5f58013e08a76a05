"""``load_config``: read every config file, validate everything, report every problem at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from triggerd.config.azureml_yaml import read_schedule_block
from triggerd.config.models import (
    DATASTORE_KINDS,
    PIPELINE_KINDS,
    PLANNED_PIPELINE_KINDS,
    SCHEDULE_KEYS,
    CommandPipeline,
    Config,
    Datastore,
    Pipeline,
    Schedule,
)
from triggerd.config.problems import name_problem, problems_from, unknown_key
from triggerd.config.yamltree import Node, format_path, parse_yaml
from triggerd.errors import ConfigError, ConfigProblem

SECTIONS = ("datastores", "pipelines", "schedules")
_DATASTORE: TypeAdapter[Any] = TypeAdapter(Datastore)
_PIPELINE: TypeAdapter[Any] = TypeAdapter(Pipeline)
_SCHEDULE: TypeAdapter[Schedule] = TypeAdapter(Schedule)
KeyPath = tuple[str | int, ...]


@dataclass
class Definition:
    """A datastore, pipeline or schedule as found in a file (``model`` is None if invalid)."""

    section: str
    name: str
    file: str
    key: KeyPath
    line: int
    model: Any
    node: Node
    to_file_path: Callable[[KeyPath], KeyPath] = lambda path: path


@dataclass
class Loaded:
    problems: list[ConfigProblem] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)

    def problem(
        self, file: str, node: Node, path: KeyPath, message: str, prefix: KeyPath = ()
    ) -> None:
        """A problem at ``path`` in ``node``, which is found at ``prefix`` in the file."""
        key = format_path((*prefix, *path))
        self.problems.append(ConfigProblem(file, key, message, node.line_at(path)))


def load_config(path: Path) -> Config:
    """The configuration in ``path`` (a YAML file, or a directory of ``*.yaml``/``*.yml``).

    Raises ConfigError with every problem found in every file.
    """
    loaded = Loaded()
    files = _config_files(path, loaded)
    for file in files:
        _load_file(file, loaded)
    _check_names(loaded)
    _check_references(loaded)
    if loaded.problems:
        order = {str(file): i for i, file in enumerate(files)}
        loaded.problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
        raise ConfigError(loaded.problems)
    return Config(**_first_definitions(loaded))


def _config_files(path: Path, loaded: Loaded) -> list[Path]:
    if path.is_dir():
        files = sorted(
            entry
            for entry in path.iterdir()
            if entry.suffix in (".yaml", ".yml")
            and not entry.name.startswith(".")
            and entry.is_file()
        )
        if not files:
            loaded.problems.append(ConfigProblem(str(path), "", "no *.yaml or *.yml files here"))
        return files
    if not path.exists():
        loaded.problems.append(ConfigProblem(str(path), "", "no such file or directory"))
        return []
    return [path]


def _load_file(path: Path, loaded: Loaded) -> None:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        loaded.problems.append(ConfigProblem(file, "", f"cannot read the file: {reason}"))
        return
    root, problems = parse_yaml(text, file)
    loaded.problems.extend(problems)
    if root is None:
        return
    if not isinstance(root.value, dict):
        message = (
            "the top level must be a mapping with datastores, pipelines, schedules or Schedule"
        )
        loaded.problems.append(ConfigProblem(file, "", message, root.line))
        return
    base_dir = path.parent.absolute()
    if "Schedule" in root.value:
        for key in root.value:
            if key in SECTIONS:
                message = (
                    "a file with a top-level Schedule holds that one Azure ML schedule only: "
                    f"move '{key}' to another file"
                )
                loaded.problem(file, root, (key,), message)
            elif key != "Schedule":
                loaded.problem(file, root, (key,), unknown_key(key, ["Schedule"]))
        _load_azure_schedule(file, path.stem, root, loaded)
        return
    for key in root.value:
        if key not in SECTIONS:
            loaded.problem(file, root, (key,), unknown_key(key, [*SECTIONS, "Schedule"]))
    _load_named(file, root, "datastores", _DATASTORE, base_dir, loaded)
    _load_named(file, root, "pipelines", _PIPELINE, base_dir, loaded)
    _load_schedule_list(file, root, base_dir, loaded)


def _load_named(
    file: str, root: Node, section: str, adapter: TypeAdapter[Any], base_dir: Path, loaded: Loaded
) -> None:
    node = root.value.get(section)
    if node is None or node.value is None:
        return
    if not isinstance(node.value, dict):
        loaded.problem(file, root, (section,), f"must be a mapping of {section} by name")
        return
    for name, item in node.value.items():
        key: KeyPath = (section, name)
        problem = name_problem(name)
        if problem:
            loaded.problem(file, root, key, problem)
        data = item.plain()
        if section == "pipelines" and not _pipeline_kind_supported(data, file, root, key, loaded):
            model = None
        else:
            model = _validate(adapter, data, base_dir, file, key, item, loaded)
        definition = Definition(section, name, file, key, root.line_at(key), model, item)
        loaded.definitions.append(definition)


def _pipeline_kind_supported(
    data: Any, file: str, root: Node, key: KeyPath, loaded: Loaded
) -> bool:
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind in PIPELINE_KINDS:
        return True
    supported = ", ".join(PIPELINE_KINDS)
    if kind in PLANNED_PIPELINE_KINDS:
        message = (
            f"pipeline kind '{kind}' is not supported by this version (supported: {supported})"
        )
    else:
        message = f"unknown pipeline kind '{kind}' (supported: {supported})"
    loaded.problem(file, root, (*key, "kind"), message)
    return False


def _load_schedule_list(file: str, root: Node, base_dir: Path, loaded: Loaded) -> None:
    node = root.value.get("schedules")
    if node is None or node.value is None:
        return
    if not isinstance(node.value, list):
        loaded.problem(file, root, ("schedules",), "must be a list of schedules, each with a name")
        return
    for i, item in enumerate(node.value):
        key: KeyPath = ("schedules", i)
        if not isinstance(item.value, dict):
            loaded.problem(file, root, key, "must be a mapping (a schedule with a name)")
            continue
        data = item.plain()
        if "source" in data:
            loaded.problem(file, root, (*key, "source"), unknown_key("source", SCHEDULE_KEYS))
            del data["source"]
        _add_schedule(file, key, item, data, base_dir, loaded)


def _load_azure_schedule(file: str, stem: str, root: Node, loaded: Loaded) -> None:
    key: KeyPath = ("Schedule",)
    node = root.value["Schedule"]
    if not isinstance(node.value, dict):
        loaded.problem(file, root, key, "must be a mapping (an Azure ML schedule)")
        return
    block = read_schedule_block(node.plain(), stem)
    for path, message in block.problems:
        loaded.problem(file, root, (*key, *path), message)
    base_dir = Path(file).parent.absolute()
    _add_schedule(file, key, node, block.data, base_dir, loaded, block.file_path)


def _add_schedule(
    file: str,
    key: KeyPath,
    node: Node,
    data: dict[str, Any],
    base_dir: Path,
    loaded: Loaded,
    to_file_path: Callable[[KeyPath], KeyPath] = lambda path: path,
) -> None:
    model = _validate(
        _SCHEDULE, {**data, "source": file}, base_dir, file, key, node, loaded, to_file_path
    )
    name = data.get("name")
    if isinstance(name, str):
        line = node.line_at(to_file_path(("name",)))
        definition = Definition("schedules", name, file, key, line, model, node, to_file_path)
        loaded.definitions.append(definition)


def _validate(
    adapter: TypeAdapter[Any],
    data: Any,
    base_dir: Path,
    file: str,
    key: KeyPath,
    node: Node,
    loaded: Loaded,
    to_file_path: Callable[[KeyPath], KeyPath] = lambda path: path,
) -> BaseModel | None:
    try:
        model: BaseModel = adapter.validate_python(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        loaded.problems.extend(
            problems_from(
                exc,
                file=file,
                prefix=key,
                node=node,
                data=data,
                known_keys=_KNOWN_KEYS,
                rename=to_file_path,
            )
        )
        return None
    return model


_KNOWN_KEYS = (
    *SCHEDULE_KEYS,
    *DATASTORE_KINDS,
    "kind",
    "path",
    "container",
    "connection_string_env",
    "account_url",
    "credential",
    "env",
    "file",
    "argv",
    "cwd",
    "timeout",
)


def _check_names(loaded: Loaded) -> None:
    first: dict[tuple[str, str], Definition] = {}
    for definition in loaded.definitions:
        seen = first.setdefault((definition.section, definition.name), definition)
        if seen is not definition:
            what = definition.section[:-1]
            message = (
                f"{what} '{definition.name}' is defined twice: here and at {seen.file}:{seen.line}"
            )
            where = format_path(definition.key)
            loaded.problems.append(ConfigProblem(definition.file, where, message, definition.line))


def _check_references(loaded: Loaded) -> None:
    defined = {section: _names(loaded, section) for section in SECTIONS}
    pipelines = _first_definitions(loaded)["pipelines"]
    for definition in loaded.definitions:
        schedule = definition.model
        if definition.section != "schedules" or not isinstance(schedule, Schedule):
            continue

        def report(path: KeyPath, message: str, definition: Definition = definition) -> None:
            file_path = definition.to_file_path(path)
            loaded.problem(definition.file, definition.node, file_path, message, definition.key)

        for section, ref in (("pipelines", schedule.pipeline), ("datastores", schedule.datastore)):
            if ref is not None and ref not in defined[section]:
                names = ", ".join(sorted(defined[section])) or "none"
                report((section[:-1],), f"unknown {section[:-1]} '{ref}' (defined: {names})")
        pipeline = pipelines.get(schedule.pipeline)
        if isinstance(pipeline, CommandPipeline):
            supplied = set(schedule.pipeline_parameters) | {schedule.data_path_parameter_name}
            for missing in sorted(pipeline.placeholders - supplied):
                report(
                    ("pipeline_parameters",),
                    f"pipeline '{schedule.pipeline}' has the placeholder {{{missing}}} in its "
                    f"argv, which this schedule does not supply: add '{missing}' to "
                    "pipeline_parameters",
                )


def _names(loaded: Loaded, section: str) -> set[str]:
    return {d.name for d in loaded.definitions if d.section == section}


def _first_definitions(loaded: Loaded) -> dict[str, dict[str, Any]]:
    """The valid definitions by section and name (the first one, if a name is defined twice)."""
    result: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for definition in loaded.definitions:
        if definition.model is not None:
            result[definition.section].setdefault(definition.name, definition.model)
    return result
