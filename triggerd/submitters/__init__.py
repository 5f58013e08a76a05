"""Submitters hand runs to their pipelines. ``build_submitter`` maps a pipeline config to one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triggerd.submitters.base import RunOutcome, RunRequest, Submitter

if TYPE_CHECKING:
    from triggerd.config import Pipeline
    from triggerd.config.pipelines import Auth, BearerAuth, HttpPipeline
    from triggerd.submitters.httpcommon import Secret

__all__ = ["RunOutcome", "RunRequest", "Submitter", "build_submitter"]


def build_submitter(pipeline: Pipeline) -> Submitter:
    """The submitter for ``pipeline``. Remote submitters hold connections: call their
    ``close()`` (if the submitter has one) when done with them."""
    from triggerd.config.pipelines import (
        AzureMLBatchPipeline,
        AzureMLPipeline,
        CommandPipeline,
        HttpPipeline,
    )

    if isinstance(pipeline, CommandPipeline):
        from triggerd.submitters.command import CommandSubmitter

        return CommandSubmitter(
            list(pipeline.argv), env=dict(pipeline.env), cwd=pipeline.cwd, timeout=pipeline.timeout
        )
    if isinstance(pipeline, AzureMLPipeline):
        from triggerd.submitters.azureml import AzureMLSubmitter

        return AzureMLSubmitter(
            pipeline.endpoint,
            version=pipeline.version,
            auth=_auth(pipeline.auth),
            timeout=pipeline.timeout,
        )
    if isinstance(pipeline, AzureMLBatchPipeline):
        from triggerd.submitters.azureml_batch import ML_SCOPE, AzureMLBatchSubmitter

        return AzureMLBatchSubmitter(
            pipeline.endpoint,
            deployment=pipeline.deployment,
            experiment_name=pipeline.experiment_name,
            auth=_auth(pipeline.auth, ML_SCOPE),
            timeout=pipeline.timeout,
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


def _auth(auth: Auth, scope: str | None = None) -> Secret | None:
    """The token source of an Azure ML pipeline's ``auth``: an Azure AD token for ``scope``
    (Azure Resource Manager by default), a bearer token, or None."""
    from triggerd.submitters.httpcommon import AzureADToken

    if auth.kind == "azure":
        return AzureADToken() if scope is None else AzureADToken(scope=scope)
    if auth.kind == "bearer":
        return _bearer(auth)
    return None


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
