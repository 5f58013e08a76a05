"""The status pages: server-rendered HTML from the same views as the CLI and ``/api/``.

Jinja2 with autoescaping on for every template, so a name, a path or a message is text
whatever it holds (a file called ``<img src=x onerror=alert(1)>.csv`` shows as that); no inline
script or style (the Content-Security-Policy forbids both), one stylesheet shipped in the
package. The pages work without JavaScript: they are tables and links, and a filter is a GET
form. Nothing on them changes anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined

from triggerd import __version__
from triggerd.config import Config, Schedule
from triggerd.config.triggers import DatastoreTrigger
from triggerd.humanize import human
from triggerd.observability.httpserver import Response
from triggerd.runs import RunRecord
from triggerd.store import ScheduleState, queries, states
from triggerd.views.common import Sources
from triggerd.views.daemons import daemons_view
from triggerd.views.runs import run_view
from triggerd.views.schedule import gather
from triggerd.views.schedules import schedule_item
from triggerd.views.timeline import WINDOWS, timeline

HTML = "text/html; charset=utf-8"
PER_PAGE = 100  # schedules per overview page

_ENV = Environment(
    loader=PackageLoader("triggerd.views", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(text: str | None) -> str:
    """An ISO 8601 time as the pages show it: to the second, ``Z`` for UTC, else its offset
    (``2026-03-29 03:30:00+02:00``: a next fire in its zone, DST shown); ``-`` for none."""
    if not text:
        return "-"
    moment = datetime.fromisoformat(text).replace(microsecond=0)
    if moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return moment.isoformat(sep=" ")


_ENV.filters["when"] = when


def trigger_words(schedule: Schedule) -> str:
    """``every 15 minutes (Europe/Berlin)``, ``new files in inbox/incoming``."""
    trigger = schedule.trigger
    if isinstance(trigger, DatastoreTrigger):
        folder = (trigger.path_on_datastore or "").strip("/")
        return (
            f"new files in {trigger.datastore}/{folder}"
            if folder
            else (f"new files in {trigger.datastore}")
        )
    return trigger.every.describe()


class Pages:
    def __init__(self, sources: Sources) -> None:
        self._src = sources

    def overview(self, query: Mapping[str, str]) -> Response:
        """Every schedule (filtered by ``name``, a part of it, and ``status``), a page at a time:
        the filter reads the overrides only (usually few), the rows (state, next fire, last
        run, marks) are read and built for the page shown, so 10,000 schedules cost what 100
        do but for one pass over the config."""
        config, now = self._src.config(), self._src.clock()
        overrides = self._src.store.read(states.enabled_overrides)  # the filter needs no more
        name, status = query.get("name") or None, query.get("status") or None
        window = query.get("window") or "24h"
        if window not in WINDOWS:
            window = "24h"
        shown = [
            schedule
            for schedule in config.schedules.values()
            if (name is None or name in schedule.name)
            and status in (None, schedule.effective_status(overrides.get(schedule.name)))
        ]
        pages = max(1, math.ceil(len(shown) / PER_PAGE))
        page = _page(query.get("page"), pages)
        chosen = shown[(page - 1) * PER_PAGE : page * PER_PAGE]
        names = [schedule.name for schedule in chosen]
        known = self._src.store.read(states.get_many, names)
        last_runs = self._src.store.read(queries.last_runs, names)
        marks = self._src.store.read(queries.timeline, names, now - WINDOWS[window], now)
        rows = []
        for schedule in chosen:
            state, last_run = known.get(schedule.name), last_runs.get(schedule.name)
            item = schedule_item(config, schedule, state, last_run)
            rows.append(
                {
                    **item,
                    "words": trigger_words(schedule),
                    "override": _override_text(item["override"]),
                    "took": _took(last_run),
                    "polls": poll_health(schedule, state, config, now),
                }
            )

        def link(**changes: Any) -> str:
            params = {"name": name, "status": status, "window": window, **changes}
            return urlencode({k: v for k, v in params.items() if v})

        return self._render(
            "overview.html",
            rows=rows,
            total=len(config.schedules),
            shown=len(shown),
            name=name,
            status=status,
            page=page,
            pages=pages,
            query=link,
            window=window,
            windows=list(WINDOWS),
            timeline=timeline(names, marks, until=now, window=window),
        )

    def schedule(self, name: str) -> Response | None:
        config = self._src.config()
        schedule = config.schedules.get(name)
        if schedule is None:
            return None
        view = gather(
            self._src.store, schedule, self._src.clock(), events=config.events_of(schedule)
        )
        return self._render(
            "schedule.html",
            view=view,
            words=trigger_words(schedule),
            status_line=_status_line(view["status"]),
        )

    def run(self, run_id: int) -> Response | None:
        run = run_view(self._src.store, run_id)
        if run is None:
            return None
        parameters = json.dumps(run["parameters"], indent=2, sort_keys=True)
        return self._render("run.html", run=run, parameters=parameters)

    def daemons(self) -> Response:
        view = daemons_view(self._src)
        return self._render("daemons.html", view=view)

    def not_found(self, what: str) -> Response:
        return self._render("message.html", code=404, title="Not found", what=what)

    def unavailable(self, reason: str) -> Response:
        """The database cannot be read now: say so (the pages come back with it)."""
        what = f"The database cannot be read now: {reason}. The pages come back when it does."
        return self._render("message.html", code=503, title="Database unavailable", what=what)

    def _render(self, template: str, *, code: int = 200, **values: Any) -> Response:
        now = self._src.clock().strftime("%Y-%m-%d %H:%M:%SZ")
        html = _ENV.get_template(template).render(version=__version__, now=now, **values)
        return Response(code, html.encode("utf-8"), HTML)


def poll_health(
    schedule: Schedule, state: ScheduleState | None, config: Config, now: datetime
) -> tuple[str, str] | None:
    """A datastore schedule's polls in words, and ``ok`` or ``late`` (no listing for more than
    two intervals and a minute: the daemon is down, or another holds the lease and is stuck);
    None for a time schedule."""
    trigger = schedule.trigger
    if not isinstance(trigger, DatastoreTrigger):
        return None
    events = config.events_of(schedule)
    interval = events.reconcile_interval if events else trigger.polling_interval
    fed = f"fed by events (queue {events.queue}); " if events else ""
    if state is None or state.last_poll_at is None:
        return f"{fed}not listed yet", "late"
    age = max(timedelta(0), now - state.last_poll_at)
    entries = state.entries
    files = "" if entries is None else f", {entries} file{'' if entries == 1 else 's'}"
    said = f"{fed}listed {human(age)} ago{files} (every {human(interval)})"
    return said, "late" if age > 2 * interval + timedelta(minutes=1) else "ok"


def _took(run: RunRecord | None) -> str | None:
    """How long the last run took, started to finished (None until it finishes)."""
    if run is None or run.started_at is None or run.finished_at is None:
        return None
    took = run.finished_at - run.started_at
    if took < timedelta(minutes=1):
        return f"{max(took.total_seconds(), 0.0):.1f}s"
    return human(took)


def _page(text: str | None, pages: int) -> int:
    if text is None or not text.isascii() or not text.isdigit():
        return 1
    return min(max(1, int(text)), pages)


def _override_text(override: dict[str, Any] | None) -> str | None:
    if override is None:
        return None
    by = f" by {override['by']}" if override.get("by") else ""
    note = f": {override['note']}" if override.get("note") else ""
    return f"set{by} at {when(override.get('at'))}{note}"


def _status_line(status: dict[str, Any]) -> str:
    if status["override"] is None:
        return f"{status['status']} (config)"
    override = _override_text(status["override"])
    return f"{status['status']} (override {override}; config: {status['config']})"
