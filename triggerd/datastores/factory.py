"""The lister a datastore needs: local folder or Azure Blob container."""

from __future__ import annotations

from triggerd.config.models import AzureBlobDatastore, LocalDatastore
from triggerd.datastores.filters import FileFilter
from triggerd.datastores.listers import Lister


def build_lister(
    datastore: LocalDatastore | AzureBlobDatastore,
    path_on_datastore: str | None,
    file_filter: FileFilter,
) -> Lister:
    """The lister for ``datastore``'s folder ``path_on_datastore``.

    Raises ListingError when an Azure credential cannot be read (missing variable or file).
    """
    # Imported here: the Azure SDK is only loaded when a blob datastore is configured.
    if isinstance(datastore, LocalDatastore):
        from triggerd.datastores.local import LocalLister

        return LocalLister(datastore.path, path_on_datastore, file_filter)

    from triggerd.datastores import azure_blob

    container = azure_blob.container_client(datastore)
    try:
        return azure_blob.AzureBlobLister(container, path_on_datastore, file_filter)
    except BaseException:
        azure_blob.close_container(container)
        raise
