"""The ``events:`` section of an ``azure_blob`` datastore: an Azure Storage queue that Event Grid
fills with the container's blob events, and how triggerd consumes it.

The queue's account defaults to the datastore's own (its connection string, or its account URL
with ``.blob.`` read as ``.queue.``, and its credential); ``connection_string_env`` or
``account_url`` (+ ``credential``) name another. ``reconcile_interval`` is how often the ordinary
listing still runs, so that an event lost or never sent fires late rather than never.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, PlainValidator, field_validator, model_validator

from triggerd.config.base import ConfigModel
from triggerd.config.credentials import Credential
from triggerd.config.durations import parse_duration
from triggerd.config.problems import Invalid

# Azure Storage queue names: 3-63 lowercase letters, digits and single hyphens, starting and
# ending with a letter or digit. The poison queue is "<queue>-poison", so 56 characters at most.
_QUEUE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,55}")
POISON_SUFFIX = "-poison"
MAX_BATCH = 32  # the most messages one Get Messages call returns


def _seconds(value: Any) -> timedelta:
    return parse_duration(value, unit="s")


Duration = Annotated[timedelta, PlainValidator(_seconds)]


class BlobEvents(ConfigModel):
    """Event Grid blob events delivered to an Azure Storage queue."""

    queue: str
    connection_string_env: str | None = None
    account_url: str | None = None
    credential: Credential | None = None
    reconcile_interval: Duration = timedelta(hours=1)
    # How long a received message stays invisible to other consumers while its fires are
    # recorded; a crash makes it visible again after this long.
    visibility_timeout: Duration = timedelta(seconds=60)
    # Deliveries after which a message goes to "<queue>-poison" (Azure Functions: 5).
    max_dequeue_count: Annotated[int, Field(ge=1, le=1000)] = 5
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] = MAX_BATCH

    @field_validator("queue")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        if not _QUEUE.fullmatch(value):
            raise Invalid(
                "must be an Azure Storage queue name: 3 to 56 lowercase letters, digits and "
                "single hyphens, starting and ending with a letter or digit (56, not 63: the "
                f"poison queue is <queue>{POISON_SUFFIX})"
            )
        return value

    @field_validator("visibility_timeout")
    @classmethod
    def _visibility(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(days=7):
            raise Invalid("must be between 1s and 7d (what Azure Storage queues allow)")
        return value

    @model_validator(mode="after")
    def _at_most_one_way_in(self) -> BlobEvents:
        if self.connection_string_env is not None and self.account_url is not None:
            raise Invalid(
                "give at most one of connection_string_env or account_url (neither: the "
                "datastore's own account)"
            )
        if self.credential is not None and self.account_url is None:
            raise Invalid(
                "credential is only used with account_url (a connection string carries its own)",
                "credential",
            )
        return self

    @property
    def poison_queue(self) -> str:
        return f"{self.queue}{POISON_SUFFIX}"
