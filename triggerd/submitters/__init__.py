"""Submitters hand runs to their pipelines. ``build_submitter`` maps a pipeline config to one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triggerd.submitters.base import RunOutcome, RunRequest, Submitter

if TYPE_CHECKING:
    from triggerd.config import Pipeline
    from triggerd.config.pipelines import BearerAuth, HttpPipeline
    from triggerd.submitters.httpcommon import Secret

__all__ = ["RunOutcome", "RunRequest", "Submitter", "build_submitter"]


def build_submitter(pipeline: Pipeline) -> Submitter:
    """The submitter for ``pipeline``. Remote submitters hold connections: call their
    ``close()`` (if the submitter has one) when done with them."""
    from triggerd.config.pipelines import AzureMLPipeline, CommandPipeline, HttpPipeline

    if isinstance(pipeline, CommandPipeline):
        from triggerd.submitters.command import CommandSubmitter

        return CommandSubmitter(
            list(pipeline.argv), env=dict(pipeline.env), cwd=pipeline.cwd, timeout=pipeline.timeout
        )
    if isinstance(pipeline, AzureMLPipeline):
        from triggerd.submitters.azureml import AzureMLSubmitter
        from triggerd.submitters.httpcommon import AzureADToken

        auth: Secret | None = None
        if pipeline.auth.kind == "azure":
            auth = AzureADToken()
        elif pipeline.auth.kind == "bearer":
            auth = _bearer(pipeline.auth)
        return AzureMLSubmitter(
            pipeline.endpoint, version=pipeline.version, auth=auth, timeout=pipeline.timeout
        )
    if isinstance(pipeline, HttpPipeline):
        from triggerd.submitters.http import HttpSubmitter

        return HttpSubmitter(
            pipeline.url,
            method=pipeline.method,
            headers=_headers(pipeline),
            body=pipeline.body,
            timeout=pipeline.timeout,
        )
    raise NotImplementedError(f"no submitter for pipeline kind {pipeline.kind!r}")


def _bearer(auth: BearerAuth) -> Secret:
    from triggerd.submitters.httpcommon import EnvSecret, FileSecret

    if auth.token_env is not None:
        return EnvSecret(auth.token_env, "the bearer token")
    assert auth.token_file is not None
    return FileSecret(auth.token_file, "the bearer token")


def _headers(pipeline: HttpPipeline) -> dict[str, str | Secret]:
    from triggerd.submitters.httpcommon import EnvSecret, FileSecret

    headers: dict[str, str | Secret] = {}
    for name, value in pipeline.headers.items():
        what = f"the value of header {name}"
        if isinstance(value, str):
            headers[name] = value
        elif value.env is not None:
            headers[name] = EnvSecret(value.env, what)
        else:
            assert value.file is not None
            headers[name] = FileSecret(value.file, what)
    return headers
