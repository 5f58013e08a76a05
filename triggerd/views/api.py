"""The daemon's read-only JSON API, ``/api/...``: the CLI's ``--json`` views, served over HTTP.

Each answer is built by the same function as the CLI command's ``--json`` (``views/``), from
the database and the config in force, so a script reading the API and an operator reading the
CLI see the same fields:

- ``/api/schedules`` — ``schedules list --json`` (``?name=`` a part of the name, ``?status=``
  Active or Disabled narrow it);
- ``/api/schedules/NAME`` — ``schedules describe NAME --json``;
- ``/api/runs`` — ``runs list --json`` (``?schedule=``, ``?status=``, ``?trigger=``,
  ``?since=``, ``?until=`` ISO 8601, ``?file=``, ``?limit=`` 1 to 1000, default 50);
- ``/api/runs/ID`` — ``runs show ID --json``;
- ``/api/daemons`` — ``status --json``.

A question the API cannot answer is a JSON ``{"error": ...}`` with 400 or 404; nothing here
writes. Names come from the URL percent-encoded and are matched exactly, never evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from triggerd.observability.httpserver import Response
from triggerd.runs import RunStatus, TriggerKind
from triggerd.views.common import Sources
from triggerd.views.daemons import daemons_view
from triggerd.views.runs import run_items, run_view
from triggerd.views.schedule import gather
from triggerd.views.schedules import schedule_items

JSON = "application/json; charset=utf-8"
PREFIX = "/api/"
MAX_RUNS = 1000
DEFAULT_RUNS = 50


class BadRequest(ValueError):
    """The question is malformed: 400 with this message."""


class Api:
    def __init__(self, sources: Sources) -> None:
        self._src = sources

    def route(self, path: str, query: Mapping[str, str]) -> Response | None:
        """The answer for ``path`` under ``/api/``; None for any other path (404)."""
        if not path.startswith(PREFIX):
            return None
        parts = [unquote(p) for p in path[len(PREFIX) :].split("/")]
        try:
            found = self._answer(parts, query)
        except BadRequest as exc:
            return json_answer(400, {"error": str(exc)})
        if found is None:
            return json_answer(404, {"error": f"nothing at {PREFIX}{'/'.join(parts)}"})
        return json_answer(200, found)

    def _answer(self, parts: list[str], query: Mapping[str, str]) -> Any:
        match parts:
            case ["schedules"] | ["schedules", ""]:
                return self._schedules(query)
            case ["schedules", name]:
                return self._schedule(name)
            case ["runs"] | ["runs", ""]:
                return run_items(self._src.store, **_run_filters(query))
            case ["runs", run_id]:
                if not run_id.isascii() or not run_id.isdigit():
                    raise BadRequest("a run id is a number")
                return run_view(self._src.store, int(run_id))
            case ["daemons"] | ["daemons", ""]:
                return daemons_view(self._src)
        return None

    def _schedules(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        items = schedule_items(self._src.store, self._src.config())
        part, status = query.get("name"), query.get("status")
        if status is not None and status not in ("Active", "Disabled"):
            raise BadRequest("status is Active or Disabled")
        return [
            item
            for item in items
            if (part is None or part in item["name"]) and (status in (None, item["status"]))
        ]

    def _schedule(self, name: str) -> dict[str, Any] | None:
        config = self._src.config()
        schedule = config.schedules.get(name)
        if schedule is None:
            return None
        return gather(
            self._src.store, schedule, self._src.clock(), events=config.events_of(schedule)
        )


def _run_filters(query: Mapping[str, str]) -> dict[str, Any]:
    """``runs list``'s options, from the query string."""
    limit_text = query.get("limit", str(DEFAULT_RUNS))
    if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_RUNS:
        raise BadRequest(f"limit is a whole number from 1 to {MAX_RUNS}")
    return {
        "schedule": query.get("schedule"),
        "status": _one_of(query, "status", [str(s) for s in RunStatus]),
        "trigger": _one_of(query, "trigger", [str(t) for t in TriggerKind]),
        "since": _time(query, "since"),
        "until": _time(query, "until"),
        "file": query.get("file"),
        "limit": int(limit_text),
    }


def _one_of(query: Mapping[str, str], key: str, choices: list[str]) -> str | None:
    """``query[key]`` when it is one of ``choices`` (as the CLI's options), None when absent."""
    value = query.get(key)
    if value is not None and value not in choices:
        raise BadRequest(f"{key} is one of {', '.join(choices)}")
    return value


def _time(query: Mapping[str, str], key: str) -> datetime | None:
    text = query.get(key)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{key} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def json_answer(status: int, value: Any) -> Response:
    """As the CLI prints it (``indent=2``, times as ISO 8601 strings), with ``<``, ``>`` and
    ``&`` written as ``\\u`` escapes: the same JSON once read, and no markup in the bytes even
    for a client that ignores the content type (file names are hostile input)."""
    text = json.dumps(value, indent=2, default=str)
    for char, escape in _ESCAPES:
        text = text.replace(char, escape)
    return Response(status, text.encode("utf-8") + b"\n", JSON)


_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"))
