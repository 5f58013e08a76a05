"""One non-recursive listing of a blob folder, page by page, keeping only what a poll needs.

``ContainerClient.walk_blobs`` turns every ``<Blob>`` of a page into a generated model, then
into a ``BlobProperties`` (dozens of attributes, dates parsed, enums looked up): most of the
client's CPU of a listing. Here the request is the very one ``walk_blobs`` sends, through the
container client's own pipeline (credential and signing, retries, timeouts, ``x-ms-version``,
transport): the client's generated ``list_blob_hierarchy_segment`` operation, with the
``prefix``, ``delimiter``, ``marker`` and ``maxresults`` the service defines (at most 5,000
items a page, each page's ``NextMarker`` asks for the next, an empty one ends the listing).
Only the step that builds models is skipped, as the SDK itself does for ``list_blob_names``:
the pipeline's ``ContentDecodePolicy`` has already parsed the body with the C ``ElementTree``,
and this module reads name, size, ETag and last-modified from that tree.

What the service sends is read as the SDK reads it: a ``<Name Encoded="true">`` (a name that
holds a character XML 1.0 cannot carry) is percent-decoded, ``<BlobPrefix>`` entries are the
sub-folders, a page may be empty and still carry a ``NextMarker``, and an error is raised as
the SDK raises it (``ResourceNotFoundError`` for a missing container, the storage error code
set), so a caller maps errors exactly as it did for ``walk_blobs``.

The SDK's private parts are used in :func:`_raw_operation` and :func:`_raise_storage_error`
only; tests/contract/test_blob_pages.py fails if they change shape. Should a future SDK lack
them, :class:`FolderPages` lists through ``walk_blobs`` instead (slower, same results) and logs
a warning when it is made.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from typing import Any, NamedTuple, NoReturn
from urllib.parse import unquote
from xml.etree.ElementTree import Element

import azure.storage.blob
from azure.core.exceptions import DecodeError, HttpResponseError
from azure.core.pipeline.policies import ContentDecodePolicy
from azure.storage.blob import BlobPrefix, ContainerClient

from triggerd.observability.logging import get_logger

__all__ = ["BlobRecord", "FolderPage", "FolderPages"]

_LISTING_MODEL = "ListBlobsHierarchySegmentResponse"  # what the operation would build
_OPERATION_PARAMETERS = {"delimiter", "prefix", "marker", "maxresults", "kwargs"}  # cls: kwargs


class BlobRecord(NamedTuple):
    """One blob of a page, as the service sent it (a tuple: cheap to build 5,000 at a time)."""

    name: str
    size: int
    etag: str
    last_modified: str
    """RFC 1123 (``Tue, 01 Dec 2026 18:19:39 GMT``): ``email.utils.parsedate_to_datetime``."""


class FolderPage(NamedTuple):
    blobs: list[BlobRecord]
    prefixes: list[str]
    """The sub-folders on this page, with the trailing delimiter (``incoming/sub/``)."""
    next_marker: str
    """The service's continuation marker; ``""`` on the last page."""


class FolderPages:
    """Lists the blobs and sub-folders directly under a prefix of one container, by page."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container
        self._operation = _raw_operation(container)
        if self._operation is None:
            get_logger(component="datastore").warning(
                "blob_listing.sdk_fallback",
                version=getattr(azure.storage.blob, "__version__", "unknown"),
                reason="azure-storage-blob changed shape; listing through walk_blobs (slower)",
            )

    @property
    def reads_xml(self) -> bool:
        """True when pages are read from the XML tree (False: the ``walk_blobs`` fallback)."""
        return self._operation is not None

    def __call__(
        self, prefix: str | None, *, delimiter: str = "/", page_size: int | None = None
    ) -> Iterator[FolderPage]:
        """Every page of the listing of ``prefix`` (``None``: the container's root), in order.

        ``page_size``: ``maxresults`` (None: the service's own, 5,000). Raises what the SDK
        raises (``AzureError``), with the storage error code set."""
        if self._operation is None:
            yield from _walk_pages(self.container, prefix, delimiter, page_size)
            return
        marker: str | None = None
        location: str | None = None  # a listing stays on the location that answered page 1
        while True:
            try:
                location, root = self._operation(
                    delimiter=delimiter,
                    prefix=prefix,
                    marker=marker,
                    maxresults=page_size,
                    use_location=location,
                )
            except _NotXML:
                raise  # no storage error to read from the body
            except HttpResponseError as error:
                _raise_storage_error(error)
            page = parse_page(root)
            yield page
            if not page.next_marker:
                return
            marker = page.next_marker


def parse_page(root: Element) -> FolderPage:
    """One ``<EnumerationResults>`` of List Blobs as a page: only what a poll needs is read.
    Raises ``DecodeError`` (an ``AzureError``) for an item the service never sends."""
    blobs: list[BlobRecord] = []
    prefixes: list[str] = []
    items = root.find("Blobs")
    for item in () if items is None else items:
        name_element = item.find("Name")
        if name_element is None:
            raise DecodeError(f"unexpected List Blobs response: a <{item.tag}> without <Name>")
        name = name_element.text or ""
        if name_element.get("Encoded", "").lower() in ("true", "1"):
            name = unquote(name)
        if item.tag == "BlobPrefix":
            prefixes.append(name)
        elif item.tag == "Blob":
            properties = item.find("Properties")
            size = None if properties is None else properties.findtext("Content-Length")
            if properties is None or size is None or not size.isdecimal():
                raise DecodeError(f"unexpected List Blobs response: no size for blob {name!r}")
            blobs.append(
                BlobRecord(
                    name,
                    int(size),
                    properties.findtext("Etag") or "",
                    properties.findtext("Last-Modified") or "",
                )
            )
    return FolderPage(blobs, prefixes, root.findtext("NextMarker") or "")


# --- the SDK's private parts, in one place -------------------------------------------------------


class _WithoutListingModel:
    """The operation's own deserializer, except that it builds no listing model (``None``): the
    caller reads the tree instead. Headers and errors are deserialized as before."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, target: Any, data: Any, content_type: Any = None) -> Any:
        if target == _LISTING_MODEL:
            return None
        return self._inner(target, data, content_type)

    def __getattr__(self, name: str) -> Any:  # failsafe_deserialize (errors), ...
        return getattr(self._inner, name)


class _NotXML(DecodeError):
    """A 200 whose body the pipeline did not parse as XML (another content type)."""


def _tree(pipeline_response: Any, _deserialized: Any, _headers: Any) -> tuple[str | None, Element]:
    """The operation's ``cls``: the location that answered and the body's parsed XML tree."""
    root = pipeline_response.context.get(ContentDecodePolicy.CONTEXT_NAME)
    if not isinstance(root, Element):
        raise _NotXML("the List Blobs response is not XML")
    return getattr(pipeline_response.http_response, "location_mode", None), root


def _raw_operation(container: ContainerClient) -> Callable[..., tuple[str | None, Element]] | None:
    """``list_blob_hierarchy_segment`` of a generated client on ``container``'s own pipeline
    (``_build_generated_client``: how the SDK makes one for ``list_blob_names``), without the
    listing model. Private SDK parts (azure-storage-blob 12.x); None if they are not there."""
    client: Any = container
    try:
        operations = client._build_generated_client().container
        operation = operations.list_blob_hierarchy_segment
        if not _OPERATION_PARAMETERS.issubset(inspect.signature(operation).parameters):
            return None
        operations._deserialize = _WithoutListingModel(operations._deserialize)
    except (AttributeError, TypeError, ValueError):
        return None
    return functools.partial(operation, cls=_tree)


def _raise_storage_error(error: HttpResponseError) -> NoReturn:
    """Raise ``error`` as ``walk_blobs`` would: the SDK's storage error (``error_code`` set,
    ``ResourceNotFoundError`` for ``ContainerNotFound``...), or ``error`` itself."""
    try:
        from azure.storage.blob._shared.response_handlers import process_storage_error
    except ImportError:
        raise error from None
    process_storage_error(error)
    raise error  # process_storage_error always raises


def _walk_pages(
    container: ContainerClient, prefix: str | None, delimiter: str, page_size: int | None
) -> Iterator[FolderPage]:
    """The fallback: the same pages through ``walk_blobs`` (models built, then read)."""
    pager = container.walk_blobs(prefix, delimiter=delimiter, results_per_page=page_size)
    pages: Any = pager.by_page()  # an azure.core PageIterator: continuation_token
    for items in pages:
        blobs: list[BlobRecord] = []
        prefixes: list[str] = []
        for item in items:
            if isinstance(item, BlobPrefix):
                prefixes.append(item.name)
            else:
                modified = format_datetime(item.last_modified, usegmt=True)
                blobs.append(BlobRecord(item.name, item.size, item.etag, modified))
        yield FolderPage(blobs, prefixes, pages.continuation_token or "")
