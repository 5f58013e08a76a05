"""Blob events as Event Grid puts them on an Azure Storage queue: one message body -> events.

Event Grid's Storage queue handler writes each event as one queue message; the body is the event
JSON, in the Event Grid schema or the CloudEvents 1.0 schema (the subscription's delivery
schema). Microsoft's quickstart says the body is plain text, and subscriptions have been seen
writing it Base64-encoded (MicrosoftDocs/azure-docs#102923), the queue SDKs' default encoding:
both are accepted, as is a JSON array of events (what an Event Grid webhook batch looks like,
and what a hand-written forwarder may send).

Pure: nothing here touches the network. A body that is not an event at all raises
``MalformedMessage``; an event with fields missing that a decision needs raises it too, naming
the field (the message goes to the poison queue, where an operator can read it).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
CREATE_FILE = "CreateFile"  # ADLS Gen2: the zero-length create before FlushWithClose

_SUBJECT_HEAD = "blobServices/default/containers/"  # after the subject's leading "/"
_ACCOUNT_MARK = "/storageAccounts/"
MAX_BODY = 64 * 1024  # a queue message is at most 64 KiB


class MalformedMessage(ValueError):
    """The message is not a blob event this reader can decide on; says why (never the body)."""


@dataclass(frozen=True, slots=True)
class BlobEvent:
    """What a blob event says about one blob version."""

    event_type: str  # Microsoft.Storage.BlobCreated, ...
    container: str
    name: str  # the blob's name in its container (``incoming/a.csv``)
    account: str | None  # the storage account, from the topic (source); None when absent
    etag: str | None  # without quotes, as a listing's version
    size: int | None
    api: str | None  # PutBlob, PutBlockList, CopyBlob, FlushWithClose, CreateFile, ...
    event_time: datetime | None
    event_id: str | None

    @property
    def created(self) -> bool:
        return self.event_type == BLOB_CREATED

    @property
    def adls_create_file(self) -> bool:
        """The zero-length ``CreateFile`` an ADLS Gen2 account sends before the real write: never
        a committed file (the ``FlushWithClose`` that follows is)."""
        return self.api == CREATE_FILE and not self.size


def parse_message(content: str) -> list[BlobEvent]:
    """The events of one queue message body (plain JSON or Base64-encoded JSON)."""
    if len(content) > MAX_BODY * 2:
        raise MalformedMessage("the message is larger than a queue message can be")
    document = _json(content)
    items = document if isinstance(document, list) else [document]
    if not items:
        raise MalformedMessage("the message is an empty JSON array")
    return [_event(item) for item in items]


def _json(content: str) -> Any:
    text = content.strip()
    if not text.startswith(("{", "[")):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8").strip()
        except (binascii.Error, ValueError):
            raise MalformedMessage("the message is neither JSON nor Base64-encoded JSON") from None
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedMessage("the message is not valid JSON") from None


def _event(item: Any) -> BlobEvent:
    if not isinstance(item, dict):
        raise MalformedMessage("an event is not a JSON object")
    cloud = "specversion" in item
    event_type = item.get("type" if cloud else "eventType")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedMessage("the event has no " + ("type" if cloud else "eventType"))
    data = item.get("data")
    if not isinstance(data, dict):
        data = {}
    container, name = _blob(item.get("subject"), data.get("url"))
    return BlobEvent(
        event_type=event_type,
        container=container,
        name=name,
        account=_account(item.get("source" if cloud else "topic")),
        etag=_etag(data.get("eTag", data.get("etag"))),
        size=_size(data.get("contentLength")),
        api=data.get("api") if isinstance(data.get("api"), str) else None,
        event_time=_time(item.get("time" if cloud else "eventTime")),
        event_id=str(item["id"]) if isinstance(item.get("id"), str | int) else None,
    )


def _blob(subject: Any, url: Any) -> tuple[str, str]:
    """(container, blob name) from the subject, ``/blobServices/default/containers/C/blobs/N``
    (the name as it is, unencoded), else from the blob URL (percent-decoded)."""
    # Microsoft's CloudEvents sample writes the subject without its leading "/".
    bare = subject.lstrip("/") if isinstance(subject, str) else ""
    if bare.startswith(_SUBJECT_HEAD):
        container, marker, name = bare[len(_SUBJECT_HEAD) :].partition("/blobs/")
        if container and marker and name:
            return container, name
    if isinstance(url, str):
        path = urlsplit(url).path.lstrip("/")
        container, _, name = path.partition("/")
        if container and name:
            return unquote(container), unquote(name)
    raise MalformedMessage("the event names no blob (no subject and no data.url)")


def _account(topic: Any) -> str | None:
    if not isinstance(topic, str) or _ACCOUNT_MARK not in topic:
        return None
    account = topic.rsplit(_ACCOUNT_MARK, 1)[1].split("/", 1)[0]
    return account.lower() or None


def _etag(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip().strip('"') or None


def _size(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _time(value: Any) -> datetime | None:
    """``2017-06-26T18:41:00.9584103Z`` (seven fractional digits) as an aware datetime."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most six fractional digits
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[: min(digits, 6)] + rest[digits:]
        text = f"{head}.{rest}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
