"""Pipelines: where a run goes. ``command`` (a local program), ``azureml`` (a published pipeline
or pipeline endpoint over REST), ``azureml_batch`` (an Azure ML v2 batch endpoint) and ``http``
(any endpoint), each with its retry policy."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from triggerd.config.base import ConfigModel, SecretSource, relative_to_file
from triggerd.config.durations import Seconds, parse_duration
from triggerd.config.problems import Invalid

# --- pipelines ----------------------------------------------------------------------------

PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _placeholders_in(text: str) -> set[str]:
    """The ``{name}`` placeholders of ``text`` (``{{`` and ``}}`` are literal braces)."""
    return set(PLACEHOLDER_RE.findall(text.replace("{{", "").replace("}}", "")))


def _duration(value: Any) -> timedelta:
    return parse_duration(value, unit="s")


Duration = Annotated[timedelta, PlainValidator(_duration)]
"""A required duration whose bare numbers count seconds."""


class RetryPolicy(ConfigModel):
    """How often and how long the dispatcher retries a run after a transient failure.

    A run is attempted at most ``max_attempts`` times and not retried once ``max_elapsed`` has
    passed since its first attempt. Waits start at ``initial_backoff`` and double, with jitter; a
    server's ``Retry-After`` wins when it asks for longer.
    """

    max_attempts: Annotated[int, Field(strict=True, ge=1)] = 5
    max_elapsed: Duration = timedelta(hours=1)
    initial_backoff: Duration = timedelta(seconds=2)


class CommandRetryPolicy(RetryPolicy):
    """A command is not retried unless its pipeline says so (it may not be safe to repeat)."""

    max_attempts: Annotated[int, Field(strict=True, ge=1)] = 1


class CommandPipeline(ConfigModel):
    """A local command: argv (never a shell), ``{name}`` placeholders filled from parameters."""

    kind: Literal["command"]
    argv: Annotated[list[str], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    timeout: Seconds = None
    retry: CommandRetryPolicy = Field(default_factory=CommandRetryPolicy)

    _resolve_cwd = field_validator("cwd")(relative_to_file)

    placeholder_site: ClassVar[str] = "argv"

    @property
    def placeholders(self) -> frozenset[str]:
        """The ``{name}`` placeholders of argv (``{{`` and ``}}`` are literal braces)."""
        found: set[str] = set()
        for arg in self.argv:
            found.update(_placeholders_in(arg))
        return frozenset(found)


# --- remote pipelines ---------------------------------------------------------------------

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_AZUREML_PATH = re.compile(
    r"/PipelineRuns/(?:PipelineSubmit/(?P<pipeline>[^/]+)"
    r"|PipelineEndpointSubmit/Id/(?P<endpoint>[^/]+)(?P<version>/[^/]+)?)"
)
_AZUREML_SHAPE = (
    "must be the REST endpoint of a published pipeline "
    "(https://.../PipelineRuns/PipelineSubmit/{id}) or of a pipeline endpoint "
    "(https://.../PipelineRuns/PipelineEndpointSubmit/Id/{id})"
)


def _check_url(value: str, *, loopback_http: bool) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("must be an http:// or https:// URL with a host")
    if parts.scheme == "http" and loopback_http and parts.hostname not in _LOOPBACK:
        raise Invalid("must use https:// (http:// only for 127.0.0.1 or localhost)")
    if parts.fragment:
        raise Invalid("must not have a #fragment")


class AzureAuth(ConfigModel):
    """An Azure AD token from DefaultAzureCredential (managed identity, environment, az login)."""

    kind: Literal["azure"]


class BearerAuth(ConfigModel):
    """A bearer token read from an environment variable or a file at every attempt."""

    kind: Literal["bearer"]
    token_env: str | None = None
    token_file: Path | None = None

    _resolve_file = field_validator("token_file")(relative_to_file)

    @model_validator(mode="after")
    def _one_source(self) -> BearerAuth:
        if (self.token_env is None) == (self.token_file is None):
            raise Invalid("give exactly one of token_env (a variable name) or token_file (a path)")
        return self


class NoAuth(ConfigModel):
    """No Authorization header (a local test double, a proxy that authenticates)."""

    kind: Literal["none"]


Auth = Annotated[AzureAuth | BearerAuth | NoAuth, Field(discriminator="kind")]


class FollowedPipeline(ConfigModel):
    """What the Azure ML kinds share: the auth (an Azure AD token by default), the request's
    timeout and retries, no placeholders, and whether the daemon follows a submitted run to its
    end (``follow``) and for how long at most (``follow_timeout``)."""

    auth: Auth = Field(default_factory=lambda: AzureAuth(kind="azure"))
    timeout: Duration = timedelta(seconds=30)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    follow: Annotated[bool, Field(strict=True)] = True
    follow_timeout: Duration = timedelta(hours=24)

    placeholder_site: ClassVar[str] = ""

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset()


class AzureMLPipeline(FollowedPipeline):
    """An Azure ML published pipeline or pipeline endpoint, submitted through its REST API."""

    kind: Literal["azureml"]
    endpoint: str
    version: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str) -> str:
        _check_url(value, loopback_http=True)
        parts = urlsplit(value)
        if parts.query:
            raise Invalid(
                "must not have a query string (a pipeline endpoint's version goes in 'version')"
            )
        match = re.search(_AZUREML_PATH, parts.path)
        if match is None or match.end() != len(parts.path):
            raise Invalid(_AZUREML_SHAPE)
        if match["version"]:
            raise Invalid(
                "must end with the pipeline endpoint's id: put the version in 'version' "
                "(it goes into the path and the pipelineVersion query)"
            )
        return value

    @model_validator(mode="after")
    def _version_needs_endpoint(self) -> AzureMLPipeline:
        if self.version is not None and not self.is_pipeline_endpoint:
            raise Invalid(
                "version is only for a pipeline endpoint (.../PipelineEndpointSubmit/Id/{id}); "
                "a published pipeline has one version",
                "version",
            )
        if self.version is not None and ("/" in self.version or not self.version.strip()):
            raise Invalid("must be a version name or number without '/'", "version")
        return self

    @property
    def is_pipeline_endpoint(self) -> bool:
        return "/PipelineEndpointSubmit/" in urlsplit(self.endpoint).path


_BATCH_SHAPE = (
    "must be a batch endpoint's invocation URL, ending with /jobs "
    "(https://NAME.REGION.inference.ml.azure.com/jobs)"
)
_DEPLOYMENT_NAME = re.compile(r"[!-~]+")  # one word of printable ASCII: a header value


class AzureMLBatchPipeline(FollowedPipeline):
    """An Azure ML v2 batch endpoint (a pipeline component deployment): one job per run, through
    the endpoint's invocation URL."""

    kind: Literal["azureml_batch"]
    endpoint: str
    deployment: str | None = None
    experiment_name: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str) -> str:
        _check_url(value, loopback_http=True)
        parts = urlsplit(value)
        if parts.query:
            raise Invalid("must not have a query string: " + _BATCH_SHAPE.removeprefix("must be "))
        if not parts.path.endswith("/jobs"):
            raise Invalid(_BATCH_SHAPE)
        return value

    @field_validator("deployment")
    @classmethod
    def _deployment_name(cls, value: str | None) -> str | None:
        if value is not None and not _DEPLOYMENT_NAME.fullmatch(value):
            raise Invalid(
                "must be the name of a deployment of the endpoint, one word of printable ASCII "
                "(it is sent as the azureml-model-deployment header)"
            )
        return value

    @field_validator("experiment_name")
    @classmethod
    def _experiment_name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise Invalid("must not be empty (leave it out to use the schedule's)")
        return value


# Names an ``http`` body template may use besides the schedule's parameters.
HTTP_BODY_NAMES = frozenset(
    {
        "fire_key",
        "schedule",
        "scheduled_for",
        "trigger",
        "run_id",
        "attempt",
        "experiment_name",
        "data_path",
        "datastore",
        "data_uri",
    }
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_RESERVED_HEADERS = {"idempotency-key": "triggerd sets it to the run's fire key"}


def _header_value(value: Any, info: ValidationInfo) -> str | SecretSource:
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise Invalid("must be one line")
        return value
    if isinstance(value, dict):
        if not set(value) <= {"env", "file"}:
            unknown = sorted(set(value) - {"env", "file"})[0]
            raise Invalid(f"unknown key '{unknown}' (use env or file)", str(unknown))
        if "file" in value and not isinstance(value["file"], str):
            raise Invalid("must be a path (a string)", "file")
        if "env" in value and not isinstance(value["env"], str):
            raise Invalid("must be a variable name (a string)", "env")
        try:
            return SecretSource.model_validate(value, context=info.context)
        except ValueError:
            raise Invalid("give exactly one of env (a variable name) or file (a path)") from None
    raise Invalid("must be a string, {env: VARIABLE} or {file: PATH}")


def _headers(value: Any, info: ValidationInfo) -> dict[str, str | SecretSource]:
    if not isinstance(value, dict):
        raise Invalid("must be a mapping of header names to values")
    headers: dict[str, str | SecretSource] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise Invalid("is not a valid header name", str(name))
        reason = _RESERVED_HEADERS.get(name.lower())
        if reason:
            raise Invalid(f"cannot be configured: {reason}", name)
        try:
            headers[name] = _header_value(item, info)
        except Invalid as exc:
            raise Invalid(exc.message, name, *exc.key) from None
    return headers


def _json_value(value: Any, path: tuple[str | int, ...] = ()) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid("must be a finite number (JSON has no inf or nan)", *path)
        return value
    if isinstance(value, list):
        return [_json_value(item, (*path, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise Invalid("JSON object keys must be strings (quote the key)", *path)
        return {key: _json_value(item, (*path, key)) for key, item in value.items()}
    raise Invalid("must be a JSON value (string, number, boolean, null, list or mapping)", *path)


def _template_placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return _placeholders_in(value)
    if isinstance(value, list):
        return {name for item in value for name in _template_placeholders(item)}
    if isinstance(value, dict):
        return {name for item in value.values() for name in _template_placeholders(item)}
    return set()


class HttpPipeline(ConfigModel):
    """Any HTTP endpoint: a JSON description of the run (or a template) sent with ``method``."""

    kind: Literal["http"]
    url: str
    method: Literal["POST", "PUT"] = "POST"
    headers: Annotated[dict[str, str | SecretSource], PlainValidator(_headers)] = Field(
        default_factory=dict
    )
    body: Annotated[Any, PlainValidator(_json_value)] = None
    timeout: Duration = timedelta(seconds=30)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    placeholder_site: ClassVar[str] = "body"

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        _check_url(value, loopback_http=False)
        return value

    @property
    def placeholders(self) -> frozenset[str]:
        """The ``{name}`` placeholders of the body template's strings (not of its keys)."""
        return frozenset(_template_placeholders(self.body))


# To add a kind: define its model with ``kind: Literal["..."]`` and add it here with ``|``.
Pipeline = Annotated[
    CommandPipeline | AzureMLPipeline | AzureMLBatchPipeline | HttpPipeline,
    Field(discriminator="kind"),
]
PIPELINE_MODELS = (CommandPipeline, AzureMLPipeline, AzureMLBatchPipeline, HttpPipeline)
PIPELINE_KINDS = ("command", "azureml", "azureml_batch", "http")
PLANNED_PIPELINE_KINDS: tuple[str, ...] = ()
RemotePipeline = AzureMLPipeline | AzureMLBatchPipeline | HttpPipeline
