"""The Azure Storage queue Event Grid fills with a container's blob events (azure-storage-queue).

``receive`` takes up to a batch of messages and hides them for the visibility timeout; a
message is ``delete``d only once the decision it led to is committed, so a crash in between
makes it visible again (at-least-once in; the fire key makes it exactly-once out). ``poison``
moves a message to ``<queue>-poison`` (created when missing), as Azure Functions does with a
message dequeued too often. Message bodies are read as text, as they are: Base64 or plain JSON
is for ``blob_events.parse_message`` to tell.

Errors are ``QueueError`` with a reason safe to log (status and error code, or the network
error), never a key, a SAS or a connection string.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.queue import LinearRetry, QueueClient

from triggerd.config.blob_events import BlobEvents
from triggerd.config.models import AzureBlobDatastore
from triggerd.datastores.azure_common import (
    close_credential,
    connection_string,
    credential,
    is_emulator_host,
    storage_reason,
    without_query,
)
from triggerd.errors import QueueError
from triggerd.redact import scrub

# The feed retries with its own backoff (and a queue read must not hold a batch for long), so
# the SDK's retries stay short: 2 retries, ~1 s apart.
CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 30}


POP_RECEIPT_MISMATCH = "PopReceiptMismatch"  # 400: the message was received again since


def _error_code(exc: HttpResponseError) -> str | None:
    code = getattr(exc, "error_code", None)
    return None if code is None else str(getattr(code, "value", code))


def _retry_policy() -> LinearRetry:
    return LinearRetry(backoff=1, random_jitter_range=1, retry_total=2)


@dataclass(frozen=True, slots=True)
class Received:
    """A message taken from the queue (hidden from others until its visibility timeout)."""

    id: str
    pop_receipt: str
    dequeue_count: int
    inserted_on: datetime | None
    content: str


class EventQueue:
    def __init__(self, client: QueueClient, poison: QueueClient) -> None:
        self.client = client
        self.poison_client = poison
        self.name = client.queue_name
        self.description = f"queue {without_query(client.url)}"

    @classmethod
    def for_datastore(
        cls, datastore: AzureBlobDatastore, *, timeout: float | None = None
    ) -> EventQueue:
        """The queue of the datastore's ``events:``, on its own account unless it names one.
        With ``timeout`` (seconds): that long per connection and read, no retries (a check)."""
        events = datastore.events
        assert events is not None
        return cls(
            _client(datastore, events, events.queue, timeout),
            _client(datastore, events, events.poison_queue, timeout),
        )

    def receive(self, max_messages: int, visibility_timeout: timedelta) -> list[Received]:
        """Up to ``max_messages`` visible messages, hidden for ``visibility_timeout``."""
        try:
            pages = self.client.receive_messages(
                messages_per_page=max_messages,
                max_messages=max_messages,
                visibility_timeout=max(1, round(visibility_timeout.total_seconds())),
            )
            return [
                Received(
                    id=str(m.id),
                    pop_receipt=str(m.pop_receipt),
                    dequeue_count=int(m.dequeue_count or 0),
                    inserted_on=m.inserted_on,
                    content=m.content if isinstance(m.content, str) else str(m.content or ""),
                )
                for m in pages
            ]
        except AzureError as exc:
            raise QueueError(self._reason(exc, "receiving")) from None

    def delete(self, message: Received) -> None:
        """Delete a message; one already gone (deleted by another, or its pop receipt stale
        because it became visible and was taken again) is no error: its fire key was recorded."""
        try:
            self.client.delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            return
        except HttpResponseError as exc:
            if _error_code(exc) == POP_RECEIPT_MISMATCH:
                return  # visible again and taken by another since: that delivery decides it
            raise QueueError(self._reason(exc, "deleting a message")) from None
        except AzureError as exc:
            raise QueueError(self._reason(exc, "deleting a message")) from None

    def poison(self, message: Received) -> None:
        """Copy the message to ``<queue>-poison`` (created if missing), then delete it here."""
        try:
            try:
                self.poison_client.send_message(message.content)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):  # created meanwhile by another
                    self.poison_client.create_queue()
                self.poison_client.send_message(message.content)
        except AzureError as exc:
            raise QueueError(self._reason(exc, "moving a message to the poison queue")) from None
        self.delete(message)

    def probe(self) -> None:
        """One request: the queue exists and may be read (``validate --strict``)."""
        try:
            self.client.peek_messages(max_messages=1)
        except AzureError as exc:
            raise QueueError(self._reason(exc, "reading")) from None

    def close(self) -> None:
        for client in (self.client, self.poison_client):
            held = getattr(client, "credential", None)
            client.close()
            close_credential(held)

    def _reason(self, exc: AzureError, doing: str) -> str:
        where = self.description
        return storage_reason(
            exc,
            where,
            doing=doing,
            not_found=f"{where} not found: create it, or fix events.queue",
            access_hint=f"check the credential and its role on the queue ({doing})",
        )

    def __repr__(self) -> str:
        return f"EventQueue({self.description!r})"


@dataclass(frozen=True, slots=True)
class WayIn:
    """How the queue's account is reached: ``events``' own connection string or account URL,
    else the datastore's (its blob account URL read as the queue's, its credential)."""

    variable: str | None  # the environment variable holding a connection string
    account_url: str | None  # else this URL (a blob account URL when ``from_blob``)
    credential: Any = None
    from_blob: bool = False

    @classmethod
    def of(cls, datastore: AzureBlobDatastore) -> WayIn:
        events = datastore.events
        assert events is not None
        if events.connection_string_env is not None:
            return cls(events.connection_string_env, None)
        if events.account_url is not None:
            return cls(None, events.account_url, events.credential)
        if datastore.connection_string_env is not None:
            return cls(datastore.connection_string_env, None)
        return cls(None, datastore.account_url, datastore.credential, from_blob=True)

    def queue_account_url(self) -> str:
        """The queue service URL (QueueError when a blob URL cannot tell it)."""
        assert self.account_url is not None  # the model requires one way in
        return queue_url_of(self.account_url) if self.from_blob else self.account_url

    @property
    def label(self) -> str:
        """``env:LANDING_CONN`` or the account URL, as the config writes it."""
        return f"env:{self.variable}" if self.variable else str(self.account_url).rstrip("/")


def _client(
    datastore: AzureBlobDatastore, events: BlobEvents, name: str, timeout: float | None
) -> QueueClient:
    options = {**CLIENT_OPTIONS, "retry_policy": _retry_policy()}
    if timeout is not None:
        retry = LinearRetry(backoff=0, random_jitter_range=0, retry_total=0)
        options.update(connection_timeout=timeout, read_timeout=timeout, retry_policy=retry)
    way = WayIn.of(datastore)
    if way.variable is not None:
        with connection_string(way.variable, error=QueueError) as secret:
            return QueueClient.from_connection_string(secret, name, **options)
    account_url = way.queue_account_url()
    held = credential(way.credential, account_url, error=QueueError)
    try:
        return QueueClient(account_url, name, credential=held, **options)
    except ValueError as exc:
        close_credential(held)
        reason = scrub(str(exc), every_query=True)
        raise QueueError(
            f"cannot use the queue account {without_query(account_url)}: {reason}"
        ) from None


def queue_address(datastore: AzureBlobDatastore) -> str | None:
    """The URL of the datastore's event queue, told offline (no request, no credential made);
    None when it cannot be (a secret missing: the feed says why when it starts)."""
    events = datastore.events
    assert events is not None
    way = WayIn.of(datastore)
    try:
        if way.variable is not None:
            with (
                connection_string(way.variable, error=QueueError) as secret,
                QueueClient.from_connection_string(secret, events.queue) as client,
            ):
                return without_query(client.url)
        return f"{without_query(way.queue_account_url()).rstrip('/')}/{events.queue}"
    except (QueueError, ValueError):
        return None


def queue_url_of(blob_account_url: str) -> str:
    """``https://acct.blob.core.windows.net`` -> ``https://acct.queue.core.windows.net``."""
    parts = urlsplit(blob_account_url)
    host = parts.hostname or ""
    labels = host.split(".")
    if is_emulator_host(host) or "blob" not in labels[1:2]:
        raise QueueError(
            f"cannot tell the queue endpoint from account_url {without_query(blob_account_url)}: "
            "give events.account_url (the account's queue service URL)"
        )
    labels[1] = "queue"
    netloc = ".".join(labels) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
