"""The ``http`` submitter: sends a JSON description of the run to any HTTP endpoint.

Without a ``body`` template the run is described as::

    {"schedule", "fire_key", "trigger", "scheduled_for", "run_id", "attempt",
     "experiment_name", "parameters", "data_path": {"datastore", "relative_path"} | null}

A template is any JSON value whose strings may hold ``{name}`` placeholders (``{{``/``}}`` are
literal braces; keys are not templates). Names are the schedule's parameters and the run's own
values — ``fire_key``, ``schedule``, ``scheduled_for`` (UTC ISO 8601), ``trigger``, ``run_id``,
``attempt``, ``experiment_name``, ``data_path`` (relative path), ``datastore``, ``data_uri`` —
with a parameter of the same name winning. A string that is exactly one placeholder becomes
the value with its JSON type (a number stays a number, a missing data path is ``null``); inside
a longer string a value is text (booleans as ``True``/``False``, null as nothing).

Every attempt sends ``Idempotency-Key: <fire key>``; a 2xx answer means submitted, with the
answer's ``Location`` header (or its JSON ``id``) as the run's external id. Header values from
``env``/``file`` (and literal values of headers named like ``Authorization`` or ``X-Api-Key``)
are secrets: masked in every error message; no header is ever logged.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any, Literal

from triggerd.errors import PermanentSubmitError
from triggerd.redact import scrub
from triggerd.submitters.base import RunOutcome, RunRequest
from triggerd.submitters.command import UnknownPlaceholder, render_argv
from triggerd.submitters.httpcommon import (
    HttpSender,
    Reply,
    Secret,
    idempotency_key,
    is_sensitive_header,
)
from triggerd.submitters.remote import RemoteSubmitter

__all__ = ["HttpSubmitter", "default_body", "render_template", "template_values"]

_WHOLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _scheduled_for(request: RunRequest) -> str | None:
    when = request.scheduled_for
    if when is None:
        return None
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)).isoformat()


def default_body(request: RunRequest) -> dict[str, Any]:
    """The run as JSON, sent when the pipeline has no body template."""
    return {
        "schedule": request.schedule,
        "fire_key": request.fire_key,
        "trigger": request.trigger,
        "scheduled_for": _scheduled_for(request),
        "run_id": request.run_id,
        "attempt": request.attempt,
        "experiment_name": request.experiment_name,
        "parameters": dict(request.parameters),
        "data_path": None if request.file is None else request.file.as_json(),
    }


def template_values(request: RunRequest) -> dict[str, Any]:
    """Placeholder values with their JSON types: the run's own, then parameters, then the bound
    file under its data path parameter (its local path or blob URL)."""
    data_path = request.file
    values: dict[str, Any] = {
        "fire_key": request.fire_key,
        "schedule": request.schedule,
        "scheduled_for": _scheduled_for(request),
        "trigger": request.trigger,
        "run_id": request.run_id,
        "attempt": request.attempt,
        "experiment_name": request.experiment_name,
        "data_path": None if data_path is None else data_path.relative_path,
        "datastore": None if data_path is None else data_path.datastore,
        "data_uri": None if data_path is None else data_path.uri,
    }
    values.update(request.parameters)
    values.update(request.bound_values())
    return values


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def render_template(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with its placeholders filled; raises UnknownPlaceholder for a name that has
    no value."""
    if isinstance(template, str):
        whole = _WHOLE.fullmatch(template)
        if whole is not None:
            if whole[1] not in values:
                raise UnknownPlaceholder(whole[1])
            return values[whole[1]]
        texts = {name: _text(value) for name, value in values.items()}
        return render_argv([template], texts)[0]
    if isinstance(template, list):
        return [render_template(item, values) for item in template]
    if isinstance(template, dict):
        return {key: render_template(item, values) for key, item in template.items()}
    return template


class HttpSubmitter(RemoteSubmitter):
    """Sends each run to ``url`` with ``method``; header values may be secrets read per attempt."""

    def __init__(
        self,
        url: str,
        *,
        method: Literal["POST", "PUT"] = "POST",
        headers: Mapping[str, str | Secret] | None = None,
        body: Any = None,
        timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self._url = url
        self._method = method
        self._headers = dict(headers or {})
        self._template = body
        self._sender = HttpSender(timeout)

    def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
        log = self._begin(request, cancel)
        if self._template is None:
            body = default_body(request)
        else:
            try:
                body = render_template(self._template, template_values(request))
            except UnknownPlaceholder as exc:
                raise PermanentSubmitError(
                    f"body placeholder {{{exc.name}}} has no value: add '{exc.name}' to the "
                    "schedule's pipeline_parameters"
                ) from None
        headers: dict[str, str] = {}
        secrets: list[str] = []
        for name, source in self._headers.items():
            value = source if isinstance(source, str) else source.read()
            if not isinstance(source, str) or is_sensitive_header(name):
                secrets.append(value)
            headers[name] = value
        headers["Idempotency-Key"] = idempotency_key(request.fire_key)
        reply = self._sender.send(
            self._method,
            self._url,
            body=body,
            headers=headers,
            secrets=secrets,
            cancel=cancel,
            log=log,
            attempt=request.attempt,
        )
        return RunOutcome(status="submitted", external_id=_external_id(reply))


def _external_id(reply: Reply) -> str | None:
    location = reply.headers.get("location")
    if location:
        return scrub(location)
    answer = reply.json()
    if isinstance(answer, dict):
        found = answer.get("id")
        if isinstance(found, str | int) and not isinstance(found, bool) and str(found):
            return str(found)
    return None
