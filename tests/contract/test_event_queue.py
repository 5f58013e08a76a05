"""The event queue contract, against Azurite's queue service: what the event feed relies on.

A received message is hidden, not gone: it comes back after the visibility timeout with one more
delivery counted, so a crash between a fire and its acknowledgement only delays (the fire key
makes the second delivery a no-op). ``delete`` is the acknowledgement and tolerates a message
already gone; ``poison`` keeps the content for an operator on ``<queue>-poison``. Errors carry a
reason that names the queue and never the account key.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from tests.support import eventgrid
from tests.support.azurite import AzuriteServer
from triggerd.config.models import AzureBlobDatastore
from triggerd.datastores.blob_events import parse_message
from triggerd.datastores.event_queue import EventQueue, Received
from triggerd.errors import QueueError

CONNECTION_ENV = "TRIGGERD_TEST_QUEUE_CONNECTION"
KEY_ENV = "TRIGGERD_TEST_QUEUE_KEY"
HIDDEN = timedelta(seconds=30)  # long enough that a message never reappears within a test
BRIEF = timedelta(seconds=1)  # the shortest visibility timeout Azure allows

_queues = itertools.count()


@pytest.fixture
def queue_name() -> str:
    return f"q{next(_queues)}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def raw_queue(azurite_queues: AzuriteServer, queue_name: str) -> Iterator[QueueClient]:
    """The queue as Event Grid sees it (created, empty); deleted with its poison queue after."""
    client = QueueClient.from_connection_string(azurite_queues.connection_string, queue_name)
    client.create_queue()
    yield client
    for name in (queue_name, f"{queue_name}-poison"):
        other = QueueClient.from_connection_string(azurite_queues.connection_string, name)
        with contextlib.suppress(ResourceNotFoundError):
            other.delete_queue()
        other.close()
    client.close()


def _datastore(queue: str, **events: Any) -> AzureBlobDatastore:
    return AzureBlobDatastore.model_validate(
        {
            "kind": "azure_blob",
            "container": "landing",
            "connection_string_env": CONNECTION_ENV,
            "events": {"queue": queue, **events},
        }
    )


@pytest.fixture
def event_queue(
    azurite_queues: AzuriteServer,
    raw_queue: QueueClient,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[EventQueue]:
    monkeypatch.setenv(CONNECTION_ENV, azurite_queues.connection_string)
    queue = EventQueue.for_datastore(_datastore(queue_name))
    yield queue
    queue.close()


def _receive_within(
    queue: EventQueue, seconds: float, visibility: timedelta = HIDDEN
) -> list[Received]:
    """Receive until something comes (bounded): a message hidden for a while reappears."""
    deadline = time.monotonic() + seconds
    while True:
        got = queue.receive(32, visibility)
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


def _count(client: QueueClient) -> int:
    """Messages on the queue, hidden ones included (what a receive cannot tell from gone)."""
    return int(client.get_queue_properties().approximate_message_count or 0)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- receive ----------------------------------------------------------------------------------


def test_an_empty_queue_receives_nothing(event_queue: EventQueue) -> None:
    assert event_queue.receive(32, HIDDEN) == []


def test_receive_returns_the_message_as_sent_with_its_first_delivery(
    event_queue: EventQueue, raw_queue: QueueClient
) -> None:
    before = datetime.now(UTC)
    sent = raw_queue.send_message("hello")

    [message] = event_queue.receive(32, HIDDEN)

    assert message.id == sent.id
    assert message.content == "hello"
    assert message.dequeue_count == 1
    assert message.pop_receipt
    assert message.inserted_on is not None and message.inserted_on.tzinfo is not None
    # Azurite keeps whole seconds: the insertion time is this test's, to the second.
    assert before - timedelta(seconds=2) <= message.inserted_on <= datetime.now(UTC)


@pytest.mark.parametrize("base64", [True, False], ids=["base64", "plain-json"])
@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_an_event_grid_body_arrives_unchanged_and_parses_to_the_blob(
    event_queue: EventQueue,
    raw_queue: QueueClient,
    azurite_queues: AzuriteServer,
    base64: bool,
    schema: eventgrid.Schema,
) -> None:
    with ContainerClient.from_connection_string(
        azurite_queues.connection_string, f"c{uuid.uuid4().hex[:12]}"
    ) as container:
        container.create_container()
        # Characters XML would escape: the body must come back byte for byte.
        container.upload_blob("incoming/a&b <1>.csv", b"a,b\n")
        etag = container.get_blob_client("incoming/a&b <1>.csv").get_blob_properties().etag
        event = eventgrid.blob_created(container, "incoming/a&b <1>.csv", schema=schema)
        container.delete_container()
    body = eventgrid.encode(event, base64=base64)
    eventgrid.send(raw_queue, event, base64=base64)

    [message] = event_queue.receive(32, HIDDEN)

    assert message.content == body
    [parsed] = parse_message(message.content)
    assert (parsed.container, parsed.name) == (container.container_name, "incoming/a&b <1>.csv")
    assert parsed.etag == etag.strip('"')
    assert parsed.size == 4


def test_receive_takes_at_most_the_batch_and_hides_what_it_took(
    event_queue: EventQueue, raw_queue: QueueClient
) -> None:
    for i in range(40):
        raw_queue.send_message(f"m{i}")

    first = event_queue.receive(32, HIDDEN)
    second = event_queue.receive(32, HIDDEN)

    assert len(first) == 32
    assert len(second) == 8
    assert {m.content for m in first + second} == {f"m{i}" for i in range(40)}
    assert event_queue.receive(32, HIDDEN) == []


def test_a_message_not_deleted_comes_back_after_the_visibility_timeout(
    event_queue: EventQueue, raw_queue: QueueClient
) -> None:
    raw_queue.send_message("crash before the acknowledgement")
    [first] = event_queue.receive(32, BRIEF)

    [again] = _receive_within(event_queue, 15)

    assert again.id == first.id
    assert again.content == first.content
    assert again.dequeue_count == 2
    assert again.pop_receipt != first.pop_receipt


# --- delete -----------------------------------------------------------------------------------


def test_delete_removes_the_message(event_queue: EventQueue, raw_queue: QueueClient) -> None:
    raw_queue.send_message("done")
    [message] = event_queue.receive(32, HIDDEN)

    event_queue.delete(message)

    assert _count(raw_queue) == 0


def test_deleting_a_message_already_gone_is_no_error(
    event_queue: EventQueue, raw_queue: QueueClient
) -> None:
    raw_queue.send_message("deleted by another replica")
    [message] = event_queue.receive(32, HIDDEN)
    raw_queue.delete_message(message.id, message.pop_receipt)

    event_queue.delete(message)

    assert _count(raw_queue) == 0


def test_deleting_with_a_stale_pop_receipt_is_no_error_and_keeps_the_new_delivery(
    event_queue: EventQueue, raw_queue: QueueClient
) -> None:
    """A batch slower than the visibility timeout: another consumer took the message again. Its
    fire key is recorded; the stale delete must not fail the batch (the other one acknowledges)."""
    raw_queue.send_message("taken twice")
    [stale] = event_queue.receive(32, BRIEF)
    [fresh] = _receive_within(event_queue, 15)

    event_queue.delete(stale)

    assert _count(raw_queue) == 1
    event_queue.delete(fresh)
    assert _count(raw_queue) == 0


# --- poison -----------------------------------------------------------------------------------


def test_poison_moves_the_content_to_a_poison_queue_it_creates(
    event_queue: EventQueue,
    raw_queue: QueueClient,
    azurite_queues: AzuriteServer,
    queue_name: str,
) -> None:
    body = eventgrid.encode({"not": "an event"})
    raw_queue.send_message(body)
    [message] = event_queue.receive(32, HIDDEN)

    event_queue.poison(message)

    assert _count(raw_queue) == 0
    with QueueClient.from_connection_string(
        azurite_queues.connection_string, f"{queue_name}-poison"
    ) as poison:
        assert [m.content for m in poison.peek_messages(max_messages=32)] == [body]


def test_poison_reuses_an_existing_poison_queue(
    event_queue: EventQueue,
    raw_queue: QueueClient,
    azurite_queues: AzuriteServer,
    queue_name: str,
) -> None:
    for body in ("first", "second"):
        raw_queue.send_message(body)
    for message in event_queue.receive(32, HIDDEN):
        event_queue.poison(message)

    assert _count(raw_queue) == 0
    with QueueClient.from_connection_string(
        azurite_queues.connection_string, f"{queue_name}-poison"
    ) as poison:
        contents = [m.content for m in poison.peek_messages(max_messages=32)]
    assert sorted(contents) == ["first", "second"]


# --- the way in, and errors -------------------------------------------------------------------


def test_the_description_names_the_queue_and_no_secret(
    event_queue: EventQueue, azurite_queues: AzuriteServer, queue_name: str
) -> None:
    assert event_queue.description == f"queue {azurite_queues.queue_url}/{queue_name}"
    assert azurite_queues.account_key not in event_queue.description
    assert azurite_queues.account_key not in repr(event_queue)


def test_probe_passes_on_a_readable_queue(event_queue: EventQueue) -> None:
    event_queue.probe()


def test_a_queue_on_another_account_by_its_own_connection_string(
    azurite_queues: AzuriteServer,
    raw_queue: QueueClient,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONNECTION_ENV, "not used for the queue")
    monkeypatch.setenv("TRIGGERD_TEST_OTHER_QUEUE", azurite_queues.connection_string)
    raw_queue.send_message("via events.connection_string_env")
    queue = EventQueue.for_datastore(
        _datastore(queue_name, connection_string_env="TRIGGERD_TEST_OTHER_QUEUE")
    )
    try:
        assert [m.content for m in queue.receive(32, HIDDEN)] == [
            "via events.connection_string_env"
        ]
    finally:
        queue.close()


def test_a_queue_by_account_url_and_account_key(
    azurite_queues: AzuriteServer,
    raw_queue: QueueClient,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONNECTION_ENV, azurite_queues.connection_string)
    monkeypatch.setenv(KEY_ENV, azurite_queues.account_key)
    raw_queue.send_message("via events.account_url")
    datastore = _datastore(
        queue_name,
        account_url=azurite_queues.queue_url,
        credential={"kind": "account_key", "env": KEY_ENV},
    )
    queue = EventQueue.for_datastore(datastore)
    try:
        assert [m.content for m in queue.receive(32, HIDDEN)] == ["via events.account_url"]
    finally:
        queue.close()


def test_an_emulator_account_url_needs_the_queue_url_given(azurite_queues: AzuriteServer) -> None:
    datastore = AzureBlobDatastore.model_validate(
        {
            "kind": "azure_blob",
            "container": "landing",
            "account_url": azurite_queues.account_url,
            "credential": {"kind": "account_key", "env": KEY_ENV},
            "events": {"queue": "landing-events"},
        }
    )

    with pytest.raises(QueueError, match=r"events\.account_url"):
        EventQueue.for_datastore(datastore)


def test_a_missing_connection_string_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONNECTION_ENV, raising=False)

    with pytest.raises(QueueError, match=CONNECTION_ENV):
        EventQueue.for_datastore(_datastore("landing-events"))


def test_an_unreachable_queue_is_a_queue_error_without_the_key(
    azurite_queues: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert azurite_queues.queue_port is not None
    closed = azurite_queues.connection_string.replace(
        f":{azurite_queues.queue_port}/", f":{_closed_port()}/"
    )
    monkeypatch.setenv(CONNECTION_ENV, closed)
    queue = EventQueue.for_datastore(_datastore("landing-events"))
    try:
        with pytest.raises(QueueError, match="cannot reach") as caught:
            queue.receive(32, HIDDEN)
    finally:
        queue.close()
    text = str(caught.value)
    assert "Connection refused" in text
    assert azurite_queues.account_key not in text
    assert "AccountKey" not in text


@pytest.mark.parametrize("operation", ["receive", "probe"])
def test_a_missing_queue_is_named_in_the_error(
    azurite_queues: AzuriteServer, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    monkeypatch.setenv(CONNECTION_ENV, azurite_queues.connection_string)
    missing = f"nowhere-{uuid.uuid4().hex[:12]}"
    queue = EventQueue.for_datastore(_datastore(missing))
    try:
        with pytest.raises(QueueError) as caught:
            if operation == "receive":
                queue.receive(32, HIDDEN)
            else:
                queue.probe()
    finally:
        queue.close()
    text = str(caught.value)
    assert missing in text
    assert "not found" in text
    assert azurite_queues.account_key not in text
