"""The resolver's overlap limits: what the dispatcher keeps to, for the config in force."""

from __future__ import annotations

from pathlib import Path

from triggerd.config import load_config
from triggerd.engine.resolver import Resolver

CONFIG = """\
pipelines:
  noop: {{kind: command, argv: ["true"]}}
schedules:
  - name: nightly
    pipeline: noop
    recurrence: {{frequency: Day, interval: 1, time_zone: W. Europe Standard Time}}
    overlap: {nightly}
    max_concurrent_runs: {most}
  - name: hourly
    pipeline: noop
    recurrence: {{frequency: Hour, interval: 1, time_zone: W. Europe Standard Time}}
"""


def config_file(tmp_path: Path, overlap: str, most: int) -> Path:
    path = tmp_path / f"triggerd-{overlap}-{most}.yaml"
    path.write_text(CONFIG.format(nightly=overlap, most=most), encoding="utf-8")
    return path


def test_only_schedules_that_limit_overlap_are_listed(tmp_path: Path) -> None:
    resolver = Resolver(load_config(config_file(tmp_path, "skip", 2)))

    assert resolver.overlap_limits() == {"nightly": ("skip", 2)}


def test_a_reload_changes_the_limits(tmp_path: Path) -> None:
    """The limits are worked out once per config, so a new config must replace them."""
    resolver = Resolver(load_config(config_file(tmp_path, "skip", 2)))
    resolver.overlap_limits()

    resolver.use(load_config(config_file(tmp_path, "queue", 1)))
    assert resolver.overlap_limits() == {"nightly": ("queue", 1)}

    resolver.use(load_config(config_file(tmp_path, "allow", 1)))
    assert resolver.overlap_limits() == {}
