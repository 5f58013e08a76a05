"""``load_config``: read every config file, validate everything, report every problem at once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from triggerd.config.azureml_v2 import file_path, is_v2_file, read_v2_schedule
from triggerd.config.azureml_yaml import read_schedule_block
from triggerd.config.base import SecretSource
from triggerd.config.digest import ConfigFiles, absolute
from triggerd.config.files import read_config_texts
from triggerd.config.models import (
    SCHEDULE_KEYS,
    AzureBlobDatastore,
    Config,
    Datastore,
    LocalDatastore,
    Schedule,
    unreadable_datastore,
)
from triggerd.config.pipelines import (
    HTTP_BODY_NAMES,
    PIPELINE_KINDS,
    PIPELINE_MODELS,
    PLANNED_PIPELINE_KINDS,
    BearerAuth,
    HttpPipeline,
    Pipeline,
    RetryPolicy,
)
from triggerd.config.problems import name_problem, problems_from, unknown_key
from triggerd.config.triggers import DatastoreTrigger
from triggerd.config.yamltree import Node, format_path, parse_yaml
from triggerd.errors import ConfigError, ConfigProblem

SECTIONS = ("datastores", "pipelines", "schedules")
KeyPath = tuple[str | int, ...]
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "datastores": TypeAdapter(Datastore),
    "pipelines": TypeAdapter(Pipeline),
    "schedules": TypeAdapter(Schedule),
}
# For "did you mean ...?" hints on unknown keys.
_KNOWN_KEYS = {
    "datastores": {*LocalDatastore.model_fields, *AzureBlobDatastore.model_fields}
    | set(SecretSource.model_fields),
    "pipelines": {key for model in PIPELINE_MODELS for key in model.model_fields}
    | {*BearerAuth.model_fields, *RetryPolicy.model_fields},
    "schedules": set(SCHEDULE_KEYS),
}


def _same(path: KeyPath) -> KeyPath:
    return path


@dataclass
class Definition:
    """A datastore, pipeline or schedule as found in a file (``model`` is None if invalid)."""

    section: str
    name: str
    source: FileSource
    key: KeyPath
    model: Any
    data: Any = None
    to_file_path: Callable[[KeyPath], KeyPath] = _same

    @property
    def line(self) -> int:
        name_key = self.to_file_path(("name",)) if self.section == "schedules" else ()
        return self.source.root.line_at((*self.key, *name_key))

    def problem(self, path: KeyPath, message: str) -> None:
        self.source.problem((*self.key, *self.to_file_path(path)), message)


@dataclass
class FileSource:
    """One config file being loaded: its tree, and where its problems and definitions go."""

    file: str
    root: Node
    problems: list[ConfigProblem]
    definitions: list[Definition]
    unread_keys: frozenset[str] = frozenset()

    @functools.cached_property
    def base_dir(self) -> Path:  # once a file, not once a definition (10,000 in one file)
        return Path(self.file).parent.absolute()

    def problem(self, path: KeyPath, message: str) -> None:
        line = self.root.line_at(path)
        self.problems.append(ConfigProblem(self.file, format_path(path), message, line))

    def define(
        self,
        section: str,
        key: KeyPath,
        data: Any,
        name: Any,
        to_file_path: Callable[[KeyPath], KeyPath] = _same,
        validate: bool = True,
    ) -> None:
        """Validate ``data``, found at ``key``, and record it as a definition named ``name``."""
        model = None
        if validate:
            try:
                context = {"base_dir": self.base_dir}
                model = _ADAPTERS[section].validate_python(data, context=context)
            except ValidationError as exc:
                found = problems_from(
                    exc,
                    file=self.file,
                    root=self.root,
                    prefix=key,
                    data=data,
                    known_keys=_KNOWN_KEYS[section],
                    rename=to_file_path,
                )
                # A value YAML could not read has its problem already: no second one.
                self.problems.extend(p for p in found if p.key not in self.unread_keys)
        if isinstance(name, str):
            definition = Definition(section, name, self, key, model, data, to_file_path)
            self.definitions.append(definition)


def load_config(path: Path) -> Config:
    """The configuration in ``path`` (a YAML file, or a directory of ``*.yaml``/``*.yml``).

    Raises ConfigError with every problem found in every file.
    """
    return read_config(path).config


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and the texts it was loaded from (what the daemon records)."""

    config: Config
    files: ConfigFiles


def read_config(path: Path) -> LoadedConfig:
    """``load_config``, keeping the texts of the files that were read."""
    problems: list[ConfigProblem] = []
    files, texts = read_config_texts(path, problems)
    config = _load_texts(files, texts, problems)
    return LoadedConfig(config, ConfigFiles({absolute(f): t for f, t in texts.items()}))


def load_config_from_texts(texts: Mapping[str, str]) -> Config:
    """The configuration in ``texts`` ({path: text}), loaded as if each text were the file at
    its path: relative paths in it resolve from that file's directory, as they did from disk.
    Raises ConfigError with every problem found."""
    files = [str(file) for file in sorted(Path(name) for name in texts)]
    return _load_texts(files, {str(Path(name)): text for name, text in texts.items()}, [])


def _load_texts(
    files: list[str], texts: Mapping[str, str], problems: list[ConfigProblem]
) -> Config:
    """Load the ``texts`` of ``files`` (in this order) into one Config, or raise every problem
    (those given, of files that could not be read, included)."""
    definitions: list[Definition] = []
    for file in files:
        if file in texts:
            _load_file(file, texts[file], problems, definitions)
    _check_names(definitions, problems)
    _check_references(definitions)
    if problems:
        order = {file: i for i, file in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
        raise ConfigError(problems)
    return Config(**_valid_definitions(definitions))


EMPTY_FILE = (
    "the file defines nothing (it is empty or holds only comments); "
    "to define no schedules on purpose, write 'schedules: []'"
)


def _load_file(
    file: str, text: str, problems: list[ConfigProblem], definitions: list[Definition]
) -> None:
    """Load one file; whatever it holds, its problems are reported, nothing is raised."""
    try:
        _load_file_text(file, text, problems, definitions)
    except (MemoryError, RecursionError) as exc:
        reason = "too little memory" if isinstance(exc, MemoryError) else "nested too deeply"
        problems.append(ConfigProblem(file, "", f"cannot load the file: {reason}"))


def _load_file_text(
    file: str, text: str, problems: list[ConfigProblem], definitions: list[Definition]
) -> None:
    root, found = parse_yaml(text, file)
    problems.extend(found)
    if root is None or root.value is None:
        if not found:
            problems.append(ConfigProblem(file, "", EMPTY_FILE))
        return
    if not isinstance(root.value, dict):
        message = (
            "the top level must be a mapping with datastores, pipelines, schedules or Schedule"
        )
        problems.append(ConfigProblem(file, "", message, root.line))
        return
    unread = frozenset(p.key for p in found)
    source = FileSource(file, root, problems, definitions, unread)
    if "Schedule" in root.value:
        for key in root.value:
            if key in SECTIONS:
                message = (
                    "a file with a top-level Schedule holds that one Azure ML schedule only: "
                    f"move '{key}' to another file"
                )
                source.problem((key,), message)
            elif key != "Schedule":
                source.problem((key,), unknown_key(key, ["Schedule"]))
        _load_azure_schedule(source, Path(file).stem)
        return
    if is_v2_file(root.value):
        _load_v2_schedule(source)
        return
    for key in root.value:
        if key not in SECTIONS:
            source.problem((key,), unknown_key(key, [*SECTIONS, "Schedule"]))
    _check_defines_something(source)
    _load_named(source, "datastores")
    _load_named(source, "pipelines")
    _load_schedule_list(source)


def _check_defines_something(source: FileSource) -> None:
    """A native file must give at least one section a value: ``schedules: []`` defines "no
    schedules" on purpose; ``schedules:`` alone (null), like an empty file, defines nothing."""
    sections = source.root.value
    if any(key not in SECTIONS for key in sections):
        return  # an unknown key (a misspelled section?) is the problem already reported
    if any(node.value is not None for node in sections.values()):
        return
    if sections:
        keys = [f"'{key}:'" for key in sections]
        listed = " and ".join([", ".join(keys[:-1]), keys[-1]] if len(keys) > 1 else keys)
        why = f"{listed} {'has' if len(keys) == 1 else 'have'} no value"
        line = source.root.key_lines[next(iter(sections))]
    else:
        why, line = "the top-level mapping is empty", source.root.line
    message = f"the file defines nothing ({why}); to define no schedules on purpose, write "
    source.problems.append(ConfigProblem(source.file, "", message + "'schedules: []'", line))


def _load_named(source: FileSource, section: str) -> None:
    node = source.root.value.get(section)
    if node is None or node.value is None:
        return
    if not isinstance(node.value, dict):
        source.problem((section,), f"must be a mapping of {section} by name")
        return
    for name, item in node.value.items():
        key: KeyPath = (section, name)
        problem = name_problem(name)
        if problem:
            source.problem(key, problem)
        data = item.plain()
        supported = section != "pipelines" or _pipeline_kind_supported(source, key, data)
        source.define(section, key, data, name, validate=supported)


def _pipeline_kind_supported(source: FileSource, key: KeyPath, data: Any) -> bool:
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
    source.problem((*key, "kind"), message)
    return False


def _load_schedule_list(source: FileSource) -> None:
    node = source.root.value.get("schedules")
    if node is None or node.value is None:
        return
    if not isinstance(node.value, list):
        source.problem(("schedules",), "must be a list of schedules, each with a name")
        return
    for i, item in enumerate(node.value):
        key: KeyPath = ("schedules", i)
        if not isinstance(item.value, dict):
            source.problem(key, "must be a mapping (a schedule with a name)")
            continue
        data = item.plain()
        for own in ("source", "azureml_v2"):  # set by triggerd, never by a file
            if own in data:
                source.problem((*key, own), unknown_key(own, SCHEDULE_KEYS))
                del data[own]
        source.define("schedules", key, {**data, "source": source.file}, data.get("name"))


def _load_azure_schedule(source: FileSource, stem: str) -> None:
    key: KeyPath = ("Schedule",)
    node = source.root.value["Schedule"]
    if not isinstance(node.value, dict):
        source.problem(key, "must be a mapping (an Azure ML schedule)")
        return
    block = read_schedule_block(node.plain(), stem)
    for path, message in block.problems:
        source.problem((*key, *path), message)
    data = {**block.data, "source": source.file}
    source.define("schedules", key, data, data.get("name"), block.file_path)


def _load_v2_schedule(source: FileSource) -> None:
    """An Azure ML v2 schedule file (``config/azureml_v2.py``): one schedule."""
    block = read_v2_schedule(source.root.plain())
    for path, message in block.problems:
        source.problem(path, message)
    before, data = len(source.problems), {**block.data, "source": source.file}
    source.define("schedules", (), data, data.get("name"), file_path)
    source.problems[before:] = block.unrepeated(source.problems[before:])


def _check_names(definitions: list[Definition], problems: list[ConfigProblem]) -> None:
    first: dict[tuple[str, str], Definition] = {}
    for definition in definitions:
        seen = first.setdefault((definition.section, definition.name), definition)
        if seen is not definition:
            message = (
                f"{definition.section[:-1]} '{definition.name}' is defined twice: "
                f"here and at {seen.source.file}:{seen.line}"
            )
            where = format_path(definition.key)
            problems.append(ConfigProblem(definition.source.file, where, message, definition.line))


def _reference(data: Any, field: str) -> str | None:
    """The name a schedule's raw data gives in ``field`` (None if absent, null or not a name)."""
    value = data.get(field) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value != "None" else None


def _check_references(definitions: list[Definition]) -> None:
    """Unknown pipelines and datastores (of every schedule, valid or not), and placeholders a
    valid schedule does not supply."""
    defined = {s: {d.name for d in definitions if d.section == s} for s in SECTIONS}
    valid = _valid_definitions(definitions)
    pipelines = valid["pipelines"]
    for definition in definitions:
        if definition.section != "schedules":
            continue
        for section, field in (("pipelines", "pipeline"), ("datastores", "datastore")):
            ref = _reference(definition.data, field)
            if ref is not None and ref not in defined[section]:
                names = ", ".join(sorted(defined[section])) or "none"
                definition.problem((field,), f"unknown {field} '{ref}' (defined: {names})")
        schedule = definition.model
        if isinstance(schedule, Schedule):
            _check_placeholders(definition, schedule, pipelines.get(schedule.pipeline))
            problem = unreadable_datastore(schedule, pipelines, valid["datastores"])
            if problem:
                definition.problem(("datastore",), problem)


def _check_placeholders(definition: Definition, schedule: Schedule, pipeline: Any) -> None:
    if pipeline is None or not pipeline.placeholders:
        return
    watch = schedule.trigger
    bound = watch.data_path_parameter_name if isinstance(watch, DatastoreTrigger) else None
    supplied = set(schedule.pipeline_parameters) | {bound}
    if isinstance(pipeline, HttpPipeline):
        supplied |= HTTP_BODY_NAMES
    for missing in sorted(pipeline.placeholders - supplied):
        definition.problem(
            ("pipeline_parameters",),
            f"pipeline '{schedule.pipeline}' has the placeholder {{{missing}}} in its "
            f"{pipeline.placeholder_site}, which this schedule does not supply: add "
            f"'{missing}' to pipeline_parameters",
        )


def _valid_definitions(definitions: list[Definition]) -> dict[str, dict[str, Any]]:
    """The valid definitions by section and name (the first one, if a name is defined twice)."""
    result: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for definition in definitions:
        if definition.model is not None:
            result[definition.section].setdefault(definition.name, definition.model)
    return result
