"""Keeping secrets out of logs, messages and the store: one place for every scrubbing rule.

What may carry a secret: a URL's user info (``https://user:PASS@host/``) and query string (SAS
tokens, ``code=``/``sig=`` keys), ``name=value`` fields of a connection string
(``AccountKey=``), and the secret values a component reads itself (tokens from env or files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

# scheme://user[:password]@ — the user info of any URL in a text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>?#]+@")
_SECRET_QUERY = re.compile(
    r"(?i)\b(sig|signature|code|key|token|access_token|api[-_]?key|secret|password)=[^&\s\"'<>]+"
)
_QUERY = re.compile(r"\?[^\s'\"<>]*")
_SECRET_FIELD = re.compile(
    r"(?i)\b(AccountKey|SharedAccessSignature|sig|signature|access_token|Authorization|Password)"
    r"(\s*[=:]\s*)[^;&\s'\"<>,)]*"
)


def safe_url(url: str) -> str:
    """``url`` without query string, fragment or user info: fit for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def without_userinfo(text: str) -> str:
    """``text`` with the user info of every URL in it masked: ``http://***@host/``."""
    return _USERINFO.sub(r"\1***@", text)


def scrub(text: str, secrets: Iterable[str] = (), *, every_query: bool = False) -> str:
    """``text`` with every secret value, URL user info, key-like field (``AccountKey=``) and
    ``sig=...``-style query parameter masked. ``every_query``: every URL query string too (an
    Azure Storage URL's query is a SAS); otherwise the other parameters stay, as they help tell
    requests apart."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    if every_query:
        text = _QUERY.sub("?***", text)
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", text)
    text = _SECRET_FIELD.sub(r"\1\2***", text)
    return without_userinfo(text)
