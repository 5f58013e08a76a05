"""What the daemon's HTTP address serves besides the probes: the status pages, their stylesheet
and the JSON API (``routes=`` of the HTTP server). GET only, nothing changes anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from importlib.resources import files
from urllib.parse import unquote

from sqlalchemy.exc import DBAPIError

from triggerd.clock import utcnow
from triggerd.config import Config
from triggerd.observability.httpserver import Response
from triggerd.settings import Settings
from triggerd.store import Store
from triggerd.store.db import store_error
from triggerd.views.api import PREFIX, Api, json_answer
from triggerd.views.common import Sources
from triggerd.views.pages import Pages

STATIC = {  # what /static/ serves: the files shipped in the package, nothing else
    "triggerd.css": "text/css; charset=utf-8",
    "refresh.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


class Site:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        *,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        sources = Sources(store, config, settings, clock)
        self.api = Api(sources)
        self.pages = Pages(sources)
        folder = files("triggerd.views").joinpath("static")
        self._static = {
            f"/static/{name}": Response(200, folder.joinpath(name).read_bytes(), ctype)
            for name, ctype in STATIC.items()
        }

    def route(self, path: str, query: Mapping[str, str]) -> Response | None:
        """The answer for ``path`` (raw, percent-encoded); None: not ours (404). A database
        that cannot be read (down, locked out, its file replaced) is a 503 saying why, in the
        page's or the API's form: the daemon's own heartbeat reports the fault."""
        try:
            return self._route(path, query)
        except DBAPIError as exc:
            url = self._store.engine.url.render_as_string(hide_password=False)
            reason = str(store_error(url, exc))
            if path.startswith(PREFIX):
                return json_answer(503, {"error": reason})
            return self.pages.unavailable(reason)

    def _route(self, path: str, query: Mapping[str, str]) -> Response | None:
        if path.startswith(PREFIX):
            return self.api.route(path, query)
        if path == "/":
            return self.pages.overview(query)
        if path == "/daemons":
            return self.pages.daemons()
        if path in self._static:
            return self._static[path]
        head, _, rest = path[1:].partition("/")
        name = unquote(rest)
        if head == "schedules" and name:
            found = self.pages.schedule(name)
            return found or self.pages.not_found(f"No schedule named {name}.")
        if head == "runs" and name:
            run = self.pages.run(int(name)) if name.isascii() and name.isdigit() else None
            return run or self.pages.not_found(f"No run {name}.")
        return None
