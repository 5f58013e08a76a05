"""A fake Azure ML on 127.0.0.1 that speaks the documented shapes of submitting a run and of
reading its status, for following remote runs:

- ``POST .../PipelineRuns/PipelineSubmit/{id}`` or ``.../PipelineEndpointSubmit/Id/{id}...``
  (v1): ``{"Id": RUN_ID, "Status": {"StatusCode": "NotStarted"}}``;
- ``POST .../jobs`` (a v2 batch endpoint): the batch job resource, ``{"id": "/subscriptions/
  .../workspaces/WS/jobs/NAME", "name": NAME, "properties": {"status": "NotStarted"}}``;
- ``GET /history/v1.0/subscriptions/.../runs/{run id}`` (the run history, both versions): the
  next answer of that run's script; the last one is repeated.

    with StatusFake() as fake:
        fake.runs = ["run-1"]                      # the ids v1 submissions get, in order
        fake.jobs = ["job-1"]                      # the names v2 invocations get
        fake.script("run-1", Status("Running"), Status("Failed", error="boom"))
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

WORKSPACE = (
    "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.MachineLearningServices"
    "/workspaces/ws-1"
)
_RUN = re.compile(r"^/history/v1\.0(?P<ws>/subscriptions/.+/workspaces/[^/]+)/runs/(?P<id>[^/?]+)$")


@dataclass(frozen=True)
class Status:
    """One answer of the status route: a run history run (``status``, ``error``), or an HTTP
    error (``http`` other than 200) with its headers."""

    status: str = "Running"
    error: str | None = None
    http: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    shape: str = "history"  # "history": {"status"}; "job": {"properties": {"status"}}

    def body(self, run_id: str) -> dict[str, Any]:
        if self.http != 200:
            return {"error": {"code": "ServiceError", "message": f"status {self.http}"}}
        if self.shape == "job":
            return {"id": f"{WORKSPACE}/jobs/{run_id}", "properties": {"status": self.status}}
        answer: dict[str, Any] = {"runId": run_id, "status": self.status}
        if self.error is not None:
            answer["error"] = {"error": {"code": "UserError", "message": self.error}}
        return answer


class StatusFake:
    def __init__(self) -> None:
        self.runs: list[str] = []  # the run ids v1 submissions get, in order
        self.jobs: list[str] = []  # the job names v2 invocations get, in order
        self.submissions: list[dict[str, Any]] = []
        self.checks: list[tuple[str, dict[str, str]]] = []  # (run id, headers) per status GET
        self._scripts: dict[str, deque[Status]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, run_id: str, *answers: Status) -> None:
        with self._lock:
            self._scripts.setdefault(run_id, deque()).extend(answers)

    def checks_of(self, run_id: str) -> int:
        with self._lock:
            return sum(1 for found, _ in self.checks if found == run_id)

    def start(self) -> StatusFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StatusFake:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- called from handler threads ------------------------------------------------------

    def _status(self, run_id: str, headers: dict[str, str]) -> Status | None:
        with self._lock:
            self.checks.append((run_id, headers))
            script = self._scripts.get(run_id)
            if not script:
                return None
            return script.popleft() if len(script) > 1 else script[0]

    def _submit(self, path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.submissions.append({"path": path, "body": body})
            ids = self.jobs if path.endswith("/jobs") else self.runs
            if not ids:
                return 500, {"error": {"message": "no run id left for this submission"}}
            run_id = ids.pop(0)
        if path.endswith("/jobs"):
            job = {"id": f"{WORKSPACE}/jobs/{run_id}", "name": run_id}
            return 200, {**job, "properties": {"status": "NotStarted"}}
        return 200, {"Id": run_id, "Status": {"StatusCode": "NotStarted"}}


def _handler(fake: StatusFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
            content = json.dumps(body).encode()
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            found = _RUN.match(path)
            if found is None:
                self._send(404, {"error": {"code": "NotFound", "message": f"no route {path}"}})
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = fake._status(found["id"], headers)
            if answer is None:
                self._send(404, {"error": {"code": "NotFound", "message": "no such run"}})
                return
            self._send(answer.http, answer.body(found["id"]), answer.headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            code, body = fake._submit(self.path.split("?", 1)[0], json.loads(raw or b"null"))
            self._send(code, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
