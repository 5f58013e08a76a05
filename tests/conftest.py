"""Shared fixtures: stores on SQLite and a real PostgreSQL server; Azurite and containers."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from tests.support import azurite as azurite_support
from tests.support import postgres
from tests.support.azurite import AzuriteServer
from triggerd.store import Store, open_store

_db_names = itertools.count()
_containers = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PostgresServer]:
    reason = postgres.available()
    if reason:
        pytest.skip(reason)
    server = postgres.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triggerd.db'}"
    server: postgres.PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"t{next(_db_names)}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture(scope="session", name="azurite")
def azurite_fixture() -> Iterator[AzuriteServer]:
    """Azurite (its blob and queue services) on free 127.0.0.1 ports for the whole session;
    fails (never skips) if absent."""
    problem = azurite_support.missing(queues=True)
    if problem:
        pytest.fail(problem, pytrace=False)
    server = azurite_support.start(queues=True)
    yield server
    server.stop()


@pytest.fixture
def azurite_queues(azurite: AzuriteServer) -> AzuriteServer:
    """The session's Azurite, named for tests of its queue service."""
    return azurite


@pytest.fixture
def blob_container(azurite: AzuriteServer) -> Iterator[ContainerClient]:
    """A fresh, empty, uniquely named container; deleted after the test."""
    name = f"t{next(_containers)}-{uuid.uuid4().hex[:12]}"
    with ContainerClient.from_connection_string(azurite.connection_string, name) as container:
        container.create_container()
        yield container
        container.delete_container()
