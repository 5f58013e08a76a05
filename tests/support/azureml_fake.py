"""A fake Azure ML on 127.0.0.1: a real HTTP server that speaks the documented request and
response shapes of the calls triggerd makes, records every request, and answers from per-test
scripts.

Routes (matched on the end of the path, so any prefix works):

- ``POST .../jobs`` — a batch endpoint's invocation ("Create jobs and input data for batch
  endpoints", REST tab): answers ``200`` (or ``invoke_status``) with a batch job body
  ``{"id": "/subscriptions/.../workspaces/<ws>/jobs/<name>", "name": "<name>", "type": ...,
  "properties": {...}}``, names ``batchjob-1``, ``batchjob-2``, ...
- ``POST .../PipelineRuns/...`` — a v1 published pipeline or pipeline endpoint submission:
  ``{"Id": "run-<n>", "Status": {"StatusCode": "NotStarted"}, ...}`` (``reference/azureml.md`` §4).
- ``GET .../jobs/<name>`` — a v2 job (``.../workspaces/<ws>/jobs/<name>?api-version=...``, or
  ``<invocation URL>/<name>`` as Microsoft's ``batch-score-rest.sh`` sample polls it):
  ``{"id", "name", "type", "properties": {"jobType", "status", "experimentName", "services":
  {"Studio": {"endpoint"}}}}``, from :meth:`AzureMLFake.job_statuses`.
- ``GET .../runs/<id>`` — a v1 run in run history
  (``/history/v1.0/.../workspaces/<ws>/[experiments/<name>/]runs/<id>``):
  ``{"runId", "status", "error": {"error": {"code", "message"}}?, ...}``, from
  :meth:`AzureMLFake.run_statuses`.

A POST takes the next of :meth:`script_submissions` (a ``Reply``: a 503 with ``Retry-After``, a
400 with an Azure error, a 200 without a name ...) and, once those are used, the route's default
answer. A status GET takes the next step of its id's script and repeats the last one for ever;
an id without a script is a 404 with an Azure error body::

    with AzureMLFake() as aml:
        aml.script_submissions(Reply(503, headers={"Retry-After": "1"}))
        aml.job_statuses("batchjob-1", "Running", "Completed")
        aml.run_statuses("run-1", "Running", run_body("run-1", "Failed", error="Out of memory"))
        ... aml.invocation_url ...
        assert aml.submissions[0].json()["properties"]["InputData"] == {...}
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.httpserver import Recorded, Reply

__all__ = ["AzureMLFake", "JobStep", "Recorded", "Reply", "batch_job_body", "job_body", "run_body"]

WORKSPACE = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)
JobStep = str | dict[str, Any] | Reply  # a status, a whole JSON body, or a scripted reply

_UNFINISHED = ("NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing")
_INVOKE = re.compile(r"/jobs/?$")
_V1_SUBMIT = re.compile(r"/PipelineRuns/")
_V2_JOB = re.compile(r"/jobs/(?P<id>[^/]+)$")
_V1_RUN = re.compile(r"/runs/(?P<id>[^/]+)$")


def batch_job_body(name: str, request: Any, *, status: str = "NotStarted") -> dict[str, Any]:
    """A batch endpoint's answer to an invocation: the job it created, echoing its inputs."""
    properties = request.get("properties", {}) if isinstance(request, dict) else {}
    return {
        "id": f"{WORKSPACE}/jobs/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs",
        "properties": {**properties, "status": status},
        "systemData": {"createdAt": "2026-12-01T12:00:00Z", "createdBy": "triggerd-test"},
    }


def job_body(name: str, status: str, **properties: Any) -> dict[str, Any]:
    """A v2 job as ``GET .../workspaces/<ws>/jobs/<name>`` answers it."""
    return {
        "id": f"{WORKSPACE}/jobs/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "properties": {
            "jobType": "Pipeline",
            "status": status,
            "experimentName": "endpoint",
            "services": {
                "Studio": {"endpoint": f"https://ml.azure.com/runs/{name}?wsid={WORKSPACE}"}
            },
            **properties,
        },
    }


def run_body(run_id: str, status: str, *, error: str | None = None) -> dict[str, Any]:
    """A v1 run as run history answers ``GET .../runs/<id>``; ``error`` its error message."""
    body: dict[str, Any] = {
        "runId": run_id,
        "status": status,
        "experimentId": "11111111-1111-1111-1111-111111111111",
        "runType": "azureml.PipelineRun",
        "startTimeUtc": "2026-12-01T12:00:01Z",
        "endTimeUtc": None if status in _UNFINISHED else "2026-12-01T12:05:00Z",
    }
    if error is not None:
        body["error"] = {"error": {"code": "UserError", "message": error}}
    return body


class AzureMLFake:
    """The fake, on a free 127.0.0.1 port, serving from a thread."""

    def __init__(self, *, invoke_status: int = 200) -> None:
        self.requests: list[Recorded] = []
        self.invoke_status = invoke_status
        self._submissions: deque[Reply] = deque()
        self._jobs: dict[str, deque[JobStep]] = {}
        self._runs: dict[str, deque[JobStep]] = {}
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # --- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def invocation_url(self) -> str:
        """A batch endpoint's invocation URL (``https://NAME.REGION.inference.ml.azure.com/jobs``)."""
        return f"{self.url}/jobs"

    @property
    def v1_submit_url(self) -> str:
        """A published pipeline's REST endpoint."""
        return f"{self.url}/pipelines/v1.0{WORKSPACE}/PipelineRuns/PipelineSubmit/0a1b2c3d"

    def job_url(self, name: str) -> str:
        return f"{self.url}{WORKSPACE}/jobs/{name}?api-version=2024-04-01"

    def run_url(self, run_id: str, experiment: str = "endpoint") -> str:
        return f"{self.url}/history/v1.0{WORKSPACE}/experiments/{experiment}/runs/{run_id}"

    # --- scripts ------------------------------------------------------------------------

    def script_submissions(self, *replies: Reply) -> None:
        """Answers for the next POSTs (either route), before the defaults."""
        with self._lock:
            self._submissions.extend(replies)

    def job_statuses(self, name: str, *steps: JobStep) -> None:
        """What ``GET .../jobs/<name>`` answers, one step per request (the last repeats)."""
        with self._lock:
            self._jobs.setdefault(name, deque()).extend(steps)

    def run_statuses(self, run_id: str, *steps: JobStep) -> None:
        """What ``GET .../runs/<run_id>`` answers, one step per request (the last repeats)."""
        with self._lock:
            self._runs.setdefault(run_id, deque()).extend(steps)

    @property
    def submissions(self) -> list[Recorded]:
        """The POSTs received, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    # --- life ---------------------------------------------------------------------------

    def start(self) -> AzureMLFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AzureMLFake:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- called from handler threads ----------------------------------------------------

    def _answer(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if recorded.method == "POST":
                return self._submission(recorded)
            if recorded.method == "GET":
                for pattern, scripts, body in (
                    (_V2_JOB, self._jobs, job_body),
                    (_V1_RUN, self._runs, run_body),
                ):
                    found = pattern.search(recorded.path)
                    if found is not None:
                        return _step(found["id"], scripts, body)
        return _not_found(f"no route for {recorded.method} {recorded.path}")

    def _submission(self, recorded: Recorded) -> Reply:
        if self._submissions:
            return self._submissions.popleft()
        number = next(self._names)
        try:
            request = recorded.json()
        except ValueError:
            return Reply(400, json={"error": {"code": "BadRequest", "message": "not JSON"}})
        if _INVOKE.search(recorded.path):
            body = batch_job_body(f"batchjob-{number}", request)
            return Reply(self.invoke_status, json=body)
        if _V1_SUBMIT.search(recorded.path):
            experiment = request.get("ExperimentName") if isinstance(request, dict) else None
            body = {
                "Id": f"run-{number}",
                "Status": {"StatusCode": "NotStarted"},
                "RunHistoryExperimentName": experiment,
                "PipelineId": "0a1b2c3d",
            }
            return Reply(200, json=body)
        return _not_found(f"no route for POST {recorded.path}")


def _step(key: str, scripts: dict[str, deque[JobStep]], body: Any) -> Reply:
    steps = scripts.get(key)
    if not steps:
        return _not_found(f"{key} not found")
    step = steps.popleft() if len(steps) > 1 else steps[0]
    if isinstance(step, Reply):
        return step
    if isinstance(step, str):
        return Reply(200, json=body(key, step))
    return Reply(200, json=step)


def _not_found(message: str) -> Reply:
    return Reply(404, json={"error": {"code": "ResourceNotFound", "message": message}})


def _handler(fake: AzureMLFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    target=self.path,
                    query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
                reply = fake._answer(recorded)
                content = reply.content()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except OSError:  # the client gave up: nothing to answer
                self.close_connection = True

        do_POST = do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
