"""The status of a submitted Azure ML run, read over REST: what following a remote run asks.

Both kinds read the workspace's **run history** (a v2 job is a run there, under its name)::

    GET https://REGION.api.azureml.ms/history/v1.0/subscriptions/SUB/resourceGroups/RG/providers/
        Microsoft.MachineLearningServices/workspaces/WS/runs/RUN_ID
    Authorization: Bearer <token for https://management.azure.com>

    {"runId": "...", "status": "Failed", "error": {"error": {"code": "UserError",
     "message": "..."}}, ...}

- ``azureml`` (v1): the run id is the submission's ``Id``; region, subscription, resource group
  and workspace come from the pipeline's endpoint, which is on the same host.
- ``azureml_batch`` (v2): the job's ARM id (the invocation answer's ``id``,
  ``/subscriptions/.../workspaces/WS/jobs/NAME``) names the workspace and the run; the region
  is the endpoint's (``NAME.REGION.inference.ml.azure.com``).

For tests only: when the pipeline's endpoint is a loopback URL (``http://127.0.0.1:PORT/...``),
the status is read from that same origin, never from Azure.

The answer's ``status`` (or ``properties.status``) is mapped by :func:`final_status`:
``Completed`` -> succeeded, ``Failed`` -> failed, ``Canceled`` -> canceled; every other status
(NotStarted, Starting, Provisioning, Preparing, Queued, Running, Finalizing, CancelRequested,
NotResponding, Paused, Unknown, or one Azure ML adds later) means "not ended yet".
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from triggerd.errors import SubmitError
from triggerd.redact import safe_url, scrub
from triggerd.runs import RunRecord, RunStatus
from triggerd.submitters.httpcommon import (
    BODY_LIMIT,
    Secret,
    error_message,
    parse_retry_after,
)
from triggerd.submitters.transport import Pool, TransportError

if TYPE_CHECKING:
    from triggerd.config import Pipeline

__all__ = [
    "FINAL_STATUSES",
    "CannotFollow",
    "RemoteState",
    "RunHistoryStatus",
    "StatusClient",
    "StatusError",
    "build_status_client",
    "final_status",
    "read_state",
]

FINAL_STATUSES = {
    "completed": RunStatus.SUCCEEDED,
    "failed": RunStatus.FAILED,
    "canceled": RunStatus.CANCELED,
    "cancelled": RunStatus.CANCELED,
}
PORTAL = "https://ml.azure.com"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_WORKSPACE = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)",
    re.IGNORECASE,
)
_JOB_ID = re.compile(_WORKSPACE.pattern + r"/jobs/(?P<name>[^/?#]+)$", re.IGNORECASE)
_BATCH_HOST = re.compile(r"^[^.]+\.(?P<region>[a-z0-9]+)\.inference\.ml\.azure\.com$")
MESSAGE_LIMIT = 600


def final_status(remote: str) -> RunStatus | None:
    """The run's end for a remote status (any letter case); None while it has not ended."""
    return FINAL_STATUSES.get(remote.strip().lower())


@dataclass(frozen=True)
class RemoteState:
    """One answer about a remote run."""

    status: str  # as the target says it: Running, Failed, ...
    final: RunStatus | None  # succeeded | failed | canceled, or None: not ended
    error: str | None = None  # the remote error message, when it failed
    url: str | None = None  # a link to the run in Azure ML studio
    retry_after: timedelta | None = None  # the server asked to be asked again then


class StatusError(SubmitError):
    """A status request that failed (no answer, a non-2xx, an answer without a status); the
    follower tries again later. ``retry_after`` from the server's ``Retry-After``."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CannotFollow(StatusError):
    """The run's status cannot be read at all (no workspace in the endpoint, no job id): it
    is not followed any more, rather than asked again and again."""


class StatusClient(Protocol):
    def check(self, run: RunRecord) -> RemoteState: ...

    def close(self) -> None: ...


def read_state(answer: Any, url: str | None) -> RemoteState:
    """A run history answer (``status``, ``error.error.message``) or a job resource
    (``properties.status``) as a :class:`RemoteState`; StatusError without a status."""
    if not isinstance(answer, dict):
        raise StatusError("the status answer is not a JSON object")
    status = answer.get("status")
    properties = answer.get("properties")
    if not isinstance(status, str) and isinstance(properties, dict):
        status = properties.get("status")
    if not isinstance(status, str) or not status.strip():
        raise StatusError("the status answer has no 'status'")
    final = final_status(status)
    error = _error_text(answer.get("error"))
    if error is None and isinstance(properties, dict):
        error = _error_text(properties.get("error"))
    if final is RunStatus.FAILED and not error:
        error = f"the Azure ML run ended {status}"
    return RemoteState(status, final, error if final is RunStatus.FAILED else None, url)


def _error_text(value: Any) -> str | None:
    """``{"error": {"code", "message"}}`` (an ErrorResponse) or ``{"code", "message"}``."""
    if not isinstance(value, dict):
        return None
    inner = value.get("error")
    if isinstance(inner, dict):
        value = inner
    message = value.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    code = value.get("code")
    text = " ".join(message.split())[:MESSAGE_LIMIT]
    return f"{code}: {text}" if isinstance(code, str) and code else text


def portal_link(sub: str, rg: str, ws: str, run_id: str) -> str:
    """The run in Azure ML studio (as azureml-core's ``get_portal_url`` builds it)."""
    wsid = f"/subscriptions/{sub}/resourcegroups/{rg}/workspaces/{ws}"
    return f"{PORTAL}/runs/{quote(run_id, safe='')}?wsid={quote(wsid, safe='/')}"


class RunHistoryStatus:
    """Reads runs from one workspace's run history; ``run_ref(run)`` says which run and where
    (the status URL and the portal link), or raises StatusError when it cannot."""

    def __init__(self, auth: Secret | None, *, timeout: timedelta) -> None:
        self._auth = auth
        self._timeout = timeout.total_seconds()
        self._pool = Pool(self._timeout)

    def run_ref(self, run: RunRecord) -> tuple[str, str]:
        raise NotImplementedError

    def check(self, run: RunRecord) -> RemoteState:
        url, link = self.run_ref(run)
        secrets: list[str] = []
        headers = {"Accept": "application/json"}
        if self._auth is not None:
            try:
                token = self._auth.read()
            except SubmitError as exc:
                raise StatusError(str(exc)) from None
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        try:
            deadline = time.monotonic() + self._timeout
            response = self._pool.request(
                "GET", url, headers=headers, limit=BODY_LIMIT, deadline=deadline
            )
        except TransportError as exc:
            reason = " ".join((str(exc) or type(exc).__name__).split())[:300]
            raise StatusError(scrub(f"GET {safe_url(url)} failed: {reason}", secrets)) from None
        if not 200 <= response.status < 300:
            wait = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
            message = error_message(response.status, response.content, secrets)
            raise StatusError(message, retry_after=wait)
        try:
            answer = json.loads(response.content)
        except ValueError:
            raise StatusError(f"HTTP {response.status}: the answer is not JSON") from None
        state = read_state(answer, link)
        wait = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        error = scrub(state.error, secrets) if state.error else None
        return RemoteState(state.status, state.final, error, state.url, wait)

    def close(self) -> None:
        self._pool.close()
        close = getattr(self._auth, "close", None)
        if callable(close):
            close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in _LOOPBACK


class PipelineRunStatus(RunHistoryStatus):
    """``azureml`` (v1): the pipeline run ``external_id`` in the endpoint's workspace."""

    def __init__(self, endpoint: str, auth: Secret | None, *, timeout: timedelta) -> None:
        super().__init__(auth, timeout=timeout)
        found = _WORKSPACE.search(urlsplit(endpoint).path)
        self._workspace = found
        self._base = _origin(endpoint) + "/history/v1.0" + (found[0] if found else "")

    def run_ref(self, run: RunRecord) -> tuple[str, str]:
        if self._workspace is None:
            raise CannotFollow("the endpoint names no workspace (/subscriptions/.../workspaces/)")
        if not run.external_id:
            raise CannotFollow("the run has no Azure ML run id")
        sub, rg, ws = self._workspace["sub"], self._workspace["rg"], self._workspace["ws"]
        url = f"{self._base}/runs/{quote(run.external_id, safe='')}"
        return url, portal_link(sub, rg, ws, run.external_id)


class BatchJobStatus(RunHistoryStatus):
    """``azureml_batch`` (v2): the job of the run's ``remote_id`` (its ARM id)."""

    def __init__(self, endpoint: str, auth: Secret | None, *, timeout: timedelta) -> None:
        super().__init__(auth, timeout=timeout)
        if _is_loopback(endpoint):
            self._origin: str | None = _origin(endpoint)
        else:
            host = _BATCH_HOST.match(urlsplit(endpoint).hostname or "")
            self._origin = f"https://{host['region']}.api.azureml.ms" if host else None

    def run_ref(self, run: RunRecord) -> tuple[str, str]:
        if self._origin is None:
            raise CannotFollow(
                "the endpoint's host is not NAME.REGION.inference.ml.azure.com: its region "
                "is unknown"
            )
        job = _JOB_ID.search(run.remote_id or "")
        if job is None:
            raise CannotFollow(
                "the batch endpoint's answer gave no job id (/subscriptions/.../jobs/NAME)"
            )
        workspace = job[0][: job.start("name") - len("/jobs/")]
        url = f"{self._origin}/history/v1.0{workspace}/runs/{quote(job['name'], safe='')}"
        return url, portal_link(job["sub"], job["rg"], job["ws"], job["name"])


def build_status_client(pipeline: Pipeline) -> StatusClient | None:
    """The status client of a followed Azure ML pipeline (None for the other kinds), with the
    same credentials as its submissions (an Azure AD token for Azure Resource Manager)."""
    from triggerd.config.pipelines import AzureMLBatchPipeline, AzureMLPipeline
    from triggerd.submitters import _auth

    if not isinstance(pipeline, AzureMLPipeline | AzureMLBatchPipeline):
        return None
    auth = _auth(pipeline.auth)  # Azure AD: a token for Azure Resource Manager
    kind = PipelineRunStatus if isinstance(pipeline, AzureMLPipeline) else BatchJobStatus
    return kind(pipeline.endpoint, auth, timeout=pipeline.timeout)
