"""Submitters hand runs to their pipelines. ``build_submitter`` maps a pipeline config to one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triggerd.submitters.base import DataPath, RunOutcome, RunRequest, Submitter

if TYPE_CHECKING:
    from triggerd.config import Pipeline

__all__ = ["DataPath", "RunOutcome", "RunRequest", "Submitter", "build_submitter"]


def build_submitter(pipeline: Pipeline) -> Submitter:
    from triggerd.config.models import CommandPipeline
    from triggerd.submitters.command import CommandSubmitter

    if isinstance(pipeline, CommandPipeline):
        return CommandSubmitter(
            list(pipeline.argv), env=dict(pipeline.env), cwd=pipeline.cwd, timeout=pipeline.timeout
        )
    raise NotImplementedError(f"no submitter for pipeline kind {pipeline.kind!r}")
