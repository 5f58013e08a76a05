"""How an Azure datastore (or its event queue) authenticates: Azure's default credential chain,
a SAS token or an account key, each secret read from an environment variable or a file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from triggerd.config.base import ConfigModel, SecretSource


class DefaultCredential(ConfigModel):
    """Azure's DefaultAzureCredential (managed identity, environment, Azure CLI login...)."""

    kind: Literal["default"]


class SasTokenCredential(SecretSource):
    kind: Literal["sas_token"]


class AccountKeyCredential(SecretSource):
    kind: Literal["account_key"]


Credential = Annotated[
    DefaultCredential | SasTokenCredential | AccountKeyCredential, Field(discriminator="kind")
]
