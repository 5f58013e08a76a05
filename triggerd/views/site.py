"""What the daemon's HTTP address serves besides the probes: the status pages, their stylesheet
and the JSON API (``routes=`` of the HTTP server). GET only, nothing changes anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.resources import files
from urllib.parse import unquote

from triggerd.clock import utcnow
from triggerd.config import Config
from triggerd.observability.httpserver import Response
from triggerd.settings import Settings
from triggerd.store import Store
from triggerd.views.api import PREFIX, Api
from triggerd.views.pages import Pages

STYLESHEET = "/static/triggerd.css"


class Site:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        *,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.api = Api(store, config, settings=settings, clock=clock)
        self.pages = Pages(store, config, settings=settings, clock=clock)
        self._css = files("triggerd.views").joinpath("static/triggerd.css").read_bytes()

    def route(self, path: str, query: Mapping[str, str]) -> Response | None:
        """The answer for ``path`` (raw, percent-encoded); None: not ours (404)."""
        if path.startswith(PREFIX):
            return self.api.route(path, query)
        if path == "/":
            return self.pages.overview(query)
        if path == "/daemons":
            return self.pages.daemons()
        if path == STYLESHEET:
            return Response(200, self._css, "text/css; charset=utf-8")
        head, _, rest = path[1:].partition("/")
        name = unquote(rest)
        if head == "schedules" and name:
            found = self.pages.schedule(name)
            return found or self.pages.not_found(f"No schedule named {name}.")
        if head == "runs" and name:
            run = self.pages.run(int(name)) if name.isascii() and name.isdigit() else None
            return run or self.pages.not_found(f"No run {name}.")
        return None
