"""Contract of the ``http`` submitter (and the HTTP rules it shares with ``azureml``), against a
real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from tests.support.httpserver import Reply, ScriptedServer, refused_url
from triggerd.config.pipelines import HttpPipeline
from triggerd.errors import PermanentSubmitError, SubmitInterrupted, TransientSubmitError
from triggerd.redact import safe_url, scrub
from triggerd.runs import BoundFile
from triggerd.submitters import build_submitter
from triggerd.submitters.base import RunOutcome, RunRequest
from triggerd.submitters.http import HttpSubmitter, render_template
from triggerd.submitters.httpcommon import (
    EnvSecret,
    FileSecret,
    error_message,
    parse_retry_after,
)

pytestmark = pytest.mark.timeout(30)

FIRE_KEY = "nightly:2024-03-31T01:30:00+00:00"
SECRET = "s3cr3t-HEADER-value"


def make_request(**overrides: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "run_id": 7,
        "schedule": "nightly",
        "fire_key": FIRE_KEY,
        "trigger": "time",
        "scheduled_for": datetime(2024, 3, 31, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        "parameters": {},
    }
    fields.update(overrides)
    return RunRequest(**fields)


FILE_REQUEST = make_request(
    trigger="datastore",
    scheduled_for=None,
    fire_key="score:incoming/a b.csv:1700000000123",
    parameters={"threshold": 0.5, "n": 3, "dry": False, "label": "x"},
    file=BoundFile(
        "inbox",
        "incoming/a b.csv",
        "/srv/inbox/incoming/a b.csv",
        "file:///srv/inbox/incoming/a%20b.csv",
    ),
    data_path_parameter_name="input",
    experiment_name="scoring",
    attempt=2,
)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


Factory = Callable[..., HttpSubmitter]


@pytest.fixture
def submitter(server: ScriptedServer) -> Iterator[Factory]:
    made: list[HttpSubmitter] = []

    def make(path: str = "/hooks/run", *, timeout: float = 5.0, **options: Any) -> HttpSubmitter:
        made.append(HttpSubmitter(server.url + path, timeout=timedelta(seconds=timeout), **options))
        return made[-1]

    yield make
    for item in made:
        item.close()


def submit(sub: HttpSubmitter, request: RunRequest | None = None) -> RunOutcome:
    return sub.submit(request or make_request(), threading.Event())


# --- bodies ---------------------------------------------------------------------------------


def test_default_body_describes_the_run(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(202), Reply(202))
    submit(submitter(), make_request(parameters={"lr": 0.01, "full": True}))
    submit(submitter(), FILE_REQUEST)
    first, second = (seen.json() for seen in server.requests)
    assert first == {
        "schedule": "nightly",
        "fire_key": FIRE_KEY,
        "trigger": "time",
        "scheduled_for": "2024-03-31T01:30:00+00:00",
        "run_id": 7,
        "attempt": 1,
        "experiment_name": None,
        "parameters": {"lr": 0.01, "full": True},
        "data_path": None,
    }
    assert second == {
        "schedule": "nightly",
        "fire_key": "score:incoming/a b.csv:1700000000123",
        "trigger": "datastore",
        "scheduled_for": None,
        "run_id": 7,
        "attempt": 2,
        "experiment_name": "scoring",
        "parameters": {"threshold": 0.5, "n": 3, "dry": False, "label": "x"},
        "data_path": {"datastore": "inbox", "relative_path": "incoming/a b.csv"},
    }


TEMPLATE = {
    "threshold": "{threshold}",
    "n": "{n}",
    "dry": "{dry}",
    "input": "{input}",
    "when": "{scheduled_for}",
    "text": "{datastore}/{data_path} n={n} dry={dry} at {scheduled_for}.",
    "ids": ["{run_id}", "{attempt}", {"key": "{fire_key}"}],
    "uri": "{data_uri}",
    "braces": "{{literal}} {{{label}}}",
    "fixed": [1, 2.5, True, None, "plain"],
    "{not_a_key_template}": "{schedule}:{trigger}:{experiment_name}",
}


def test_template_body_keeps_types_of_whole_placeholders(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(200))
    submit(submitter(body=TEMPLATE), FILE_REQUEST)
    assert server.requests[0].json() == {
        "threshold": 0.5,
        "n": 3,
        "dry": False,
        "input": "/srv/inbox/incoming/a b.csv",
        "when": None,
        "text": "inbox/incoming/a b.csv n=3 dry=False at .",
        "ids": [7, 2, {"key": "score:incoming/a b.csv:1700000000123"}],
        "uri": "file:///srv/inbox/incoming/a%20b.csv",
        "braces": "{literal} {x}",
        "fixed": [1, 2.5, True, None, "plain"],
        "{not_a_key_template}": "nightly:datastore:scoring",
    }


def test_a_parameter_wins_over_a_run_value_of_the_same_name() -> None:
    values = {"schedule": "nightly", "trigger": "time"}
    assert render_template("{schedule}", {**values, "schedule": 5}) == 5


def test_template_placeholder_without_value_is_permanent(
    server: ScriptedServer, submitter: Factory
) -> None:
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter(body={"a": ["x {missing} y"]}))
    assert str(caught.value) == (
        "body placeholder {missing} has no value: add 'missing' to the schedule's "
        "pipeline_parameters"
    )
    assert server.requests == []


def test_a_scalar_template(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(200))
    submit(submitter(body="{n}"), make_request(parameters={"n": 3}))
    assert server.requests[0].body == b"3"


# --- the request ----------------------------------------------------------------------------


def test_method_headers_and_secrets(
    server: ScriptedServer, submitter: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    (tmp_path / "key").write_text("file-secret\n")
    headers = {
        "X-Team": "ml",
        "Authorization": EnvSecret("HOOK_TOKEN", "the value of header Authorization"),
        "X-Api-Key": FileSecret(tmp_path / "key", "the value of header X-Api-Key"),
        "Content-Type": "application/vnd.run+json",
    }
    server.script(Reply(200))
    submit(submitter("/runs/put?code=abc", method="PUT", headers=headers))
    [seen] = server.requests
    assert (seen.method, seen.path, seen.query) == ("PUT", "/runs/put", {"code": ["abc"]})
    assert seen.headers["x-team"] == "ml"
    assert seen.headers["authorization"] == SECRET
    assert seen.headers["x-api-key"] == "file-secret"
    assert seen.headers["content-type"] == "application/vnd.run+json"
    assert seen.headers["idempotency-key"] == FIRE_KEY


def test_same_idempotency_key_on_every_attempt(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(502), Reply(hang=True), Reply(201))
    sub = submitter(timeout=0.5)
    for attempt in (1, 2):
        with pytest.raises(TransientSubmitError):
            submit(sub, make_request(attempt=attempt))
    assert submit(sub, make_request(attempt=3)).status == "submitted"
    assert [seen.headers["idempotency-key"] for seen in server.requests] == [FIRE_KEY] * 3
    assert [seen.json()["attempt"] for seen in server.requests] == [1, 2, 3]


def test_missing_header_variable_is_permanent(
    server: ScriptedServer, submitter: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    headers = {"X-Token": EnvSecret("HOOK_TOKEN", "the value of header X-Token")}
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter(headers=headers))
    assert str(caught.value) == (
        "environment variable HOOK_TOKEN (the value of header X-Token) is not set or empty: "
        "set it in the daemon's environment"
    )
    assert server.requests == []


def test_a_header_secret_on_two_lines_is_permanent(
    server: ScriptedServer, submitter: Factory, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text(f"{SECRET}\nsecond line\n")
    headers = {"X-Key": FileSecret(tmp_path / "key", "the value of header X-Key")}
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter(headers=headers))
    assert str(caught.value) == (
        "the value of header X-Key cannot be sent: it must be one line of printable ASCII text"
    )
    assert server.requests == []


# --- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "external_id"),
    [
        (Reply(201, headers={"Location": "/runs/91"}, json={"id": "ignored"}), "/runs/91"),
        (Reply(200, json={"id": 91, "state": "queued"}), "91"),
        (Reply(202, json={"id": True}), None),
        (Reply(204), None),
        (Reply(200, body=b"OK"), None),
    ],
)
def test_2xx_is_submitted_with_its_external_id(
    server: ScriptedServer, submitter: Factory, reply: Reply, external_id: str | None
) -> None:
    server.script(reply)
    assert submit(submitter()) == RunOutcome(status="submitted", external_id=external_id)


def test_503_with_retry_after(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(503, headers={"Retry-After": "2"}, body=b"busy"))
    with pytest.raises(TransientSubmitError) as caught:
        submit(submitter())
    assert (str(caught.value), caught.value.retry_after) == ("HTTP 503: busy", timedelta(seconds=2))


def test_400_is_permanent_with_the_start_of_the_body(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(422, body=b"field 'x'\n  is required"))
    with pytest.raises(PermanentSubmitError, match=r"^HTTP 422: field 'x' is required$"):
        submit(submitter())


def test_a_redirect_is_permanent(server: ScriptedServer, submitter: Factory) -> None:
    server.script(Reply(301, headers={"Location": "https://elsewhere/?sig=x"}))
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter())
    assert str(caught.value) == ("HTTP 301: the URL redirects; configure the URL it redirects to")


def test_refused_connection_is_transient() -> None:
    url = refused_url() + "/hook?code=SECRET-CODE"
    with (
        HttpSubmitter(url, timeout=timedelta(seconds=2)) as sub,
        capture_logs() as logs,
        pytest.raises(TransientSubmitError) as caught,
    ):
        submit(sub)
    assert str(caught.value).startswith(f"cannot connect to {url.split('?')[0]}: ")
    assert "SECRET-CODE" not in str(caught.value) + repr(logs)


def test_cancel(server: ScriptedServer, submitter: Factory) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SubmitInterrupted):
        submitter().submit(make_request(), cancel)
    assert server.requests == []


def test_cancel_turns_a_retryable_answer_into_an_interruption(
    server: ScriptedServer, submitter: Factory
) -> None:
    server.script(Reply(503, delay=0.2))
    cancel = threading.Event()
    timer = threading.Timer(0.05, cancel.set)
    timer.start()
    try:
        with pytest.raises(SubmitInterrupted):
            submitter().submit(make_request(), cancel)
    finally:
        timer.cancel()


# --- secrets --------------------------------------------------------------------------------


def test_secret_headers_never_in_logs_or_errors(
    server: ScriptedServer, submitter: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    headers = {"X-Token": EnvSecret("HOOK_TOKEN", "the value of header X-Token")}
    server.script(
        Reply(401, body=f"bad X-Token {SECRET}".encode()),
        Reply(500, json={"message": f"upstream https://a/b?sv=2&sig={SECRET}x failed"}),
    )
    sub = submitter("/hook?code=SECRET-CODE", headers=headers)
    errors = []
    with capture_logs() as logs:
        with pytest.raises(PermanentSubmitError) as permanent:
            submit(sub)
        errors.append(str(permanent.value))
        with pytest.raises(TransientSubmitError) as transient:
            submit(sub)
        errors.append(str(transient.value))
    assert errors == [
        "HTTP 401: bad X-Token ***",
        "HTTP 500: upstream https://a/b?sv=2&sig=*** failed",
    ]
    assert [entry["event"] for entry in logs] == ["run.request", "run.response"] * 2
    assert logs[0]["url"] == server.url + "/hook"
    for text in (SECRET, "SECRET-CODE"):
        assert text not in repr(logs)


def test_literal_header_values_are_masked_only_when_they_look_secret(
    server: ScriptedServer, submitter: Factory
) -> None:
    headers = {"X-Api-Key": "literal-key-1", "X-Team": "ml"}
    server.script(Reply(400, body=b"HTML form: key literal-key-1 not valid for team ml"))
    with pytest.raises(PermanentSubmitError) as caught:
        submit(submitter(headers=headers))
    assert str(caught.value) == "HTTP 400: HTML form: key *** not valid for team ml"


# --- pure helpers ---------------------------------------------------------------------------

NOW = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("2", timedelta(seconds=2)),
        (" 120 ", timedelta(minutes=2)),
        ("0", timedelta(0)),
        ("86400", timedelta(hours=1)),  # capped
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), timedelta(seconds=90)),
        ("Sun, 27 Oct 2024 01:31:00 -0000", timedelta(seconds=60)),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), timedelta(0)),
        (format_datetime(NOW + timedelta(days=2), usegmt=True), timedelta(hours=1)),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("\u0663\u0660", None),  # Arabic-Indic "30": not a delay in ASCII digits
    ],
)
def test_parse_retry_after(value: str | None, wait: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == wait


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h.example/a/b?code=x&sig=y#frag", "https://h.example/a/b"),
        ("https://user:pw@h.example:8443/p", "https://h.example:8443/p"),
        ("http://[::1]:80/p?x", "http://[::1]:80/p"),
    ],
)
def test_safe_url(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_scrub() -> None:
    text = "tok-1 at https://a/b?sv=2&sig=abc%2F&se=1 and ?code=K1&x=2, access_token=Z"
    assert scrub(text, ["tok-1", ""]) == (
        "*** at https://a/b?sv=2&sig=***&se=1 and ?code=***&x=2, access_token=***"
    )


@pytest.mark.parametrize(
    ("status", "content", "message"),
    [
        (400, b'{"error": {"code": "UserError", "message": "bad n"}}', "HTTP 400: bad n"),
        (400, b'{"Message": "top-level"}', "HTTP 400: top-level"),
        (400, b'{"error": "flat"}', 'HTTP 400: {"error": "flat"}'),
        (404, b"", "HTTP 404"),
        (500, b"\xff\xfe broken", "HTTP 500: \ufffd\ufffd broken"),
    ],
)
def test_error_message(status: int, content: bytes, message: str) -> None:
    assert error_message(status, content) == message


# --- from config ----------------------------------------------------------------------------


def test_build_submitter_from_config(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("from-file")
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    pipeline = HttpPipeline.model_validate(
        {
            "kind": "http",
            "url": server.url + "/hook",
            "method": "PUT",
            "headers": {"X-Env": {"env": "HOOK_TOKEN"}, "X-File": {"file": "key"}, "X-Lit": "v"},
            "body": {"run": "{run_id}", "n": "{n}"},
            "timeout": 5,
        },
        context={"base_dir": tmp_path},
    )
    server.script(Reply(200, json={"id": "r1"}))
    sub = build_submitter(pipeline)
    assert isinstance(sub, HttpSubmitter)
    with sub:
        assert submit(sub, make_request(parameters={"n": 3})).external_id == "r1"
    [seen] = server.requests
    assert seen.method == "PUT"
    assert (seen.headers["x-env"], seen.headers["x-file"], seen.headers["x-lit"]) == (
        SECRET,
        "from-file",
        "v",
    )
    assert seen.json() == {"run": 7, "n": 3}
