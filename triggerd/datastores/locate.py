"""Where a datastore's file is for a pipeline: the run's ``BoundFile``, from the config alone.

A local file is the absolute path under the datastore's root; a blob is its URL, built the way
azure-storage-blob builds ``BlobClient.url`` (the container quoted, the name quoted with ``~``
and ``/`` kept), without the SAS or user info a configured URL may carry: the job
authenticates by itself. Nothing here lists, connects or reads a credential, so a replica that
never polled a datastore binds its files as cheaply as the one that did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.redact import without_userinfo
from triggerd.runs import BoundFile, DataPath


@dataclass(frozen=True)
class Locator:
    """Binds the files of one datastore: ``base`` is a folder, or a container's URL."""

    datastore: str
    base: str
    local: bool
    azureml_datastore: str | None = None

    def bind(self, relative_path: str) -> BoundFile:
        """The file ``relative_path`` (relative to the datastore root) as a pipeline reaches it.

        Raises ValueError for a path that leaves the datastore.
        """
        parts = relative_path.split("/")
        if ".." in parts or relative_path.startswith("/") or not relative_path:
            raise ValueError(f"{relative_path!r} is not a path inside the datastore")
        if self.local:
            path = Path(self.base).joinpath(*parts)
            return BoundFile(self.datastore, relative_path, str(path), path.as_uri())
        url = f"{self.base}/{quote(relative_path, safe='~/')}"
        return BoundFile(self.datastore, relative_path, url, url, self.azureml_datastore)

    def bind_path(self, data_path: DataPath) -> BoundFile:
        return self.bind(data_path.relative_path)


def locator(name: str, datastore: LocalDatastore | AzureBlobDatastore) -> Locator:
    """The locator of the datastore ``name``. Raises ListingError when the connection string
    it is configured with is missing or malformed (its message names the variable, never a
    value)."""
    if isinstance(datastore, LocalDatastore):
        return Locator(name, str(Path(datastore.path).absolute()), local=True)
    from triggerd.datastores.azure_blob import account_url_of  # the Azure SDK, when needed

    account = account_url_of(datastore).split("?", 1)[0].split("#", 1)[0].rstrip("/")
    container = quote(datastore.container.encode("utf-8"))
    base = f"{without_userinfo(account)}/{container}"
    return Locator(name, base, local=False, azureml_datastore=datastore.azureml_datastore)
