"""The ``azureml_batch`` submitter: one job of an Azure ML v2 batch endpoint per run, over REST.

A batch endpoint with a pipeline component deployment is the v2 successor of a published
pipeline (pipeline endpoint -> batch endpoint, published pipeline -> pipeline component
deployment, pipeline parameter -> job input). The request is the one Microsoft documents for
invoking it ("Create jobs and input data for batch endpoints", REST tab)::

    POST https://NAME.REGION.inference.ml.azure.com/jobs
    Authorization: Bearer <token for https://ml.azure.com>
    azureml-model-deployment: <deployment>            (only with ``deployment``)

    {"properties": {
        "InputData": {
            "<data_path_parameter_name>": {"JobInputType": "UriFile", "Uri": "<the file>"},
            "<parameter>": {"JobInputType": "Literal", "Value": "<value as a string>"}},
        "properties": {"experimentName": "<experiment>"}}}

The file's ``Uri`` is ``azureml://datastores/<name>/paths/<path>`` when its datastore names its
Azure ML datastore (``azureml_datastore``; the short form azure-ai-ml passes on unchanged), else
the blob's https URL. Parameter values are strings as the ``azureml`` kind renders them.

Every attempt sends ``Idempotency-Key: <fire key>``. The job's ``name`` (or the last part of its
``id``, as Microsoft's REST sample takes it) becomes the run's ``external_id``, and its ``id`` the
run's ``remote_id`` (what following the job reads it by).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from triggerd.errors import PermanentSubmitError
from triggerd.redact import scrub
from triggerd.runs import BoundFile
from triggerd.submitters.azureml import parameter_text
from triggerd.submitters.base import RunOutcome, RunRequest
from triggerd.submitters.httpcommon import HttpSender, Reply, Secret, idempotency_key
from triggerd.submitters.remote import RemoteSubmitter

__all__ = ["ML_SCOPE", "AzureMLBatchSubmitter", "batch_body", "file_uri", "job_name"]

ML_SCOPE = "https://ml.azure.com/.default"  # the audience of batch endpoint invocations
DEPLOYMENT_HEADER = "azureml-model-deployment"


def file_uri(file: BoundFile) -> str:
    """Where a batch job reads ``file``: its Azure ML datastore path, or the blob's URL.

    Raises PermanentSubmitError for a local file (a batch job runs in Azure, not here).
    """
    if file.azureml_datastore:
        path = quote(file.relative_path, safe="~/")
        return f"azureml://datastores/{file.azureml_datastore}/paths/{path}"
    if not file.uri.startswith(("https://", "http://")):
        raise PermanentSubmitError(
            f"the file {file.relative_path!r} of datastore {file.datastore!r} is on this "
            "machine: a batch endpoint reads its inputs from Azure storage (use an azure_blob "
            "datastore)"
        )
    return file.uri


def batch_body(request: RunRequest, experiment_name: str | None = None) -> dict[str, Any]:
    """The invocation body for ``request``: the file as a ``UriFile`` input, every other
    parameter as a ``Literal`` one; ``experimentName`` the schedule's, else ``experiment_name``
    (the pipeline's), else none (Azure ML then names the experiment after the endpoint)."""
    bound = request.data_path_parameter_name
    inputs: dict[str, dict[str, str]] = {
        name: {"JobInputType": "Literal", "Value": parameter_text(value)}
        for name, value in request.parameters.items()
        if not (bound and request.file is not None and name == bound)
    }
    if request.file is not None and bound:
        inputs[bound] = {"JobInputType": "UriFile", "Uri": file_uri(request.file)}
    properties: dict[str, Any] = {"InputData": inputs}
    experiment = request.experiment_name or experiment_name
    if experiment:
        properties["properties"] = {"experimentName": experiment}
    return {"properties": properties}


def job_name(answer: Any) -> str | None:
    """The batch job's name in an invocation answer: ``name``, else the last part of ``id``."""
    if not isinstance(answer, dict):
        return None
    name = answer.get("name")
    if isinstance(name, str) and name.strip():
        return name
    found = answer.get("id")
    if isinstance(found, str) and found.strip("/ "):
        return found.rstrip("/").rsplit("/", 1)[-1]
    return None


class AzureMLBatchSubmitter(RemoteSubmitter):
    """Invokes one Azure ML batch endpoint; ``auth`` gives the bearer token at every attempt
    (None: no Authorization header)."""

    def __init__(
        self,
        endpoint: str,
        *,
        deployment: str | None = None,
        experiment_name: str | None = None,
        auth: Secret | None,
        timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self._url = endpoint
        self._deployment = deployment
        self._experiment_name = experiment_name
        self._auth = auth
        self._sender = HttpSender(timeout)

    def submit(self, request: RunRequest, cancel: threading.Event) -> RunOutcome:
        log = self._begin(request, cancel)
        body = batch_body(request, self._experiment_name)
        headers = {"Idempotency-Key": idempotency_key(request.fire_key)}
        if self._deployment is not None:
            headers[DEPLOYMENT_HEADER] = self._deployment
        secrets: list[str] = []
        self._authorize(headers, secrets)
        reply = self._sender.send(
            "POST",
            self._url,
            body=body,
            headers=headers,
            secrets=secrets,
            cancel=cancel,
            log=log,
            attempt=request.attempt,
        )
        answer = reply.json()
        job_id = answer.get("id") if isinstance(answer, dict) else None
        return RunOutcome(
            status="submitted",
            external_id=_job_name_of(reply, answer, secrets),
            remote_id=scrub(job_id, secrets) if isinstance(job_id, str) and job_id else None,
        )


def _job_name_of(reply: Reply, answer: Any, secrets: list[str]) -> str:
    name = job_name(answer)
    if name is None:
        start = " ".join(reply.content[:200].decode("utf-8", errors="replace").split())
        raise PermanentSubmitError(
            f"HTTP {reply.status} without a job name in the answer (expected a batch job with "
            f"'name' or 'id'; is this a batch endpoint's invocation URL, .../jobs?): "
            f"{scrub(start, secrets)}"
        )
    return scrub(name, secrets)
