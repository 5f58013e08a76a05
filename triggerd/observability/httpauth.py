"""Who may see the status pages and ``/api/``: ``TRIGGERD_HTTP_TOKEN``, sent as a bearer header
(scripts) or typed once into a sign-in form that sets a cookie (browsers).

The cookie does not hold the token: it holds when it expires and an HMAC-SHA256 of that time
keyed with the token, so it is worth nothing once it expires or the token changes, and reading
it (a proxy's log, a screenshot of the developer tools) does not give the token away. It is
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it) and
``Secure`` when a TLS proxy in front says the browser came over HTTPS.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import time
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from triggerd.observability.logging import get_logger

Answer = tuple[int, bytes, str, dict[str, str]]
"""(status, body, content type, extra headers)."""

LOGIN, LOGOUT = "/login", "/logout"
SESSION_COOKIE = "triggerd_session"
SESSION_TTL_S = 12 * 3600  # a browser signs in again after this
MAX_FORM_BYTES = 4096  # the sign-in form's body; anything longer is refused unread

_NEXT = re.compile(r"/(?![/\\])[\x21-\x7e]*")  # a path on this site: no //host, no spaces


class Gate:
    """The token check. Without a token every request passes (a loopback address's default)."""

    def __init__(
        self, token: str | SecretStr | None, *, clock: Callable[[], float] = time.time
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._token = secret.encode() if secret else None
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def allows(self, authorization: str | None, cookie: str | None) -> bool:
        """Whether a request with these ``Authorization`` and ``Cookie`` headers passes."""
        if self._token is None:
            return True
        return self._bearer(authorization) or self._session(cookie)

    def accepts(self, given: str) -> bool:
        """Whether ``given`` (the sign-in form's field) is the token."""
        return self._token is not None and hmac.compare_digest(given.encode(), self._token)

    def session_cookie(self, *, secure: bool) -> str:
        """A ``Set-Cookie`` value signing the browser in for :data:`SESSION_TTL_S`."""
        expires = int(self._clock()) + SESSION_TTL_S
        value = f"{expires}.{self._sign(expires)}"
        return _cookie(value, SESSION_TTL_S, secure=secure)

    @staticmethod
    def cleared_cookie(*, secure: bool) -> str:
        """A ``Set-Cookie`` value that signs the browser out."""
        return _cookie("", 0, secure=secure)

    def secrets(self) -> list[str]:
        """What to mask in log lines."""
        return [self._token.decode()] if self._token else []

    def _bearer(self, header: str | None) -> bool:
        assert self._token is not None
        scheme, _, credentials = (header or "").strip().partition(" ")
        given = credentials.strip().encode("latin-1", "replace")  # as http.client decoded it
        # compare_digest takes as long for a wrong token as for a right one of the same length.
        return scheme.lower() == "bearer" and hmac.compare_digest(given, self._token)

    def _session(self, header: str | None) -> bool:
        if not header:
            return False
        try:
            morsel = SimpleCookie(header).get(SESSION_COOKIE)
        except CookieError:
            return False
        expires_text, _, signature = (morsel.value if morsel else "").partition(".")
        if not expires_text.isascii() or not expires_text.isdigit():
            return False
        expires = int(expires_text)
        if not self._clock() < expires <= self._clock() + SESSION_TTL_S:
            return False
        return hmac.compare_digest(signature.encode(), self._sign(expires).encode())

    def _sign(self, expires: int) -> str:
        assert self._token is not None
        return hmac.new(self._token, f"session:{expires}".encode(), hashlib.sha256).hexdigest()


def sign_in(gate: Gate, headers: Message, form: bytes, *, client: str) -> Answer:
    """The sign-in form's POST: the token right, a cookie and off to ``next``; wrong, the
    form again (and an ``http.sign_in_failed`` line). A form sent from another site's page is
    refused (it could sign a browser in behind its back)."""
    if not _same_origin(headers):
        return HTTPStatus.FORBIDDEN, b"sign in from this site's own form\n", TEXT, {}
    fields = dict(parse_qsl(form.decode("utf-8", "replace")))
    target = safe_next(fields.get("next"))
    if gate.accepts(fields.get("token", "")):
        get_logger(component="http").info("http.signed_in", client=client)
        cookie = gate.session_cookie(secure=_secure(headers))
        return HTTPStatus.SEE_OTHER, b"", TEXT, {"Location": target, "Set-Cookie": cookie}
    get_logger(component="http").warning("http.sign_in_failed", client=client)
    return HTTPStatus.UNAUTHORIZED, login_page(target, wrong=True), HTML, {}


def session_page(gate: Gate, path: str, query: str, headers: Message) -> Answer:
    """``GET /login`` (the form) or ``GET /logout`` (the cookie cleared, back to the form)."""
    if path == LOGOUT:
        cleared = gate.cleared_cookie(secure=_secure(headers))
        return HTTPStatus.SEE_OTHER, b"", TEXT, {"Location": LOGIN, "Set-Cookie": cleared}
    target = dict(parse_qsl(query)).get("next")
    return HTTPStatus.OK, login_page(safe_next(target)), HTML, {}


def unauthorized(path: str, query: str, headers: Message) -> Answer:
    """A browser asking for a page gets the sign-in form (to come back here); ``/api/`` and
    every other client the plain answer a script can read."""
    extra = {"WWW-Authenticate": "Bearer"}
    if path.startswith("/api/") or "text/html" not in headers.get("Accept", ""):
        return HTTPStatus.UNAUTHORIZED, UNAUTHORIZED, TEXT, extra
    here = f"{path}?{query}" if query else path
    return HTTPStatus.UNAUTHORIZED, login_page(here), HTML, extra


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, else ``/`` (never another host)."""
    return value if value and _NEXT.fullmatch(value) else "/"


def login_page(next_path: str, *, wrong: bool = False) -> bytes:
    """The sign-in form (the status pages' stylesheet, no script)."""
    error = '<p class="error">Wrong token.</p>\n' if wrong else ""
    return _LOGIN.format(next=html.escape(safe_next(next_path), quote=True), error=error).encode()


def _secure(headers: Message) -> bool:
    """Whether the browser came over HTTPS (a TLS proxy in front says so)."""
    return str(headers.get("X-Forwarded-Proto", "")).strip().lower() == "https"


def _same_origin(headers: Message) -> bool:
    """A browser names the site a form was sent from; no ``Origin``: not a browser's form."""
    origin = headers.get("Origin")
    if origin is None:
        return True
    host = urlsplit(str(origin)).netloc
    return bool(host) and host == headers.get("Host", "")


def _cookie(value: str, max_age: int, *, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{flags}"


TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
UNAUTHORIZED = (
    b"unauthorized: send Authorization: Bearer <TRIGGERD_HTTP_TOKEN> (or sign in at /login)\n"
)

_LOGIN = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · triggerd</title>
<link rel="stylesheet" href="/static/triggerd.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<header><span class="brand">triggerd</span></header>
<main class="login">
<h1>Sign in</h1>
<p>This daemon's pages need its token (<code>TRIGGERD_HTTP_TOKEN</code>).</p>
{error}<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label>Token <input type="password" name="token" autocomplete="current-password" required \
autofocus></label>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"""
