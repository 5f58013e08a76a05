"""What the Azure Storage clients share (the blob lister, the event queue): secrets read from the
environment or a file, credentials, account names, and reasons safe to log.

Keys, SAS tokens and connection strings never reach a log line or an error message: reasons are
built from status codes and error codes, and any service text is scrubbed of query strings and
key-like fields first. Each function raises the error type its caller names (``ListingError``
for a listing, ``QueueError`` for a queue), the message naming the variable or file, never a
value.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from triggerd.config.base import SecretSource
from triggerd.config.credentials import AccountKeyCredential, SasTokenCredential
from triggerd.errors import ListingError, TriggerdError
from triggerd.redact import scrub, without_userinfo

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

Error = type[TriggerdError]


@contextlib.contextmanager
def connection_string(variable: str, *, error: Error = ListingError) -> Iterator[str]:
    """The connection string in ``variable``; ``error`` (naming the variable, never the value)
    when it is missing, or when what is done with it finds it malformed."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise error(
            f"environment variable {variable} (connection_string_env of the datastore) "
            "is not set or empty"
        )
    try:
        yield value
    except ValueError:
        raise error(
            f"the connection string in environment variable {variable} is malformed"
        ) from None


def credential(
    config: Any, account_url: str, *, error: Error = ListingError
) -> AzureNamedKeyCredential | AzureSasCredential | TokenCredential:
    if isinstance(config, SasTokenCredential):
        return AzureSasCredential(read_secret(config, "SAS token", error=error).lstrip("?"))
    if isinstance(config, AccountKeyCredential):
        key = read_secret(config, "account key", error=error)
        return AzureNamedKeyCredential(account_name(account_url, error=error), key)
    # None or {kind: default}: managed identity, environment, Azure CLI login...
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def read_secret(source: SecretSource, what: str, *, error: Error = ListingError) -> str:
    if source.env is not None:
        value = os.environ.get(source.env, "").strip()
        if not value:
            raise error(f"environment variable {source.env} ({what}) is not set or empty")
        return value
    assert source.file is not None  # the model requires exactly one source
    path = Path(source.file)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise error(
            f"cannot read the {what} file {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if not value:
        raise error(f"the {what} file {path} is empty")
    return value


def account_name(account_url: str, *, error: Error = ListingError) -> str:
    """The storage account of an account URL.

    ``https://acct.blob.core.windows.net`` -> ``acct``; an emulator URL with an IP address or
    ``localhost`` host (``http://127.0.0.1:10000/devstoreaccount1``) -> the first path segment.
    """
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if is_emulator_host(host):
        segment = parts.path.strip("/").split("/", 1)[0]
        if segment:
            return segment
    name = host.split(".", 1)[0]
    if not name:
        raise error(
            f"cannot tell the storage account from account_url {without_query(account_url)}"
        )
    return name


def is_emulator_host(host: str) -> bool:
    """An IP address or ``localhost``: the account is in the path, not the host name."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def close_credential(credential: Any) -> None:
    """Close a token credential we created (it holds connections of its own)."""
    close = getattr(credential, "close", None)
    if close is not None and hasattr(credential, "get_token"):
        close()


# --- safe reasons ---------------------------------------------------------------------------

_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\"\)]*")


def without_query(url: str) -> str:
    """A blob or account URL without its query string (a SAS) or user info."""
    return without_userinfo(url.split("?", 1)[0])


def first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip().split("\n", 1)[0][:300]


def service_reason(exc: HttpResponseError) -> str:
    """``403 AuthenticationFailed``: status and error code, never the service's free text."""
    error_code = getattr(exc, "error_code", None)  # set by the storage SDKs (an enum or text)
    error_code = getattr(error_code, "value", error_code)
    if exc.status_code is not None and error_code:
        return f"{exc.status_code} {error_code}"
    status = f"{exc.status_code} " if exc.status_code is not None else ""
    return f"{status}{scrub(first_line(exc), every_query=True)}"


def network_reason(exc: AzureError) -> str:
    """``[Errno 111] Connection refused`` or ``timed out``, not the request URL."""
    text = first_line(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip()
    if "timed out" in text.lower():
        return "timed out"
    return f"{type(exc).__name__}: {scrub(text, every_query=True)}"


def storage_reason(
    exc: AzureError, where: str, *, doing: str, not_found: str, access_hint: str
) -> str:
    """Why a storage request failed, safe to log: ``not_found`` for a missing resource, the
    status and error code for what the service refused, the network error for what it never
    heard. ``doing``: ``listing``, ``receiving``, ...; ``where``: the resource, without a SAS."""
    if isinstance(exc, ResourceNotFoundError):
        return not_found
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)
    ):
        return (
            f"authentication failed or access denied ({where}): {service_reason(exc)}; "
            f"{access_hint}"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return f"{doing} failed ({where}): {service_reason(exc)}"
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return f"cannot reach the storage account ({where}): {network_reason(exc)}"
    reason = scrub(first_line(exc), every_query=True)
    return f"{doing} failed ({where}): {type(exc).__name__}: {reason}"
