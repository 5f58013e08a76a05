"""Fixtures for contract tests against real parts: an Azurite blob service and containers."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import ContainerClient

from tests.support import azurite as azurite_support
from tests.support.azurite import AzuriteServer

_containers = itertools.count()


@pytest.fixture(scope="session", name="azurite")
def azurite_fixture() -> Iterator[AzuriteServer]:
    """Azurite on a free 127.0.0.1 port for the whole session; fails (never skips) if absent."""
    problem = azurite_support.missing()
    if problem:
        pytest.fail(problem, pytrace=False)
    server = azurite_support.start()
    yield server
    server.stop()


@pytest.fixture
def blob_container(azurite: AzuriteServer) -> Iterator[ContainerClient]:
    """A fresh, empty, uniquely named container; deleted after the test."""
    name = f"t{next(_containers)}-{uuid.uuid4().hex[:12]}"
    with ContainerClient.from_connection_string(azurite.connection_string, name) as container:
        container.create_container()
        yield container
        container.delete_container()
