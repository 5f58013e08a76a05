"""Reading Event Grid queue messages, and routing blob events to the schedules they fire."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from triggerd.config import load_config_from_texts
from triggerd.config.models import AzureBlobDatastore
from triggerd.datastores.blob_events import BlobEvent, MalformedMessage, parse_message
from triggerd.datastores.event_queue import queue_url_of
from triggerd.datastores.filters import FileFilter
from triggerd.engine.eventroute import Watched, route
from triggerd.errors import ConfigError, QueueError

TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.Storage/storageAccounts/acct"
)


def event_grid(name: str = "incoming/a.csv", **data: Any) -> dict[str, Any]:
    """An Event Grid-schema BlobCreated event, as Microsoft documents it."""
    return {
        "topic": TOPIC,
        "subject": f"/blobServices/default/containers/landing/blobs/{name}",
        "eventType": data.pop("eventType", "Microsoft.Storage.BlobCreated"),
        "eventTime": "2026-03-29T00:59:59.9584103Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": {
            "api": "PutBlockList",
            "eTag": "0x8D4BCC2E4835CD0",
            "contentType": "text/csv",
            "contentLength": 524288,
            "blobType": "BlockBlob",
            "url": f"https://acct.blob.core.windows.net/landing/{name}",
            "sequencer": "00000000000004420000000000028963",
            **data,
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def cloud_event(name: str = "incoming/a.csv") -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema."""
    grid = event_grid(name)
    return {
        "specversion": "1.0",
        "type": grid["eventType"],
        "source": grid["topic"],
        "subject": grid["subject"],
        "id": grid["id"],
        "time": grid["eventTime"],
        "data": grid["data"],
    }


def test_an_event_grid_message_reads_as_the_blob_version_a_listing_would_see() -> None:
    (event,) = parse_message(json.dumps(event_grid()))
    assert event == BlobEvent(
        event_type="Microsoft.Storage.BlobCreated",
        container="landing",
        name="incoming/a.csv",
        account="acct",
        etag="0x8D4BCC2E4835CD0",
        size=524288,
        api="PutBlockList",
        # Seven fractional digits, as Event Grid writes them, read to the microsecond.
        event_time=datetime(2026, 3, 29, 0, 59, 59, 958410, tzinfo=UTC),
        event_id="831e1650-001e-001b-66ab-eeb76e069631",
    )


def test_a_cloud_event_reads_the_same_as_its_event_grid_twin() -> None:
    assert parse_message(json.dumps(cloud_event())) == parse_message(json.dumps(event_grid()))


@pytest.mark.parametrize("schema", [event_grid, cloud_event])
def test_a_base64_body_reads_as_the_plain_one(schema: Any) -> None:
    plain = json.dumps(schema())
    encoded = base64.b64encode(plain.encode()).decode()
    assert parse_message(encoded) == parse_message(plain)


def test_an_array_of_events_gives_each() -> None:
    events = parse_message(json.dumps([event_grid("incoming/a.csv"), event_grid("incoming/b")]))
    assert [e.name for e in events] == ["incoming/a.csv", "incoming/b"]


def test_the_subject_keeps_a_name_as_it_is_and_the_url_is_decoded_when_alone() -> None:
    (event,) = parse_message(json.dumps(event_grid("incoming/a b%41.csv")))
    assert event.name == "incoming/a b%41.csv"
    without_subject = event_grid()
    del without_subject["subject"]
    without_subject["data"]["url"] = "https://acct.blob.core.windows.net/landing/in%20x/%C3%A9.csv"
    (event,) = parse_message(json.dumps(without_subject))
    assert (event.container, event.name) == ("landing", "in x/é.csv")


def test_a_subject_without_its_leading_slash_reads_the_same() -> None:
    """As Microsoft's CloudEvents sample writes it."""
    event = cloud_event("incoming/a b.csv")
    event["subject"] = event["subject"].lstrip("/")
    event["data"]["url"] = "https://acct.blob.core.windows.net/elsewhere/x"  # not used
    (parsed,) = parse_message(json.dumps(event))
    assert (parsed.container, parsed.name) == ("landing", "incoming/a b.csv")


def test_a_quoted_etag_loses_its_quotes_as_in_a_listing() -> None:
    (event,) = parse_message(json.dumps(event_grid(eTag='"0x8D4"')))
    assert event.etag == "0x8D4"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("garbage", "neither JSON nor Base64"),
        (base64.b64encode(b"not json").decode(), "not valid JSON"),
        ("{not json", "not valid JSON"),
        ("[]", "empty JSON array"),
        ('"a string"', "neither JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({"subject": "/blobServices/default/containers/c/blobs/a"}), "no eventType"),
        (json.dumps({"specversion": "1.0", "subject": "x"}), "no type"),
        (json.dumps({"eventType": "Microsoft.Storage.BlobCreated"}), "names no blob"),
    ],
)
def test_a_message_that_is_no_event_says_why_without_its_body(body: str, why: str) -> None:
    with pytest.raises(MalformedMessage, match=why) as caught:
        parse_message(body)
    assert body not in str(caught.value) or len(body) < 3


# --- routing ----------------------------------------------------------------------------------


def watched(schedule: str = "s", prefix: str = "incoming", **options: Any) -> Watched:
    return Watched(
        schedule=schedule,
        datastore="landing",
        account=options.get("account", "acct"),
        container=options.get("container", "landing"),
        prefix=prefix,
        file_filter=FileFilter(exclude=options.get("exclude", ("*.tmp",))),
    )


def blob(name: str, **data: Any) -> BlobEvent:
    (event,) = parse_message(json.dumps(event_grid(name, **data)))
    return event


def test_a_blob_directly_in_the_folder_fires_its_schedule() -> None:
    target = watched()
    assert route(blob("incoming/a.csv"), [target]) == ([target], None)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("incoming/sub/a.csv", "subfolder"),
        ("incomingX.csv", "other_folder"),
        ("incoming2/a.csv", "other_folder"),
        ("incoming/", "other_folder"),  # the folder's marker blob
        ("other/a.csv", "other_folder"),
        ("incoming/a.tmp", "excluded"),
    ],
)
def test_what_a_listing_would_not_fire_an_event_does_not_fire(name: str, reason: str) -> None:
    assert route(blob(name), [watched()]) == ([], reason)


def test_deletions_other_event_types_and_adls_create_file_fire_nothing() -> None:
    target = [watched()]
    assert route(blob("incoming/a.csv", eventType="Microsoft.Storage.BlobDeleted"), target) == (
        [],
        "deleted",
    )
    tiered = blob("incoming/a.csv", eventType="Microsoft.Storage.BlobTierChanged")
    assert route(tiered, target) == ([], "not_created")
    created_empty = blob("incoming/a.csv", api="CreateFile", contentLength=0)
    assert route(created_empty, target) == ([], "create_file")
    # The FlushWithClose that follows is the written file; an empty PutBlob is a file too.
    assert route(blob("incoming/a.csv", api="FlushWithClose", contentLength=10), target)[0]
    assert route(blob("incoming/a.csv", api="PutBlob", contentLength=0), target)[0]


def test_other_containers_and_accounts_on_the_same_queue_fire_nothing() -> None:
    assert route(blob("incoming/a.csv"), [watched(container="raw")]) == ([], "other_container")
    assert route(blob("incoming/a.csv"), [watched(account="other")]) == ([], "other_account")
    # An account the config cannot tell offline (a connection string not set) is not checked.
    target = watched(account=None)
    assert route(blob("incoming/a.csv"), [target]) == ([target], None)


def test_one_queue_feeds_every_schedule_on_a_folder_of_the_container() -> None:
    a, b = watched("a", "incoming"), watched("b", "incoming", exclude=("*.csv",))
    top, other = watched("top", ""), watched("other", "archive")
    assert route(blob("incoming/x.csv"), [a, b, top, other]) == ([a], None)
    assert route(blob("x.csv"), [a, top]) == ([top], None)
    # The reason is the closest miss: the excluded name, not the other folder.
    assert route(blob("incoming/x.csv"), [other, b]) == ([], "excluded")


# --- the events: section ----------------------------------------------------------------------

BLOB_DATASTORE = """\
datastores:
  landing:
    kind: azure_blob
    container: landing
    account_url: https://acct.blob.core.windows.net
    events: {events}
"""


def events_problems(events: str) -> list[str]:
    try:
        load_config_from_texts({"/etc/triggerd/d.yaml": BLOB_DATASTORE.format(events=events)})
    except ConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def test_the_defaults_of_an_events_section() -> None:
    config = load_config_from_texts(
        {"/etc/triggerd/d.yaml": BLOB_DATASTORE.format(events="{queue: landing-events}")}
    )
    datastore = config.datastores["landing"]
    assert isinstance(datastore, AzureBlobDatastore) and datastore.events is not None
    events = datastore.events
    assert (events.reconcile_interval, events.visibility_timeout) == (
        timedelta(hours=1),
        timedelta(seconds=60),
    )
    assert (events.max_dequeue_count, events.batch_size) == (5, 32)
    assert events.poison_queue == "landing-events-poison"


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ("{queue: Landing}", "events.queue: must be an Azure Storage queue name"),
        ("{queue: a--b}", "events.queue: must be an Azure Storage queue name"),
        ("{queue: " + "a" * 57 + "}", "events.queue: must be an Azure Storage queue name"),
        ("{}", "events.queue: "),
        ("{queue: q-1, visibility_timeout: 0s}", "events.visibility_timeout: must be greater"),
        ("{queue: q-1, visibility_timeout: 8d}", "events.visibility_timeout: must be between"),
        ("{queue: q-1, max_dequeue_count: 0}", "events.max_dequeue_count: "),
        ("{queue: q-1, batch_size: 33}", "events.batch_size: "),
        ("{queue: q-1, reconcile_interval: soon}", "events.reconcile_interval: is not a duration"),
        ("{queue: q-1, polling: 1}", "events.polling: "),
        (
            "{queue: q-1, connection_string_env: X, account_url: 'https://a.queue.core.windows.net'}",
            "events: give at most one of connection_string_env or account_url",
        ),
        ("{queue: q-1, credential: {kind: default}}", "events.credential: credential is only"),
    ],
)
def test_a_bad_events_section_names_the_file_and_the_key(events: str, problem: str) -> None:
    (found,) = events_problems(events)
    assert found.startswith("/etc/triggerd/d.yaml:6: datastores.landing."), found
    assert problem in found, found


def test_the_queue_endpoint_is_the_blob_endpoint_of_the_account_read_as_queue() -> None:
    assert (
        queue_url_of("https://acct.blob.core.windows.net") == "https://acct.queue.core.windows.net"
    )
    assert queue_url_of("https://acct.blob.core.chinacloudapi.cn/") == (
        "https://acct.queue.core.chinacloudapi.cn/"
    )
    for emulator in ("http://127.0.0.1:10000/devstoreaccount1", "http://localhost:10000/x"):
        with pytest.raises(QueueError, match=r"give events\.account_url"):
            queue_url_of(emulator)
