"""Where a datastore, pipeline or schedule is written: its file, key path and line.

A ``Config`` keeps what the files mean, not where each part came from (a schedule keeps only its
file). Problems found after loading (``validate --strict`` checking the world) still name the
file, the key and the line, like a config problem: ``Places`` finds them again by reading the
files, only when asked, so a config without such problems is never read twice.
"""

from __future__ import annotations

from pathlib import Path

from triggerd.config.azureml_yaml import read_schedule_block
from triggerd.config.files import config_files, read_config_file
from triggerd.config.models import Schedule
from triggerd.config.yamltree import Node, format_path, parse_yaml
from triggerd.errors import ConfigProblem

KeyPath = tuple[str | int, ...]


class Places:
    """Where the parts of the config in ``config`` (a file or a directory) are written."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self._roots: dict[str, Node] | None = None

    def datastore(self, name: str, key: KeyPath, message: str) -> ConfigProblem:
        return self._named("datastores", name, key, message)

    def pipeline(self, name: str, key: KeyPath, message: str) -> ConfigProblem:
        return self._named("pipelines", name, key, message)

    def schedule(self, schedule: Schedule, key: KeyPath, message: str) -> ConfigProblem:
        root = self.roots().get(schedule.source)
        path = _schedule_path(root, schedule, key) if root is not None else None
        if root is None or path is None:
            return self._unplaced(
                schedule.source or str(self.config), "schedules", schedule.name, key, message
            )
        return ConfigProblem(schedule.source, format_path(path), message, root.line_at(path))

    def roots(self) -> dict[str, Node]:
        """Every config file's tree, by file name (read once, when first needed)."""
        if self._roots is None:
            self._roots = {}
            for file in config_files(self.config, []):
                text = read_config_file(file)
                if isinstance(text, str):
                    root, _ = parse_yaml(text, str(file))
                    if root is not None and isinstance(root.value, dict):
                        self._roots[str(file)] = root
        return self._roots

    def _named(self, section: str, name: str, key: KeyPath, message: str) -> ConfigProblem:
        for file, root in self.roots().items():
            node = root.value.get(section)
            if node is not None and isinstance(node.value, dict) and name in node.value:
                path = (section, name, *key)
                return ConfigProblem(file, format_path(path), message, root.line_at(path))
        return self._unplaced(str(self.config), section, name, key, message)

    @staticmethod
    def _unplaced(file: str, section: str, name: str, key: KeyPath, message: str) -> ConfigProblem:
        """The file changed since it was loaded: the part by name, without a line."""
        return ConfigProblem(file, format_path((section, name, *key)), message)


def _schedule_path(root: Node, schedule: Schedule, key: KeyPath) -> KeyPath | None:
    if "Schedule" in root.value:  # an Azure ML Schedule-YAML file: its keys have SDK names
        block = read_schedule_block(root.value["Schedule"].plain(), Path(schedule.source).stem)
        return ("Schedule", *block.file_path(key))
    items = root.value.get("schedules")
    if items is None or not isinstance(items.value, list):
        return None
    for index, item in enumerate(items.value):
        if isinstance(item.value, dict):
            name = item.value.get("name")
            if name is not None and name.value == schedule.name:
                return ("schedules", index, *key)
    return None
