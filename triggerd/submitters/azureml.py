"""The ``azureml`` submitter: one run of a published pipeline or pipeline endpoint, over REST.

The body is the one the v1 SDK sends (``reference/azureml.md`` §4): every parameter value as a
string (``True``/``False`` for booleans), the bound file as a ``DataPathAssignments`` entry (and
not as a parameter), lower-case ``tags`` carrying the fire key and the schedule. A pipeline
endpoint's ``version`` goes into the path and the ``pipelineVersion`` query, never the body.

Every attempt sends ``Idempotency-Key: <fire key>``. The run id Azure ML answers with (``Id``)
becomes the run's ``external_id``.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from triggerd.errors import PermanentSubmitError
from triggerd.redact import scrub
from triggerd.submitters.base import RunOutcome, RunRequest
from triggerd.submitters.httpcommon import HttpSender, Secret, idempotency_key
from triggerd.submitters.remote import RemoteSubmitter

__all__ = ["AzureMLSubmitter", "azureml_body", "parameter_text"]


def parameter_text(value: Any) -> str:
    """A pipeline parameter as Azure ML wants it: a string, ``True``/``False`` for booleans."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def azureml_body(request: RunRequest) -> dict[str, Any]:
    """The PipelineSubmit / PipelineEndpointSubmit body for ``request``."""
    experiment = request.experiment_name or request.schedule
    bound = request.data_path_parameter_name
    data_paths: dict[str, dict[str, str]] = {}
    if request.file is not None and bound:
        data_paths[bound] = {
            "DataStoreName": request.file.datastore,
            "RelativePath": request.file.relative_path,
        }
    body: dict[str, Any] = {
        "ExperimentName": experiment,
        "Description": request.description or experiment,
        "RunSource": "SDK",
        "ParameterAssignments": {
            name: parameter_text(value)
            for name, value in request.parameters.items()
            if name != bound
        },
        "DataPathAssignments": data_paths,
        "DataSetDefinitionValueAssignments": {},
    }
    if request.continue_on_step_failure is not None:
        body["ContinueRunOnStepFailure"] = request.continue_on_step_failure
    body["tags"] = {"triggerd_fire_key": request.fire_key, "triggerd_schedule": request.schedule}
    body["Properties"] = {}
    return body


class AzureMLSubmitter(RemoteSubmitter):
    """Submits runs to one Azure ML pipeline REST endpoint.

    ``auth`` gives the bearer token at every attempt (None: no Authorization header).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        version: str | None = None,
        auth: Secret | None,
        timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self._url = endpoint if version is None else f"{endpoint}/{quote(version, safe='')}"
        self._params = None if version is None else {"pipelineVersion": version}
        self._auth = auth
        self._sender = HttpSender(timeout)

    def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
        log = self._begin(request, cancel)
        headers = {"Idempotency-Key": idempotency_key(request.fire_key)}
        secrets: list[str] = []
        self._authorize(headers, secrets)
        reply = self._sender.send(
            "POST",
            self._url,
            body=azureml_body(request),
            headers=headers,
            params=self._params,
            secrets=secrets,
            cancel=cancel,
            log=log,
            attempt=request.attempt,
        )
        answer = reply.json()
        run_id = answer.get("Id") if isinstance(answer, dict) else None
        if not isinstance(run_id, str) or not run_id:
            start = " ".join(reply.content[:200].decode("utf-8", errors="replace").split())
            raise PermanentSubmitError(
                f"HTTP {reply.status} without a run Id in the answer "
                f"(is this an Azure ML pipeline endpoint?): {scrub(start, secrets)}"
            )
        return RunOutcome(status="submitted", external_id=run_id)
