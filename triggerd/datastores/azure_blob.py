"""The Azure Blob lister: one listing of the watched prefix (delimiter ``/``) per poll.

The watched folder is a container plus an optional prefix (``path_on_datastore``). Only blobs
directly under ``prefix/`` are listed; sub-folders come back from the service as ``BlobPrefix``
items and are skipped without being opened, so ``incoming/sub/a.csv`` never appears. Because the
listing asks for ``"incoming/"`` (with the slash), neither ``incomingX.csv`` nor
``incoming2/a.csv`` matches ``incoming``. The version of a blob is its ETag.

The listing is the request ``walk_blobs`` sends, through the same client and pipeline, read
from the response's XML without building the SDK's models (``blob_pages``): the client spends
about a tenth of the CPU ``walk_blobs`` does (bench/README.md, section 3).

Keys, SAS tokens and connection strings never reach a log line or an error message: reasons are
built from status codes and error codes, and any service text is scrubbed of query strings and
key-like fields first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient, ContainerClient, LinearRetry

from triggerd.config.models import AzureBlobDatastore
from triggerd.datastores.azure_common import (
    account_name,
    close_credential,
    connection_string,
    credential,
    storage_reason,
    without_query,
)
from triggerd.datastores.blob_pages import FolderPages
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.paths import normalise_path_on_datastore
from triggerd.datastores.snapshot import EXCLUDED, NOT_REGULAR, Entry, Ignored, Listing
from triggerd.errors import ListingError
from triggerd.redact import scrub

__all__ = ["AzureBlobLister", "account_name", "account_url_of", "container_client"]

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
        page_size: int | None = None,
    ) -> None:
        self.container = container
        self.path_on_datastore = normalise_path_on_datastore(path_on_datastore)
        self.file_filter = file_filter
        self._head = f"{self.path_on_datastore}/" if self.path_on_datastore else ""
        self._pages = FolderPages(container)
        self._page_size = page_size  # maxresults; None: the service's own (5,000)
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
            for page in self._pages(head or None, page_size=self._page_size):
                for prefix in page.prefixes:  # a sub-folder: never opened
                    folders.append(prefix.rstrip("/"))
                for blob in page.blobs:
                    key = blob.name
                    name = key[cut:]
                    if not name:  # a folder marker blob named "incoming/" (Storage Explorer, HNS)
                        continue
                    if accepts(name) is None:
                        left.append(key)
                        continue
                    listing[key] = Entry(blob.size, blob.etag.strip('"'))
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
            next(self._pages(self._head or None, page_size=1), None)
        except AzureError as exc:
            raise ListingError(self._reason(exc)) from None

    def _reason(self, exc: AzureError) -> str:
        where = self.description
        return storage_reason(
            exc,
            where,
            doing="listing",
            not_found=f"container {self.container.container_name!r} not found ({where})",
            access_hint="check the credential and that it may list the container",
        )

    def close(self) -> None:
        self._previous = None
        close_container(self.container)

    def __repr__(self) -> str:
        return f"AzureBlobLister({self.description!r}, {self.file_filter!r})"


def describe(container: ContainerClient, path_on_datastore: str | None) -> str:
    """``azure_blob https://acct.blob.core.windows.net/raw/incoming/`` — never with a SAS."""
    prefix = normalise_path_on_datastore(path_on_datastore)
    url = without_query(container.url)
    return f"azure_blob {url}/{prefix}/" if prefix else f"azure_blob {url}/"


def close_container(container: ContainerClient) -> None:
    """Close the client's connections and a token credential it holds (one we created)."""
    held = getattr(container, "credential", None)
    container.close()
    close_credential(held)


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
        with connection_string(datastore.connection_string_env) as secret:
            return ContainerClient.from_connection_string(secret, datastore.container, **options)
    assert datastore.account_url is not None  # the model requires one way in
    account_url = datastore.account_url
    way_in = credential(datastore.credential, account_url)
    try:
        return ContainerClient(account_url, datastore.container, credential=way_in, **options)
    except ValueError as exc:
        close = getattr(way_in, "close", None)
        if close is not None:
            close()
        reason = scrub(str(exc), every_query=True)
        raise ListingError(
            f"cannot use account_url {without_query(account_url)}: {reason}"
        ) from None


def account_url_of(datastore: AzureBlobDatastore) -> str:
    """The datastore's account (blob service) URL, as configured or as its connection string
    names it (the SDK reads the connection string; nothing is sent, no credential is used)."""
    if datastore.connection_string_env is None:
        assert datastore.account_url is not None  # the model requires one way in
        return datastore.account_url
    with (
        connection_string(datastore.connection_string_env) as secret,
        BlobServiceClient.from_connection_string(secret) as service,
    ):
        return str(service.primary_endpoint)
