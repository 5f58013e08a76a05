"""The test plays Event Grid: for a real blob, the message Event Grid would put on the queue.

Nothing in a message is invented that a real blob can tell: the ETag, the content length and
type, the blob type and the URL come from ``get_blob_properties()`` of the blob just uploaded, so
a wrong field in triggerd's reading shows up as a wrong (or missing) run, not as a test that
agrees with itself. Only what Event Grid itself makes up is made up here: the event and request
ids, the sequencer and the subscription of the topic.

The shapes follow Microsoft's "Azure Blob Storage as an Event Grid source"
(https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage) for the Event Grid
schema (``topic``, ``subject``, ``eventType``, ``eventTime``, ``id``, ``data``, ``dataVersion``,
``metadataVersion``) and "CloudEvents v1.0 schema with Azure Event Grid"
(https://learn.microsoft.com/azure/event-grid/cloud-event-schema) for CloudEvents (``specversion``,
``type``, ``source``, ``subject``, ``time``, ``id``, ``data``). ``data`` carries ``api``,
``clientRequestId``, ``requestId``, ``eTag``, ``contentType``, ``contentLength``, ``blobType``,
``url``, ``sequencer`` and ``storageDiagnostics``; a ``BlobDeleted`` event has no ``eTag`` nor
``contentLength``. ADLS Gen2 events (``CreateFile``, ``FlushWithClose``) add ``contentOffset``.
"""

from __future__ import annotations

import base64 as b64
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobProperties, ContainerClient
from azure.storage.queue import QueueClient

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
# A made-up subscription: Event Grid names the storage account's full resource id as the topic.
SUBSCRIPTION = "00000000-0000-4000-8000-0000000000e9"
ADLS_APIS = ("CreateFile", "FlushWithClose")

Schema = Literal["eventgrid", "cloudevents"]

# Event Grid's sequencer orders the events of one blob name by plain string comparison.
_sequence = itertools.count(1)


def topic(account: str) -> str:
    """The storage account's resource id, Event Grid's ``topic`` (CloudEvents' ``source``)."""
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/"
        f"Microsoft.Storage/storageAccounts/{account}"
    )


def subject(container: str, name: str) -> str:
    return f"/blobServices/default/containers/{container}/blobs/{name}"


def event_time_text(when: datetime) -> str:
    """``2017-06-26T18:41:00.9584103Z``: Event Grid writes seven fractional digits."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def blob_created(
    container: ContainerClient,
    name: str,
    *,
    schema: Schema = "eventgrid",
    api: str = "PutBlob",
    event_time: datetime | None = None,
    account: str | None = None,
    quoted_etag: bool = False,
) -> dict[str, Any]:
    """The ``BlobCreated`` event for the blob as it is now (read from the service).

    ``account`` overrides the topic's storage account (an event from another account on a shared
    queue). ``quoted_etag`` writes the ETag as an HTTP header has it (``"0x8D..."``, quotes
    included), as one of Microsoft's samples does; real events carry it bare.
    """
    properties = container.get_blob_client(name).get_blob_properties()
    etag = properties.etag if quoted_etag else properties.etag.strip('"')
    data: dict[str, Any] = {
        "api": api,
        **_request_ids(),
        "eTag": etag,
        "contentType": _content_type(properties),
        "contentLength": properties.size,
    }
    if api in ADLS_APIS:
        data["contentOffset"] = 0
    data |= _tail(container, name, properties)
    return _envelope(
        BLOB_CREATED, container, name, data, schema=schema, when=event_time, account=account
    )


def blob_deleted(
    container: ContainerClient,
    name: str,
    *,
    schema: Schema = "eventgrid",
    api: str = "DeleteBlob",
    event_time: datetime | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    """The ``BlobDeleted`` event for ``name``: call it before deleting the blob to carry its real
    content and blob type (after, the blob is gone and they are Event Grid's defaults)."""
    try:
        properties: BlobProperties | None = container.get_blob_client(name).get_blob_properties()
    except ResourceNotFoundError:
        properties = None
    data: dict[str, Any] = {
        "api": api,
        **_request_ids(),
        "contentType": _content_type(properties),
    }
    data |= _tail(container, name, properties)
    return _envelope(
        BLOB_DELETED, container, name, data, schema=schema, when=event_time, account=account
    )


def encode(event: dict[str, Any] | list[dict[str, Any]], *, base64: bool = True) -> str:
    """The queue message body: the event JSON, Base64-encoded (the queue SDKs' default message
    encoding) or as it is."""
    text = json.dumps(event, separators=(",", ":"))
    return b64.b64encode(text.encode("utf-8")).decode("ascii") if base64 else text


def send(
    queue: QueueClient, event: dict[str, Any] | list[dict[str, Any]], *, base64: bool = True
) -> str:
    """Put the event on the queue as Event Grid's Storage queue handler does; its message id."""
    return str(queue.send_message(encode(event, base64=base64)).id)


def _request_ids() -> dict[str, str]:
    request = uuid.uuid4()
    return {"clientRequestId": str(uuid.uuid4()), "requestId": f"{str(request)[:-6]}000000"}


def _content_type(properties: BlobProperties | None) -> str:
    settings = properties.content_settings if properties is not None else None
    return (settings.content_type if settings else None) or "application/octet-stream"


def _tail(
    container: ContainerClient, name: str, properties: BlobProperties | None
) -> dict[str, Any]:
    blob_type = properties.blob_type if properties is not None else None
    type_name = getattr(blob_type, "value", blob_type) or "BlockBlob"
    return {
        "blobType": str(type_name),
        "url": container.get_blob_client(name).url,
        "sequencer": f"{0:016X}{next(_sequence):016X}",
        "storageDiagnostics": {"batchId": str(uuid.uuid4())},
    }


def _envelope(
    event_type: str,
    container: ContainerClient,
    name: str,
    data: dict[str, Any],
    *,
    schema: Schema,
    when: datetime | None,
    account: str | None,
) -> dict[str, Any]:
    source = topic(account or str(container.account_name))
    about = subject(container.container_name, name)
    time = event_time_text(when or datetime.now(UTC))
    event_id = str(uuid.uuid4())
    if schema == "cloudevents":
        return {
            "specversion": "1.0",
            "type": event_type,
            "source": source,
            "id": event_id,
            "time": time,
            "subject": about,
            "data": data,
        }
    return {
        "topic": source,
        "subject": about,
        "eventType": event_type,
        "eventTime": time,
        "id": event_id,
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }
