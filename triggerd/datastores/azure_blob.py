"""The Azure Blob lister: one ``walk_blobs(delimiter="/")`` of the watched prefix per poll.

The watched folder is a container plus an optional prefix (``path_on_datastore``). Only blobs
directly under ``prefix/`` are listed; sub-folders come back from the service as ``BlobPrefix``
items and are skipped without being opened, so ``incoming/sub/a.csv`` never appears. Because the
listing asks for ``"incoming/"`` (with the slash), neither ``incomingX.csv`` nor
``incoming2/a.csv`` matches ``incoming``. The version of a blob is its ETag.

Keys, SAS tokens and connection strings never reach a log line or an error message: reasons are
built from status codes and error codes, and any service text is scrubbed of query strings and
key-like fields first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
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
from azure.storage.blob import BlobPrefix, BlobServiceClient, ContainerClient, LinearRetry

from triggerd.config.base import SecretSource
from triggerd.config.models import AccountKeyCredential, AzureBlobDatastore, SasTokenCredential
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.snapshot import EXCLUDED, NOT_REGULAR, Entry, Ignored, Listing
from triggerd.errors import ListingError
from triggerd.redact import scrub, without_userinfo

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# A poll runs again at its next interval and the scheduler backs off on failure, so the SDK's
# own retries stay short: 2 retries, ~2 s apart (the SDK default: 3 retries, ~15 s apart), and
# an unreachable account fails a poll in about 5 s.
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 10,
    "read_timeout": 60,
}


def _retry_policy() -> LinearRetry:
    return LinearRetry(backoff=2, random_jitter_range=1, retry_total=2)


class AzureBlobLister:
    """Lists the blobs directly under ``path_on_datastore/`` in one container."""

    def __init__(
        self,
        container: ContainerClient,
        path_on_datastore: str | None,
        file_filter: FileFilter,
        *,
        description: str | None = None,
    ) -> None:
        self.container = container
        self.path_on_datastore = normalise_path_on_datastore(path_on_datastore)
        self.file_filter = file_filter
        self._head = f"{self.path_on_datastore}/" if self.path_on_datastore else ""
        self.description = description or describe(container, self.path_on_datastore)
        self._previous: Listing | None = None
        self.unreadable: dict[str, str] = {}  # a listing reads every blob it returns
        self.ignored: dict[str, Ignored] = {}  # blobs and sub-folders the last listing left out

    def list_if_changed(self) -> Listing | None:
        """The listing, or None when it and what it left out equal the previous ones (compared
        in C)."""
        previous, ignored = self._previous, self.ignored
        listing = self.list()
        return None if listing == previous and self.ignored == ignored else listing

    def list(self) -> Listing:
        head = self._head
        cut = len(head)
        accepts = self.file_filter.match
        listing: dict[str, Entry] = {}
        left: list[str] = []  # blobs the filter refuses
        folders: list[str] = []
        try:
            for item in self.container.walk_blobs(name_starts_with=head or None, delimiter="/"):
                if isinstance(item, BlobPrefix):  # a sub-folder: never opened
                    folders.append(item.name.rstrip("/"))
                    continue
                key: str = item.name
                name = key[cut:]
                if not name:  # a folder marker blob named "incoming/" (Storage Explorer, HNS)
                    continue
                if accepts(name) is None:
                    left.append(key)
                    continue
                listing[key] = Entry(item.size, item.etag.strip('"'))
        except AzureError as exc:
            self._previous = None
            raise ListingError(self._reason(exc)) from None
        self._previous = listing
        self.ignored = self._left_out(left, folders)
        return listing

    def _left_out(self, left: Sequence[str], folders: Sequence[str]) -> dict[str, Ignored]:
        """Why each blob or sub-folder left out is (a pattern as the last listing found it)."""
        cut, before = len(self._head), self.ignored
        found = {key: Ignored(NOT_REGULAR, "directory") for key in folders}
        for key in left:
            known = before.get(key)
            if known is None or known.reason != EXCLUDED:
                known = Ignored(EXCLUDED, self.file_filter.refusal(key[cut:]))
            found[key] = known
        return found

    def probe(self) -> None:
        """One request: at most one blob under the prefix. Raises ListingError, with the reason
        a poll would give, when the container cannot be listed (``validate --strict``)."""
        try:
            items = self.container.walk_blobs(
                name_starts_with=self._head or None, delimiter="/", results_per_page=1
            )
            next(iter(items), None)
        except AzureError as exc:
            raise ListingError(self._reason(exc)) from None

    def _reason(self, exc: AzureError) -> str:
        where = self.description
        if isinstance(exc, ResourceNotFoundError):
            return f"container {self.container.container_name!r} not found ({where})"
        if isinstance(exc, ClientAuthenticationError) or (
            isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)
        ):
            return (
                f"authentication failed or access denied ({where}): {_service_reason(exc)}; "
                "check the credential and that it may list the container"
            )
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            return f"listing failed ({where}): {_service_reason(exc)}"
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return f"cannot reach the storage account ({where}): {_network_reason(exc)}"
        reason = scrub(_first_line(exc), every_query=True)
        return f"listing failed ({where}): {type(exc).__name__}: {reason}"

    def close(self) -> None:
        self._previous = None
        close_container(self.container)

    def __repr__(self) -> str:
        return f"AzureBlobLister({self.description!r}, {self.file_filter!r})"


def describe(container: ContainerClient, path_on_datastore: str | None) -> str:
    """``azure_blob https://acct.blob.core.windows.net/raw/incoming/`` — never with a SAS."""
    prefix = normalise_path_on_datastore(path_on_datastore)
    url = _without_query(container.url)
    return f"azure_blob {url}/{prefix}/" if prefix else f"azure_blob {url}/"


def close_container(container: ContainerClient) -> None:
    """Close the client's connections and a token credential it holds (one we created)."""
    credential = getattr(container, "credential", None)
    container.close()
    close = getattr(credential, "close", None)
    if close is not None and hasattr(credential, "get_token"):
        close()


# --- clients --------------------------------------------------------------------------------


def container_client(
    datastore: AzureBlobDatastore, *, timeout: float | None = None
) -> ContainerClient:
    """A client for the datastore's container. Raises ListingError if a secret is missing.

    Reads secrets only from the environment variable or file named in the config; the error for
    a missing one names the variable or file, never a value. With ``timeout`` (seconds): that
    long for a connection and for each read, and no retries (a check, not a poll).
    """
    options = {**CLIENT_OPTIONS, "retry_policy": _retry_policy()}
    if timeout is not None:
        retry = LinearRetry(backoff=0, random_jitter_range=0, retry_total=0)
        options.update(connection_timeout=timeout, read_timeout=timeout, retry_policy=retry)
    if datastore.connection_string_env is not None:
        with _connection_string(datastore.connection_string_env) as connection_string:
            return ContainerClient.from_connection_string(
                connection_string, datastore.container, **options
            )
    assert datastore.account_url is not None  # the model requires one way in
    account_url = datastore.account_url
    credential = _credential(datastore.credential, account_url)
    try:
        return ContainerClient(account_url, datastore.container, credential=credential, **options)
    except ValueError as exc:
        close = getattr(credential, "close", None)
        if close is not None:
            close()
        reason = scrub(str(exc), every_query=True)
        raise ListingError(
            f"cannot use account_url {_without_query(account_url)}: {reason}"
        ) from None


def account_url_of(datastore: AzureBlobDatastore) -> str:
    """The datastore's account (blob service) URL, as configured or as its connection string
    names it (the SDK reads the connection string; nothing is sent, no credential is used)."""
    if datastore.connection_string_env is None:
        assert datastore.account_url is not None  # the model requires one way in
        return datastore.account_url
    with (
        _connection_string(datastore.connection_string_env) as connection_string,
        BlobServiceClient.from_connection_string(connection_string) as service,
    ):
        return str(service.primary_endpoint)


@contextlib.contextmanager
def _connection_string(variable: str) -> Iterator[str]:
    """The connection string in ``variable``; ListingError (naming the variable, never the
    value) when it is missing, or when what is done with it finds it malformed."""
    connection_string = os.environ.get(variable, "").strip()
    if not connection_string:
        raise ListingError(
            f"environment variable {variable} (connection_string_env of the datastore) "
            "is not set or empty"
        )
    try:
        yield connection_string
    except ValueError:
        raise ListingError(
            f"the connection string in environment variable {variable} is malformed"
        ) from None


def _credential(
    config: Any, account_url: str
) -> AzureNamedKeyCredential | AzureSasCredential | TokenCredential:
    if isinstance(config, SasTokenCredential):
        return AzureSasCredential(_read_secret(config, "SAS token").lstrip("?"))
    if isinstance(config, AccountKeyCredential):
        key = _read_secret(config, "account key")
        return AzureNamedKeyCredential(account_name(account_url), key)
    # None or {kind: default}: managed identity, environment, Azure CLI login...
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _read_secret(source: SecretSource, what: str) -> str:
    if source.env is not None:
        value = os.environ.get(source.env, "").strip()
        if not value:
            raise ListingError(f"environment variable {source.env} ({what}) is not set or empty")
        return value
    assert source.file is not None  # the model requires exactly one source
    path = Path(source.file)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ListingError(
            f"cannot read the {what} file {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if not value:
        raise ListingError(f"the {what} file {path} is empty")
    return value


def account_name(account_url: str) -> str:
    """The storage account of an account URL.

    ``https://acct.blob.core.windows.net`` -> ``acct``; an emulator URL with an IP address or
    ``localhost`` host (``http://127.0.0.1:10000/devstoreaccount1``) -> the first path segment.
    """
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if host == "localhost" or _is_ip(host):
        segment = parts.path.strip("/").split("/", 1)[0]
        if segment:
            return segment
    name = host.split(".", 1)[0]
    if not name:
        raise ListingError(
            f"cannot tell the storage account from account_url {_without_query(account_url)}"
        )
    return name


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- safe reasons ---------------------------------------------------------------------------

_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\"\)]*")


def _without_query(url: str) -> str:
    """A blob or account URL without its query string (a SAS) or user info."""
    return without_userinfo(url.split("?", 1)[0])


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip().split("\n", 1)[0][:300]


def _service_reason(exc: HttpResponseError) -> str:
    """``403 AuthenticationFailed``: status and error code, never the service's free text."""
    error_code = getattr(exc, "error_code", None)  # set by azure-storage-blob
    if exc.status_code is not None and error_code:
        return f"{exc.status_code} {error_code}"
    status = f"{exc.status_code} " if exc.status_code is not None else ""
    return f"{status}{scrub(_first_line(exc), every_query=True)}"


def _network_reason(exc: AzureError) -> str:
    """``[Errno 111] Connection refused`` or ``timed out``, not the request URL."""
    text = _first_line(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip()
    if "timed out" in text.lower():
        return "timed out"
    return f"{type(exc).__name__}: {scrub(text, every_query=True)}"
