"""What the remote submitters (``azureml``, ``azureml_batch``, ``http``) share: one HTTP exchange
and what its answer means.

:class:`HttpSender` sends one JSON request (one attempt) and turns the answer into a
:class:`Reply` (2xx) or a :class:`~triggerd.errors.SubmitError`:

- connection errors, timeouts, 408, 429 and 5xx are transient, with ``retry_after`` taken from
  ``Retry-After`` (seconds or an HTTP date, at most one hour);
- every other status is permanent: ``HTTP 400: <the server's message>`` (Azure's JSON
  ``error.message`` when there is one, else the start of the body).

Secrets stay out of logs and messages: request headers are never logged, the logged URL has no
query string, and every message is scrubbed of the secret values in play and of ``sig=``-style
query parameters (SAS signatures, function keys, tokens).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from triggerd.errors import PermanentSubmitError, SubmitInterrupted, TransientSubmitError
from triggerd.humanize import human_timeout
from triggerd.observability.logging import Logger
from triggerd.redact import safe_url, scrub
from triggerd.submitters.transport import ConnectFailed, Pool, TimedOut, TransportError

__all__ = [
    "RETRY_AFTER_CAP",
    "AzureADToken",
    "EnvSecret",
    "FileSecret",
    "HttpSender",
    "Reply",
    "Secret",
    "error_message",
    "idempotency_key",
    "is_sensitive_header",
    "parse_retry_after",
]

RETRY_AFTER_CAP = timedelta(hours=1)
ARM_SCOPE = "https://management.azure.com/.default"
MESSAGE_LIMIT = 300  # characters of a response body quoted in an error
BODY_LIMIT = 1024 * 1024  # bytes of a response body read at most
_TRANSIENT_STATUS = frozenset({408, 429})
_SENSITIVE_HEADER = re.compile(r"(?i)auth|key|token|secret|passw|cookie|signature|credential")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")
# Printable ASCII except "%", so that the escaping is reversible and keys stay distinct.
_KEY_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


# --- pure helpers ---------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` (delay in seconds, or an HTTP date) as a wait, capped at one hour.

    None when absent or unreadable; a date in the past means no wait.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]+", text):  # ASCII digits only (\d matches other scripts' too)
        wait = timedelta(seconds=int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" in the date: UTC without a claim about local time
            when = when.replace(tzinfo=UTC)
        wait = max(when - now, timedelta(0))
    return min(wait, RETRY_AFTER_CAP)


def is_sensitive_header(name: str) -> bool:
    """Whether a header's value is treated as a secret even when written into the config."""
    return _SENSITIVE_HEADER.search(name) is not None


def idempotency_key(fire_key: str) -> str:
    """The fire key as a header value: itself when it is printable ASCII without ``%``, else
    percent-encoded (UTF-8), so a file name with any character gives a valid, stable header."""
    return quote(fire_key, safe=_KEY_SAFE)


def error_message(status: int, content: bytes, secrets: Iterable[str] = ()) -> str:
    """``HTTP 400: <message>``: Azure's ``error.message`` when the body has one, else the start
    of the body."""
    text = content.decode("utf-8", errors="replace")
    message = _json_message(text) or " ".join(text[:MESSAGE_LIMIT].split())
    detail = scrub(message, secrets)
    return f"HTTP {status}: {detail}" if detail else f"HTTP {status}"


def _json_message(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[: MESSAGE_LIMIT * 2]
    for key in ("message", "Message"):
        if isinstance(data.get(key), str):
            return str(data[key])[: MESSAGE_LIMIT * 2]
    return None


# --- secrets --------------------------------------------------------------------------------


class Secret(Protocol):
    """A secret value, read anew at every attempt (so a rotated token is picked up)."""

    def read(self) -> str: ...


@dataclass(frozen=True)
class EnvSecret:
    """The value of an environment variable; missing or empty is a permanent error."""

    variable: str
    what: str = "secret"

    def read(self) -> str:
        value = os.environ.get(self.variable, "").strip()
        if not value:
            raise PermanentSubmitError(
                f"environment variable {self.variable} ({self.what}) is not set or empty: "
                "set it in the daemon's environment"
            )
        return value


@dataclass(frozen=True)
class FileSecret:
    """The contents of a file (surrounding whitespace removed); unreadable is permanent."""

    path: Path
    what: str = "secret"

    def read(self) -> str:
        try:
            value = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
            raise PermanentSubmitError(f"cannot read {self.path} ({self.what}): {reason}") from None
        if not value:
            raise PermanentSubmitError(f"{self.path} ({self.what}) is empty")
        return value


class _TokenCredential(Protocol):
    def get_token(self, *scopes: str) -> Any: ...


class AzureADToken:
    """An Azure AD token from DefaultAzureCredential, for ``scope``: Azure Resource Manager
    unless given another (``https://ml.azure.com/.default`` for batch endpoints).

    The credential is created on first use, once per submitter, and caches its tokens. Failing
    to get a token is transient (a managed identity endpoint that is not up yet, an expired
    ``az login``): the message names the likely fixes, never a secret.
    """

    def __init__(
        self, factory: Callable[[], _TokenCredential] | None = None, scope: str = ARM_SCOPE
    ) -> None:
        self._factory = factory or _default_credential
        self._scope = scope
        self._credential: _TokenCredential | None = None
        self._lock = threading.Lock()

    def read(self) -> str:
        with self._lock:
            if self._credential is None:
                self._credential = self._factory()
            credential = self._credential
        try:
            return str(credential.get_token(self._scope).token)
        except Exception as exc:  # the azure-identity chain raises many kinds
            raise TransientSubmitError(
                f"cannot get an Azure AD token for {self._scope} ({type(exc).__name__}): sign "
                "in with `az login`, give the host a managed identity, or set AZURE_CLIENT_ID, "
                "AZURE_TENANT_ID and AZURE_CLIENT_SECRET; or use auth {kind: bearer}"
            ) from None

    def close(self) -> None:
        with self._lock:
            credential, self._credential = self._credential, None
        close = getattr(credential, "close", None)
        if callable(close):
            close()


def _default_credential() -> _TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


# --- one exchange ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A 2xx answer."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.content)
        except ValueError:
            return None


class HttpSender:
    """Sends one JSON request per call on a shared pool of connections (``transport.Pool``).

    ``timeout`` bounds connecting, sending, waiting for the answer and every read of it, and
    the whole body read; so a shutdown (``cancel``) waits at most about that long. ``close``
    releases the connections.
    """

    def __init__(self, timeout: timedelta, *, clock: Callable[[], datetime] | None = None) -> None:
        if timeout <= timedelta(0):
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._timeout = timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pool = Pool(timeout.total_seconds())

    def close(self) -> None:
        self._pool.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        body: Any,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        cancel: threading.Event,
        log: Logger,
        attempt: int,
    ) -> Reply:
        """One attempt: the 2xx :class:`Reply`, or raises the SubmitError its failure means.

        ``secrets`` are masked in every message; headers are never logged.

        A shutdown never throws away an answer: with ``cancel`` set, a 2xx is still returned
        (the target has the run) and a 4xx still fails, but a failure that would be retried
        becomes :class:`SubmitInterrupted`.
        """
        secrets = list(secrets)
        if cancel.is_set():
            raise SubmitInterrupted("interrupted before sending: daemon shutting down")
        for name, value in headers.items():
            if not _HEADER_VALUE.fullmatch(value):
                raise PermanentSubmitError(
                    f"the value of header {name} cannot be sent: it must be one line of "
                    "printable ASCII text"
                )
        shown = safe_url(url)
        log.info("run.request", method=method, url=shown, attempt=attempt)
        started = time.monotonic()
        try:
            answer = self._pool.request(
                method,
                url,
                headers={"Content-Type": "application/json", **headers},
                body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                params=params,
                limit=BODY_LIMIT,
                deadline=started + self._timeout.total_seconds(),
            )
        except TransportError as exc:
            duration_ms = round((time.monotonic() - started) * 1000)
            error = scrub(self._describe(exc, shown), secrets)
            log.warning("run.request_failed", error=error, duration_ms=duration_ms)
            if cancel.is_set():
                raise SubmitInterrupted(f"interrupted: daemon shutting down ({error})") from None
            raise TransientSubmitError(error) from None
        status, answer_headers, content = answer
        duration_ms = round((time.monotonic() - started) * 1000)
        log.info("run.response", status=status, duration_ms=duration_ms)
        if 200 <= status < 300:
            return Reply(status, answer_headers, content)
        message = error_message(status, content, secrets)
        if status in _TRANSIENT_STATUS or status >= 500:
            if cancel.is_set():
                raise SubmitInterrupted(f"interrupted: daemon shutting down ({message})")
            wait = parse_retry_after(answer_headers.get("retry-after"), self._clock())
            raise TransientSubmitError(message, retry_after=wait)
        if 300 <= status < 400:
            message = f"HTTP {status}: the URL redirects; configure the URL it redirects to"
        raise PermanentSubmitError(message)

    def _describe(self, exc: TransportError, shown: str) -> str:
        if isinstance(exc, TimedOut):
            return (
                f"no complete answer from {shown} within {human_timeout(self._timeout)} (timeout)"
            )
        if isinstance(exc, ConnectFailed):
            return f"cannot connect to {shown}: {_reason(exc)}"
        return f"request to {shown} failed: {_reason(exc)}"


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:MESSAGE_LIMIT]
